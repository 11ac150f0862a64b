"""Handheld rig motions: scripted tabletop tasks and replays of recorded ground truth.

A ``Motion`` is the true ``T_world_imu(t)`` of a virtual rig (world z up, table top at
z = 0) with its analytic derivatives, plus the gripper width and the task episodes the
operator performed. Position is a quintic spline and orientation a
``scipy`` ``RotationSpline`` through 100 Hz knots, so the IMU synthesised from the
derivatives is exactly consistent with the poses. Sim time ``t_s`` runs from 0 to
``duration_s``; queries outside are clamped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import make_interp_spline, make_lsq_spline
from scipy.spatial.transform import Rotation, RotationSpline

from democap import geometry
from democap.errors import ImportFormatError
from devices.sim import body

MotionKind = Literal["pick_place", "pour", "wipe", "mixed", "gripper_clip", "screen_clip"]
#: Calibration clips: ``gripper_clip`` closes and opens the gripper fully a few times over the
#: table (the min/max clip of gripper calibration); ``screen_clip`` holds the rig facing the
#: clock monitor (``SimRigConfig.screen``) for latency calibration.
CLIP_KINDS: tuple[str, ...] = ("gripper_clip", "screen_clip")
MOTION_KINDS: tuple[str, ...] = ("pick_place", "pour", "wipe", "mixed", *CLIP_KINDS)
KNOT_RATE_HZ = 100.0
STILL_S = 1.0  # nearly still at the start: lets a VIO initialise its gravity and biases


@dataclass(frozen=True)
class TaskSpan:
    """One demonstration inside a motion: ``[t0_s, t1_s)`` in sim time."""

    t0_s: float
    t1_s: float
    task: str


class Motion:
    """The true motion of the rig's IMU frame.

    Built from knots: t_knots_s (K,), p_world_imu (K, 3), R_world_imu (K, 3, 3),
    gripper_width_m (K,). Use ``scripted_motion`` or ``replay_motion`` rather than this.
    """

    def __init__(
        self,
        t_knots_s: NDArray[np.float64],
        p_world_imu: NDArray[np.float64],
        R_world_imu: NDArray[np.float64],
        gripper_width_m: NDArray[np.float64],
        episodes: Sequence[TaskSpan] = (),
        name: str = "",
    ) -> None:
        t = np.asarray(t_knots_s, dtype=np.float64)
        if len(t) < 6 or np.any(np.diff(t) <= 0):
            raise ValueError("a motion needs at least 6 increasing knot times")
        self.t0_s = float(t[0])
        self.t1_s = float(t[-1])
        self._pos = make_interp_spline(t, np.asarray(p_world_imu, dtype=np.float64), k=5)
        self._rot = RotationSpline(t, Rotation.from_matrix(np.asarray(R_world_imu, dtype=np.float64)))
        self._t_knots = t
        self._width = np.asarray(gripper_width_m, dtype=np.float64)
        self.episodes: tuple[TaskSpan, ...] = tuple(episodes)
        self.name = name

    @property
    def duration_s(self) -> float:
        return self.t1_s - self.t0_s

    def _t(self, t_s: ArrayLike) -> NDArray[np.float64]:
        return np.clip(np.atleast_1d(np.asarray(t_s, dtype=np.float64)), self.t0_s, self.t1_s)

    def position(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """IMU origin in the world (N, 3), metres."""
        return np.asarray(self._pos(self._t(t_s)))

    def velocity(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """IMU velocity in the world frame (N, 3), m/s."""
        return np.asarray(self._pos(self._t(t_s), 1))

    def accel_world(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """Kinematic acceleration of the IMU origin in the world frame (N, 3), m/s^2 (no gravity)."""
        return np.asarray(self._pos(self._t(t_s), 2))

    def rotation(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """R_world_imu (N, 3, 3)."""
        return self._rot(self._t(t_s)).as_matrix().reshape(-1, 3, 3)

    def angular_velocity_body(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """Angular velocity of the IMU frame in the IMU frame (N, 3), rad/s."""
        return np.asarray(self._rot(self._t(t_s), 1)).reshape(-1, 3)

    def pose(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """T_world_imu (N, 4, 4)."""
        return geometry.se3(self.rotation(t_s), self.position(t_s))

    def specific_force_body(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """What an ideal accelerometer at the IMU origin reads (N, 3): R^T (a - g), m/s^2."""
        R = self.rotation(t_s)
        return np.einsum("nji,nj->ni", R, self.accel_world(t_s) - body.GRAVITY_WORLD)

    def gripper_width(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """True finger opening (N,), metres."""
        return np.interp(self._t(t_s), self._t_knots, self._width)

    def cropped(self, start_s: float) -> Motion:
        """The same motion from ``start_s`` on, its time restarting at 0 (a recording started mid-move).

        Re-knotted at 100 Hz: its poses match this motion's to well below a micrometre, and its
        IMU is synthesised from its own derivatives, so it stays consistent.
        """
        if not 0.0 <= start_s < self.t1_s - 1.0:
            raise ValueError(f"start {start_s} s leaves less than 1 s of the {self.duration_s:.1f} s motion")
        t = np.arange(self.t0_s + start_s, self.t1_s + 1e-9, 1.0 / KNOT_RATE_HZ)
        episodes = [TaskSpan(max(e.t0_s - t[0], 0.0), e.t1_s - t[0], e.task) for e in self.episodes if e.t1_s > t[0]]
        return Motion(t - t[0], self.position(t), self.rotation(t), self.gripper_width(t), episodes,
                      f"{self.name}-from{start_s:g}s")  # fmt: skip


# ------------------------------------------------------------------ scripted tasks

HOME_TCP = np.array([0.38, 0.0, 0.30])
HOME_YPR = np.array([0.0, np.radians(50.0), 0.0])
OPEN_M = 0.08

# A keyframe: (duration to reach it [s], tcp xyz [m], yaw, pitch, roll [rad], width [m]).
_Key = tuple[float, NDArray[np.float64], float, float, float, float]


def _minjerk(u: NDArray[np.float64]) -> NDArray[np.float64]:
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


def _key(dt: float, xyz: ArrayLike, yaw_deg: float, pitch_deg: float, roll_deg: float, width: float) -> _Key:
    return (
        dt,
        np.asarray(xyz, dtype=np.float64),
        np.radians(yaw_deg),
        np.radians(pitch_deg),
        np.radians(roll_deg),
        width,
    )


def _grasp_keys(rng: np.random.Generator, at: NDArray[np.float64], yaw: float, close_to: float) -> list[_Key]:
    """Approach, descend, close on an object at ``at`` (table xy) and lift."""
    above = np.array([at[0], at[1], 0.12])
    down = np.array([at[0], at[1], 0.035])
    lift = np.array([at[0], at[1], 0.24 + rng.uniform(-0.03, 0.03)])
    return [
        _key(rng.uniform(0.9, 1.2), above, yaw, 60, rng.uniform(-5, 5), OPEN_M),
        _key(rng.uniform(0.7, 0.9), down, yaw, 62, 0, OPEN_M),
        _key(0.25, down, yaw, 62, 0, OPEN_M),
        _key(0.45, down, yaw, 62, 0, close_to),
        _key(rng.uniform(0.7, 0.9), lift, yaw * 0.5, 48, 0, close_to),
    ]


def _release_keys(rng: np.random.Generator, at: NDArray[np.float64], yaw: float, width: float) -> list[_Key]:
    above = np.array([at[0], at[1], 0.16])
    down = np.array([at[0], at[1], 0.04])
    return [
        _key(rng.uniform(1.0, 1.3), above, yaw, 55, rng.uniform(-12, 12), width),
        _key(rng.uniform(0.7, 0.9), down, yaw, 60, 0, width),
        _key(0.4, down, yaw, 60, 0, OPEN_M),
        _key(rng.uniform(0.6, 0.8), above + [0, 0, 0.05], yaw, 52, 0, OPEN_M),
    ]


def _task_keys(kind: str, rng: np.random.Generator) -> list[_Key]:
    a = np.array([rng.uniform(0.48, 0.58), rng.uniform(-0.20, -0.10)])
    b = np.array([rng.uniform(0.50, 0.62), rng.uniform(0.10, 0.22)])
    yaw_a = float(np.degrees(np.arctan2(a[1], a[0] - 0.1))) * 0.6
    yaw_b = float(np.degrees(np.arctan2(b[1], b[0] - 0.1))) * 0.6
    if kind == "pick_place":
        keys = _grasp_keys(rng, a, yaw_a, 0.035) + _release_keys(rng, b, yaw_b, 0.035)
    elif kind == "pour":
        cup_w = 0.06
        over = np.array([b[0] - 0.02, b[1] - 0.06, 0.24])
        pour = rng.uniform(95, 115)
        keys = _grasp_keys(rng, a, yaw_a, cup_w)
        keys += [
            _key(rng.uniform(1.1, 1.4), over, yaw_b, 45, 0, cup_w),
            _key(rng.uniform(1.3, 1.7), over + [0, 0.02, 0.01], yaw_b, 42, -pour, cup_w),
            _key(0.6, over + [0, 0.025, 0.0], yaw_b, 43, -pour - 8, cup_w),
            _key(0.5, over + [0, 0.02, 0.01], yaw_b, 42, -pour + 4, cup_w),
            _key(rng.uniform(1.1, 1.4), over, yaw_b, 45, 0, cup_w),
        ]
        keys += _release_keys(rng, a, yaw_a, cup_w)
    elif kind == "wipe":
        sponge_w = 0.05
        keys = _grasp_keys(rng, a, yaw_a, sponge_w)
        x0, y0 = rng.uniform(0.50, 0.58), rng.uniform(-0.05, 0.05)
        keys.append(_key(1.0, [x0, y0 - 0.10, 0.025], 0, 63, 0, sponge_w))
        for i in range(int(rng.integers(5, 8))):
            side = 1.0 if i % 2 == 0 else -1.0
            keys.append(
                _key(
                    rng.uniform(0.5, 0.65),
                    [x0 + 0.025 * i, y0 + side * 0.10, 0.02 + 0.004 * (i % 2)],
                    side * rng.uniform(5, 10),
                    63 + rng.uniform(-3, 3),
                    side * 4,
                    sponge_w,
                )
            )
        keys.append(_key(0.8, [x0 + 0.1, y0, 0.15], 0, 50, 0, sponge_w))
        keys += _release_keys(rng, a, yaw_a, sponge_w)
    else:
        raise ValueError(f"unknown task {kind!r}; expected one of {MOTION_KINDS[:-1]}")
    home = _key(rng.uniform(1.0, 1.3), HOME_TCP + rng.uniform(-0.02, 0.02, 3), 0, 50, 0, OPEN_M)
    return keys + [home]


def _tremor(
    rng: np.random.Generator,
    t: NDArray[np.float64],
    dims: int,
    amps: Sequence[float],
    freqs: Sequence[tuple[float, float]],
) -> NDArray[np.float64]:
    """Smooth hand sway and tremor: sums of sinusoids with random phases, (N, dims)."""
    out = np.zeros((len(t), dims))
    for amp, (f_lo, f_hi) in zip(amps, freqs, strict=True):
        f = rng.uniform(f_lo, f_hi, dims)
        ph = rng.uniform(0, 2 * np.pi, dims)
        out += amp * np.sin(2 * np.pi * f * t[:, None] + ph)
    return out


def _motion_from_tcp(
    t: NDArray[np.float64],
    p_world_tcp: NDArray[np.float64],
    R_world_cam: NDArray[np.float64],
    width: NDArray[np.float64],
    episodes: Sequence[TaskSpan],
    name: str,
    T_imu_cam: NDArray[np.float64],
    T_cam_tcp: NDArray[np.float64],
) -> Motion:
    T_world_cam = geometry.se3(R_world_cam, p_world_tcp - np.einsum("nij,j->ni", R_world_cam, T_cam_tcp[:3, 3]))
    T_world_imu = T_world_cam @ geometry.se3_inverse(T_imu_cam)
    return Motion(t, T_world_imu[:, :3, 3], T_world_imu[:, :3, :3], width, episodes, name)


def _task_schedule(
    kind: str, seconds: float, rng: np.random.Generator
) -> tuple[list[float], list[_Key], list[TaskSpan]]:
    """Key times, keys and episodes of repeated tasks after the still start."""
    order = ["pick_place", "pour", "wipe"]
    if kind == "mixed":
        rng.shuffle(order)
    home_key = _key(0.0, HOME_TCP, 0, 50, 0, OPEN_M)
    times = [0.0, STILL_S]
    keys: list[_Key] = [home_key, (STILL_S,) + home_key[1:]]
    episodes: list[TaskSpan] = []
    i = 0
    t_now = STILL_S
    while True:
        task = order[i % 3] if kind == "mixed" else kind
        task_keys = _task_keys(task, rng)
        duration = sum(k[0] for k in task_keys)
        available = seconds - 0.5 - t_now
        speedup = 1.0
        if duration > available:
            if episodes:
                break
            speedup = min(duration / max(available, 1e-6), 1.6)  # too short for one task: hurry, then cut
        t_start = t_now
        for k in task_keys:
            t_now += k[0] / speedup
            times.append(t_now)
            keys.append(k)
        episodes.append(TaskSpan(t_start, min(t_now, seconds - 0.2), task))
        i += 1
        rest = 0.8 + rng.uniform(0.0, 0.6)
        if t_now + rest >= seconds:
            break
        t_now += rest
        times.append(t_now)
        keys.append((rest,) + keys[-1][1:])
    if times[-1] < seconds:
        times.append(seconds + 0.5)
        keys.append(keys[-1])
    return times, keys, episodes


def _clip_schedule(
    kind: str, seconds: float, rng: np.random.Generator
) -> tuple[list[float], list[_Key], list[TaskSpan]]:
    """Key times, keys and the one episode of a calibration clip (``CLIP_KINDS``)."""
    if kind == "gripper_clip":  # over the table, closing fully and opening fully
        home = _key(0.0, HOME_TCP, 0, 50, 0, body.GRIPPER_MAX_WIDTH_M)
        widths: tuple[float, ...] = (body.GRIPPER_MIN_WIDTH_M, body.GRIPPER_MAX_WIDTH_M)
        step, hold = 0.9, 0.4
    else:  # facing the clock monitor from ~0.34 m
        home = _key(0.0, [0.82, 0.0, 0.13], 0, 0, 0, OPEN_M)
        widths = (OPEN_M,)
        step, hold = 1.4, 0.0
    times = [0.0, STILL_S]
    keys: list[_Key] = [home, (STILL_S,) + home[1:]]
    t_now, i = STILL_S, 0
    while t_now + step + hold < seconds:
        wander = home[1] + rng.uniform(-0.015, 0.015, 3)
        yaw, pitch = np.degrees(home[2]) + rng.uniform(-5, 5), np.degrees(home[3]) + rng.uniform(-4, 4)
        key = _key(step, wander, yaw, pitch, rng.uniform(-4, 4), widths[i % len(widths)])
        t_now += step
        times.append(t_now)
        keys.append(key)
        if hold > 0:
            t_now += hold
            times.append(t_now)
            keys.append((hold,) + key[1:])
        i += 1
    times.append(seconds + 0.5)
    keys.append(keys[-1])
    return times, keys, [TaskSpan(STILL_S, seconds - 0.2, kind)]


def scripted_motion(
    kind: MotionKind = "mixed",
    seconds: float = 20.0,
    seed: int = 0,
    T_imu_cam: NDArray[np.float64] = body.T_IMU_CAM0,
    T_cam_tcp: NDArray[np.float64] = body.T_CAM0_TCP,
) -> Motion:
    """A handheld tabletop demonstration of ``seconds``: about 1 s nearly still, then tasks.

    ``pick_place``, ``pour`` and ``wipe`` repeat their task; ``mixed`` cycles through all
    three in a seeded order. Each task is one episode, from leaving the rest pose to
    returning to it. Segments follow minimum-jerk profiles (peak speeds ~0.3-0.7 m/s,
    accelerations ~1-4 m/s^2, wrist roll up to ~110 degrees when pouring) with hand sway
    and tremor on top. Same arguments, same motion. The calibration clips (``CLIP_KINDS``)
    are one episode of small wandering moves around a fixed view instead.
    """
    if kind not in MOTION_KINDS:
        raise ValueError(f"unknown motion {kind!r}; expected one of {', '.join(MOTION_KINDS)}")
    if seconds < 2.0:
        raise ValueError(f"a scripted motion needs at least 2 s, got {seconds}")
    rng = np.random.default_rng([seed, 7001])
    if kind in CLIP_KINDS:
        times, keys, episodes = _clip_schedule(kind, seconds, rng)
    else:
        times, keys, episodes = _task_schedule(kind, seconds, rng)

    t = np.arange(0.0, seconds + 1e-9, 1.0 / KNOT_RATE_HZ)
    key_t = np.asarray(times)
    vals = np.array([np.concatenate([k[1], [k[2], k[3], k[4], k[5]]]) for k in keys])
    j = np.clip(np.searchsorted(key_t, t, side="right"), 1, len(key_t) - 1)
    u = _minjerk((t - key_t[j - 1]) / (key_t[j] - key_t[j - 1]))[:, None]
    x = vals[j - 1] + (vals[j] - vals[j - 1]) * u

    # Hand sway and tremor, faded in after the still start so VIO sees a quiet first second.
    fade = 0.15 + 0.85 * _minjerk((t - STILL_S * 0.8) / 0.6)[:, None]
    x[:, :3] += fade * _tremor(rng, t, 3, [0.004, 0.0012, 0.0003], [(0.2, 0.5), (1.0, 2.5), (6.0, 9.0)])
    x[:, 3:6] += fade * _tremor(rng, t, 3, [np.radians(1.5), np.radians(0.4)], [(0.2, 0.5), (1.5, 3.0)])
    x[:, 2] = np.maximum(x[:, 2], 0.015)  # fingertips never go through the table
    R_world_cam = body.camera_look_rotation(x[:, 3], x[:, 4], x[:, 5])
    width = np.clip(x[:, 6], body.GRIPPER_MIN_WIDTH_M, body.GRIPPER_MAX_WIDTH_M)
    return _motion_from_tcp(t, x[:, :3], R_world_cam, width, episodes, f"{kind}-seed{seed}", T_imu_cam, T_cam_tcp)


# ---------------------------------------------------------------------- replays


def _read_groundtruth(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(t_s (N,), p (N, 3), R (N, 3, 3)) of a TUM file or an EuRoC ground-truth CSV."""
    if path.suffix.lower() == ".csv":
        from democap.formats.euroc import read_groundtruth_csv

        gt = read_groundtruth_csv(path)
        t_ns, p, R = gt.t_ns, gt.p_world_body, geometry.quat_wxyz_to_matrix(gt.q_world_body_wxyz)
    else:
        from democap.formats.tum import read_tum

        tum = read_tum(path)
        t_ns, p, R = tum.t_ns, tum.p_world_body, tum.T_world_body()[:, :3, :3]
    if len(t_ns) < 20:
        raise ImportFormatError(f"ground truth has {len(t_ns)} poses; a replay needs at least 20", path)
    return (t_ns - t_ns[0]).astype(np.float64) * 1e-9, p, R


def gap_free_spans(t_s: NDArray[np.float64], max_gap_s: float | None = None) -> list[tuple[int, int]]:
    """Index ranges [i0, i1) of runs without gaps (a gap: a step over max_gap_s, default 3x the median step)."""
    dt = np.diff(t_s)
    limit = max_gap_s if max_gap_s is not None else 3.0 * float(np.median(dt))
    cuts = np.flatnonzero(dt > limit) + 1
    bounds = np.concatenate([[0], cuts, [len(t_s)]])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def replay_motion(
    path: str | Path,
    tabletop: bool = True,
    seconds: float | None = None,
    T_filebody_cam: NDArray[np.float64] | None = None,
    still_s: float = STILL_S,
    max_extent_m: float = 0.25,
    T_imu_cam: NDArray[np.float64] = body.T_IMU_CAM0,
    T_cam_tcp: NDArray[np.float64] = body.T_CAM0_TCP,
) -> Motion:
    """Follow a recorded ground-truth trajectory (TUM ``.txt`` or EuRoC ``data.csv``).

    The longest run without gaps is fitted with a least-squares quintic spline (knots
    every 50 ms: smooths mocap noise before it is differentiated into IMU readings).
    ``T_filebody_cam`` places our camera in the file's body frame (identity: the file
    tracks a camera, as TUM RGB-D does). With ``tabletop`` the motion relative to its
    first pose is moved to the tabletop rest pose and shrunk to at most ``max_extent_m``
    from it; otherwise the file's world frame is kept. The first ``still_s`` seconds
    hold the first pose and ease into the recorded speed. Sim time 0 is the span start.
    """
    path = Path(path)
    t_all, p_all, R_all = _read_groundtruth(path)
    i0, i1 = max(gap_free_spans(t_all), key=lambda s: s[1] - s[0])
    t, p, R = t_all[i0:i1] - t_all[i0], p_all[i0:i1], R_all[i0:i1]
    if seconds is not None:
        keep = t <= seconds - still_s + 1e-9
        t, p, R = t[keep], p[keep], R[keep]
    if t[-1] < 0.5:
        raise ImportFormatError(f"longest gap-free span is only {t[-1]:.2f} s long", path)
    T_cam = np.eye(4) if T_filebody_cam is None else np.asarray(T_filebody_cam, dtype=np.float64)

    # Least-squares smoothing spline of positions; orientations SLERP-sampled on the knot grid.
    knot_dt = 0.05
    n_int = max(int(t[-1] / knot_dt) - 1, 0)
    k = 5
    inner = np.linspace(t[0], t[-1], n_int + 2)[1:-1]
    knots = np.concatenate([[t[0]] * (k + 1), inner, [t[-1]] * (k + 1)])
    p_spline = make_lsq_spline(t, p, knots, k=k)
    grid = np.linspace(t[0], t[-1], max(int(round(t[-1] / knot_dt)) + 1, 6))
    T_grid = geometry.interpolate_poses(t, geometry.se3(R, p), grid)
    r_spline = RotationSpline(grid, Rotation.from_matrix(T_grid[:, :3, :3]))

    # Sim time -> file time: hold still, then ease to full speed over 0.6 s.
    ramp = 0.6
    duration = still_s + t[-1] + 0.5 * ramp
    ts = np.arange(0.0, duration + 1e-9, 1.0 / KNOT_RATE_HZ)
    x = np.clip((ts - still_s) / ramp, 0.0, 1.0)
    tau = np.where(ts < still_s + ramp, ramp * (2.5 * x**4 - 3 * x**5 + x**6), ts - still_s - 0.5 * ramp)
    tau = np.clip(tau, t[0], t[-1])
    T_world_body = geometry.se3(r_spline(tau).as_matrix(), p_spline(tau))
    T_world_cam = T_world_body @ T_cam
    if tabletop:
        T_rel = geometry.se3_inverse(T_world_cam[0]) @ T_world_cam
        extent = float(np.max(np.linalg.norm(T_rel[:, :3, 3], axis=1)))
        if extent > max_extent_m:
            T_rel[:, :3, 3] *= max_extent_m / extent
        R_home = body.camera_look_rotation(HOME_YPR[0], HOME_YPR[1], HOME_YPR[2])[0]
        p_home_cam = HOME_TCP - R_home @ T_cam_tcp[:3, 3]
        T_world_cam = geometry.se3(R_home, p_home_cam) @ T_rel
    T_world_imu = T_world_cam @ geometry.se3_inverse(T_imu_cam)
    # The replayed operator grasps at 40 % and releases at 75 % of the motion.
    width = np.full(len(ts), OPEN_M)
    for frac, w0, w1 in ((0.40, OPEN_M, 0.04), (0.75, 0.04, OPEN_M)):
        tc = still_s + frac * (duration - still_s)
        width = np.where(ts >= tc, w0 + (w1 - w0) * _minjerk((ts - tc) / 0.4), width)
    episodes = [TaskSpan(still_s * 0.8, duration - 0.3, f"replay {path.stem}")]
    return Motion(ts, T_world_imu[:, :3, 3], T_world_imu[:, :3, :3], width, episodes, f"replay:{path.name}")
