"""Generated demonstrations with known embodiment problems (for tests and benchmarks).

A clean demo is the forward kinematics of a smooth joint path around the robot's rest
posture (so it is reachable, far from limits, slow and above the table), sampled at a
camera rate. ``inject`` adds one problem over a time window:

* ``unreachable``: the TCP is pushed 0.7 m away from the base (out of reach);
* ``joint_limit``: the elbow is driven to within 1 degree of its limit (slowly);
* ``joint_velocity``: the TCP jerks 0.35 m sideways and back (above velocity and acceleration limits);
* ``table_collision``: the TCP dips 3 cm below the table plane;
* ``gripper_range``: the gripper opens wider than the robot's gripper can.

``SECONDARY`` lists flag kinds that are physical consequences of an injected problem
(an arm pushed out of reach is also stretched to a singularity and a joint limit);
benchmarks neither require nor penalise them inside the injected window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from democap.model import TrackState, Trajectory
from ik.robot import Robot

PROBLEMS = ("unreachable", "joint_limit", "joint_velocity", "table_collision", "gripper_range")

#: Flag kinds an injected problem must raise.
EXPECTED: dict[str, tuple[str, ...]] = {
    "unreachable": ("embodiment.unreachable",),
    "joint_limit": ("embodiment.joint_limit",),
    "joint_velocity": ("embodiment.joint_velocity", "embodiment.joint_acceleration"),
    "table_collision": ("embodiment.table_collision",),
    "gripper_range": ("embodiment.gripper_range",),
}
#: Flag kinds that may accompany it inside its window.
SECONDARY: dict[str, tuple[str, ...]] = {
    "unreachable": (
        "embodiment.joint_limit",
        "embodiment.singularity",
        "embodiment.joint_velocity",
        "embodiment.joint_acceleration",
        "embodiment.self_collision",
        "embodiment.table_collision",
    ),
    "joint_limit": (
        "embodiment.unreachable",
        "embodiment.singularity",
        "embodiment.table_collision",
        "embodiment.self_collision",
    ),
    "joint_velocity": ("embodiment.unreachable",),
    "table_collision": ("embodiment.unreachable", "embodiment.self_collision", "embodiment.joint_limit"),
    "gripper_range": (),
}


@dataclass(frozen=True, eq=False)
class Demo:
    """A generated demo: TCP poses in the world, gripper width, and the injected windows."""

    t_ns: NDArray[np.int64]
    T_world_tcp: NDArray[np.float64]  # (N, 4, 4)
    gripper_m: NDArray[np.float64]
    q_source: NDArray[np.float64]  # (N, n) joint path the poses were generated from
    windows: tuple[tuple[str, int, int], ...] = ()  # (problem, t0_ns, t1_ns)

    def trajectory(self) -> Trajectory:
        """As a tracked trajectory of the TCP (body ``tcp``), all frames OK."""
        n = len(self.t_ns)
        return Trajectory(
            self.t_ns,
            self.T_world_tcp,
            np.full(n, TrackState.OK, np.uint8),
            np.ones(n, np.float32),
            body="tcp",
            world_anchor="tag",
        )


def _bump(t: NDArray[np.float64], t0: float, t1: float, ramp: float) -> NDArray[np.float64]:
    """0 outside [t0, t1], 1 inside after raised-cosine ramps of ``ramp`` seconds."""
    up = np.clip((t - t0) / ramp, 0, 1)
    down = np.clip((t1 - t) / ramp, 0, 1)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))


def clean_demo(
    robot: Robot,
    T_world_base: NDArray[np.float64],
    seconds: float = 8.0,
    rate_hz: float = 30.0,
    seed: int = 0,
    amplitude_rad: float = 0.25,
) -> Demo:
    """A slow, reachable, collision-free demo around the rest posture."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    t_ns = (1_000_000_000 + np.round(t * 1e9)).astype(np.int64)
    nq = robot.nq
    freq = rng.uniform(0.1, 0.35, (2, nq))
    phase = rng.uniform(0, 2 * np.pi, (2, nq))
    amp = amplitude_rad * rng.uniform(0.4, 1.0, (2, nq)) / 2
    q = robot.q_rest + sum(amp[k] * np.sin(2 * np.pi * freq[k] * t[:, None] + phase[k]) for k in range(2))
    margin = 3 * robot.profile.joint_limit_margin_rad
    q = np.clip(q, robot.lower + margin, robot.upper - margin)
    T_world_tcp = T_world_base @ robot.fk(q)
    g = 0.5 * (robot.profile.gripper_min_m + robot.profile.gripper_max_m)
    span = 0.35 * (robot.profile.gripper_max_m - robot.profile.gripper_min_m)
    gripper = g + span * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 6.28))
    return Demo(t_ns, T_world_tcp, gripper, q)


def inject(
    robot: Robot,
    demo: Demo,
    T_world_base: NDArray[np.float64],
    problem: str,
    t0_s: float,
    t1_s: float,
    joint: int | None = None,
) -> Demo:
    """The demo with one problem over [t0_s, t1_s) seconds from its start."""
    t = (demo.t_ns - demo.t_ns[0]) * 1e-9
    q = demo.q_source.copy()
    T = demo.T_world_tcp.copy()
    g = demo.gripper_m.copy()
    if problem == "unreachable":
        b = _bump(t, t0_s, t1_s, 0.4)
        away = T[:, :3, 3] - T_world_base[:3, 3]
        away[:, 2] = 0.0
        away /= np.linalg.norm(away, axis=1, keepdims=True)
        T[:, :3, 3] += 0.7 * b[:, None] * away
    elif problem == "joint_limit":
        # The elbow by default: its angle alone sets the shoulder-wrist distance, so no
        # redundancy can keep it off the limit.
        j = (3 if robot.nq >= 7 else 2) if joint is None else joint
        near_upper = robot.upper[j] - q[:, j].mean() < q[:, j].mean() - robot.lower[j]
        target = robot.upper[j] - np.radians(1.0) if near_upper else robot.lower[j] + np.radians(1.0)
        b = _bump(t, t0_s, t1_s, 0.4 * (t1_s - t0_s))
        q[:, j] = q[:, j] + b * (target - q[:, j])
        T = T_world_base @ robot.fk(q)
    elif problem == "joint_velocity":
        # A 0.35 m sideways jerk of the TCP within a few tenths of a second: faster than
        # any joint combination of a typical arm can follow.
        b = _bump(t, t0_s, t1_s, 0.5 * (t1_s - t0_s))
        side = np.cross([0.0, 0.0, 1.0], T[:, :3, 3] - T_world_base[:3, 3])
        side /= np.linalg.norm(side, axis=1, keepdims=True)
        T[:, :3, 3] += 0.35 * b[:, None] * side
    elif problem == "table_collision":
        b = _bump(t, t0_s, t1_s, 0.35 * (t1_s - t0_s))
        T[:, 2, 3] = (1 - b) * T[:, 2, 3] + b * -0.03
    elif problem == "gripper_range":
        inside = (t >= t0_s) & (t < t1_s)
        g[inside] = robot.profile.gripper_max_m + 0.015
    else:
        raise ValueError(f"unknown problem {problem!r}; expected one of {PROBLEMS}")
    w0 = int(demo.t_ns[0] + round(t0_s * 1e9))
    w1 = int(demo.t_ns[0] + round(t1_s * 1e9))
    return Demo(demo.t_ns, T, g, q, demo.windows + ((problem, w0, w1),))


def with_tracking_noise(demo: Demo, position_m: float, rotation_rad: float, seed: int = 0) -> Demo:
    """The demo seen through a tracker: white noise on every pose (position and rotation sigmas)."""
    from democap import geometry

    rng = np.random.default_rng(seed)
    n = len(demo.t_ns)
    T = demo.T_world_tcp.copy()
    T[:, :3, 3] += rng.normal(0.0, position_m, (n, 3))
    T[:, :3, :3] = T[:, :3, :3] @ geometry.so3_exp(rng.normal(0.0, rotation_rad, (n, 3)))
    return Demo(demo.t_ns, T, demo.gripper_m, demo.q_source, demo.windows)
