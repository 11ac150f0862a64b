"""What every export takes from one episode: frames, poses, gripper, joints, flags, on one timeline.

The timeline is the first rig's camera (``<rig>.cam0``): one row per camera frame the
review and the export policy kept, stamped with its latency-corrected time
(``democap.model.corrected_times`` via ``capture.timebase``). Every other stream is
interpolated to those times: positions and joints linearly, rotations by SLERP
(``Trajectory.at``), the gripper width linearly over its known samples. A second rig's
camera contributes its nearest frame. Nothing here writes files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capture.artifacts import JointTrajectory, load_trajectory, read_joints, session_flags, trajectory_path
from capture.session import Session
from capture.timebase import stream_times
from democap import geometry
from democap.errors import ExportError
from democap.model import (
    FLAG_KINDS,
    Episode,
    EpisodeReview,
    EpisodeSelection,
    ExportPolicy,
    Flag,
    flag_mask,
    review_of,
    select_frames,
)

log = logging.getLogger(__name__)

#: Flag kinds exported as per-frame boolean columns, in this order.
FLAG_COLUMNS: tuple[str, ...] = tuple(sorted(FLAG_KINDS))


@dataclass(frozen=True, eq=False)
class RigFrames:
    """One rig's data on the episode timeline (N rows)."""

    rig: str
    camera: str  # stream name, e.g. rig0.cam0
    frame_numbers: NDArray[np.int64]  # (N,) index into the camera stream
    T_world_tcp: NDArray[np.float64]  # (N, 4, 4)
    gripper_m: NDArray[np.float64]  # (N,)
    joints: NDArray[np.float64] | None = None  # (N, nq) when a robot is given
    joint_names: tuple[str, ...] = ()
    image_size: tuple[int, int] = (0, 0)  # (height, width)
    tracked: bool = True  # False: a camera without a trajectory (e.g. a head camera), images only


@dataclass(frozen=True, eq=False)
class EpisodeFrames:
    """One exported episode: the kept frames of all rigs on the first rig's timeline."""

    session: Session
    episode: Episode
    selection: EpisodeSelection
    review: EpisodeReview
    t_ns: NDArray[np.int64]  # (N,) corrected host ns of the timeline frames
    t_host_ns: NDArray[np.int64]  # (N,) raw host arrival ns
    rigs: tuple[RigFrames, ...]
    flags: NDArray[np.bool_]  # (N, len(FLAG_COLUMNS))
    masked: NDArray[np.bool_]  # (N,) frames the policy keeps but marks invalid
    episode_flags: tuple[Flag, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.t_ns)

    @property
    def tracked_rigs(self) -> tuple[RigFrames, ...]:
        """Rigs with poses (grippers); untracked cameras contribute images only."""
        return tuple(r for r in self.rigs if r.tracked)

    @property
    def task(self) -> str:
        return self.episode.task or self.session.manifest.get("task", "") or "demonstration"

    # ---------------------------------------------------------------- vectors
    def state(self) -> tuple[NDArray[np.float32], list[str]]:
        """observation.state (N, D) and its names: joints + gripper per rig, else TCP pose + gripper.

        Without joints the pose is ``x, y, z, qw, qx, qy, qz`` (quaternion w,x,y,z, sign kept
        continuous along the episode) of ``T_world_tcp``, then the gripper width in metres.
        """
        cols: list[NDArray] = []
        names: list[str] = []
        for r in self.tracked_rigs:
            pre = f"{r.rig}_" if len(self.tracked_rigs) > 1 else ""
            if r.joints is not None:
                cols += [r.joints, r.gripper_m[:, None]]
                names += [f"{pre}{n}" for n in r.joint_names] + [f"{pre}gripper_width_m"]
            else:
                cols += [self.ee_pose_of(r), r.gripper_m[:, None]]
                names += [f"{pre}{n}" for n in ("x", "y", "z", "qw", "qx", "qy", "qz", "gripper_width_m")]
        return np.concatenate(cols, axis=1).astype(np.float32), names

    def action(self) -> tuple[NDArray[np.float32], list[str]]:
        """action (N, D): the state at the next frame; the last frame holds its own state."""
        s, names = self.state()
        a = np.concatenate([s[1:], s[-1:]], axis=0) if len(s) else s
        return a, names

    @staticmethod
    def ee_pose_of(r: RigFrames) -> NDArray[np.float64]:
        """(N, 7) x, y, z, qw, qx, qy, qz of T_world_tcp, quaternion sign continuous."""
        q = geometry.matrix_to_quat_wxyz(r.T_world_tcp[:, :3, :3])
        for i in range(1, len(q)):
            if q[i] @ q[i - 1] < 0:
                q[i] = -q[i]
        return np.concatenate([r.T_world_tcp[:, :3, 3], q], axis=1)

    def ee_pose(self) -> tuple[NDArray[np.float32], list[str]]:
        cols, names = [], []
        for r in self.tracked_rigs:
            pre = f"{r.rig}_" if len(self.tracked_rigs) > 1 else ""
            cols.append(self.ee_pose_of(r))
            names += [f"{pre}{n}" for n in ("x", "y", "z", "qw", "qx", "qy", "qz")]
        return np.concatenate(cols, axis=1).astype(np.float32), names

    def ee_delta(self) -> tuple[NDArray[np.float32], list[str]]:
        """(N, 6) motion to the next frame in the current TCP frame: dx, dy, dz, rx, ry, rz (rotation vector)."""
        cols, names = [], []
        for r in self.tracked_rigs:
            pre = f"{r.rig}_" if len(self.tracked_rigs) > 1 else ""
            T = r.T_world_tcp
            d = np.zeros((len(T), 6))
            if len(T) > 1:
                rel = geometry.se3_inverse(T[:-1]) @ T[1:]
                d[:-1, :3] = rel[:, :3, 3]
                d[:-1, 3:] = geometry.so3_log(rel[:, :3, :3])
            cols.append(d)
            names += [f"{pre}{n}" for n in ("dx", "dy", "dz", "rx", "ry", "rz")]
        return np.concatenate(cols, axis=1).astype(np.float32), names

    # ----------------------------------------------------------------- images
    def images(self, rig: RigFrames) -> Iterator[NDArray[np.uint8]]:
        """The rig's camera images (H, W, 3) uint8 RGB for each timeline row, in order."""
        nums = rig.frame_numbers
        if len(nums) == 0:
            return
        lo, hi = int(nums.min()), int(nums.max())
        want = iter(nums.tolist())
        target = next(want)
        for k, img in self.session.frames(rig.camera, lo, hi + 1):
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            while k == target:
                yield img
                target = next(want, None)
                if target is None:
                    return


@dataclass(frozen=True)
class Exclusion:
    """An episode the export left out, and why (for the datasheet)."""

    session: str
    episode: int
    task: str
    reason: str
    duration_s: float


def _interp_finite(t_src: NDArray[np.int64], v: NDArray[np.float64], t_q: NDArray[np.int64]) -> NDArray[np.float64]:
    ok = np.isfinite(v)
    if not ok.any():
        return np.full(len(t_q), np.nan)
    return np.interp(t_q.astype(np.float64), t_src[ok].astype(np.float64), v[ok])


def _joints_at(jt: JointTrajectory, t: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    q = (
        np.stack(
            [np.interp(t.astype(np.float64), jt.t_ns.astype(np.float64), jt.q[:, j]) for j in range(jt.q.shape[1])],
            axis=1,
        )
        if jt.q.shape[1]
        else np.zeros((len(t), 0))
    )
    return q, _interp_finite(jt.t_ns, jt.gripper_m, t)


def camera_of(session: Session, rig: str) -> str:
    name = f"{rig}.cam0"
    if name not in session.streams:
        cams = session.streams_of("video", rig)
        if not cams:
            raise ExportError(f"rig {rig} has no camera stream", session.path)
        name = cams[0]
    return name


def export_rigs(session: Session) -> list[str]:
    """Rigs with a camera and a trajectory, in name order (rig0 first: its camera is the timeline)."""
    rigs = sorted({s["rig"] for s in session.streams.values() if s["kind"] == "video" and s["rig"] != "reference"})
    return [r for r in rigs if trajectory_path(session, r).exists()]


def camera_only_rigs(session: Session, tracked: list[str]) -> list[str]:
    """Rigs with a camera but no trajectory (head cameras): exported as extra images."""
    rigs = {s["rig"] for s in session.streams.values() if s["kind"] == "video" and s["rig"] != "reference"}
    return sorted(rigs - set(tracked))


def _T_imu_tcp(session: Session, rig: str, camera: str) -> NDArray[np.float64]:
    cal = session.calibration(rig) if rig in session.rigs else None
    if cal is None:
        log.warning("%s: no calibration for %s; exporting the IMU pose as the TCP pose", session.id, rig)
        return np.eye(4)
    sensor = camera.split(".", 1)[1]
    cam = next((c for c in cal.cameras if c.name == sensor), cal.cameras[0] if cal.cameras else None)
    T_imu_cam = cam.T_imu_cam if cam is not None else np.eye(4)
    if cal.T_cam_tcp is None:
        log.warning(
            "%s: calibration of %s has no T_cam_tcp; exporting the camera pose as the TCP pose", session.id, rig
        )
        return T_imu_cam
    return T_imu_cam @ cal.T_cam_tcp


def session_episodes(
    session: Session, policy: ExportPolicy, robot: str | None = None, flags: Sequence[Flag] | None = None
) -> list[EpisodeFrames | Exclusion]:
    """Every episode of a session after the operator's review and the export policy."""
    rigs = export_rigs(session)
    if not rigs:
        raise ExportError("no rig has both a camera and a trajectory (run the trajectory stage first)", session.path)
    all_flags = list(session_flags(session) if flags is None else flags)
    cam0 = camera_of(session, rigs[0])
    ftab = session.columns(cam0)
    t_host_all = np.asarray(ftab["t_host_ns"], dtype=np.int64)
    t_all = stream_times(session, cam0, ftab)
    per_rig: dict[str, dict[str, Any]] = {}
    extra_cams = camera_only_rigs(session, rigs)
    for rig in extra_cams:
        cam = camera_of(session, rig)
        spec = session.streams[cam]
        per_rig[rig] = {
            "camera": cam,
            "t_cam": stream_times(session, cam),
            "size": (int(spec.get("height", 0)), int(spec.get("width", 0))),
        }
    for rig in rigs:
        cam = camera_of(session, rig)
        spec = session.streams[cam]
        d: dict[str, Any] = {
            "camera": cam,
            "traj": load_trajectory(session, rig),
            "T_imu_tcp": _T_imu_tcp(session, rig, cam),
            "size": (int(spec.get("height", 0)), int(spec.get("width", 0))),
        }
        d["t_cam"] = t_all if rig == rigs[0] else stream_times(session, cam)
        grip_stream = f"{rig}.gripper"
        if grip_stream in session.streams:
            c = session.columns(grip_stream)
            d["grip"] = (stream_times(session, grip_stream, c), np.asarray(c["width_m"], dtype=np.float64))
        if robot:
            p = session.path / "stages" / "retarget" / robot / f"{rig}.parquet"
            if not p.exists():
                raise ExportError(
                    f"no joint trajectory for robot {robot!r} (run `democap retarget "
                    f"{session.id} --robot {robot}` first)",
                    p,
                )
            d["joints"] = read_joints(p)
        per_rig[rig] = d
    decisions = session.decisions()
    out: list[EpisodeFrames | Exclusion] = []
    for ep in session.episodes:
        review = review_of(decisions, ep.index)
        member = np.flatnonzero((t_host_all >= ep.t0_ns) & (t_host_all < ep.t1_ns))
        if len(member) < 2:
            out.append(Exclusion(session.id, ep.index, ep.task, "fewer than 2 camera frames", ep.duration_s))
            continue
        # Episodes and trims are on the host arrival clock; flags and poses on corrected times.
        shift = int(np.median(t_host_all[member] - t_all[member]))
        ep_c = Episode(ep.index, ep.t0_ns - shift, ep.t1_ns - shift, ep.source, ep.task)
        rev_c = EpisodeReview(
            review.status,
            None if review.t0_ns is None else review.t0_ns - shift,
            None if review.t1_ns is None else review.t1_ns - shift,
            review.notes,
        )
        t_ep = t_all[member]
        sel = select_frames(ep_c, t_ep, all_flags, policy, rev_c)
        if sel.excluded:
            out.append(Exclusion(session.id, ep.index, ep.task, sel.reason, ep.duration_s))
            continue
        idx = member[sel.frame_keep]
        t = t_all[idx]
        rig_frames = []
        for rig in rigs:
            d = per_rig[rig]
            if rig == rigs[0]:
                nums = idx.astype(np.int64)
            else:
                tc = d["t_cam"]
                j = np.clip(np.searchsorted(tc, t), 1, len(tc) - 1)
                nums = np.where(np.abs(tc[j - 1] - t) <= np.abs(tc[j] - t), j - 1, j).astype(np.int64)
            T_world_tcp = d["traj"].at(t) @ d["T_imu_tcp"]
            grip = _interp_finite(d["grip"][0], d["grip"][1], t) if "grip" in d else np.full(len(t), np.nan)
            joints, names = None, ()
            if "joints" in d:
                joints, jgrip = _joints_at(d["joints"], t)
                names = d["joints"].joint_names
                grip = np.where(np.isfinite(jgrip), jgrip, grip)
            rig_frames.append(
                RigFrames(rig, d["camera"], nums, T_world_tcp, np.nan_to_num(grip, nan=0.0), joints, names, d["size"])
            )
        for rig in extra_cams:
            d = per_rig[rig]
            tc = d["t_cam"]
            if len(tc) < 2:
                continue
            j = np.clip(np.searchsorted(tc, t), 1, len(tc) - 1)
            nums = np.where(np.abs(tc[j - 1] - t) <= np.abs(tc[j] - t), j - 1, j).astype(np.int64)
            rig_frames.append(
                RigFrames(
                    rig,
                    d["camera"],
                    nums,
                    np.repeat(np.eye(4)[None], len(t), 0),
                    np.zeros(len(t)),
                    None,
                    (),
                    d["size"],
                    tracked=False,
                )
            )
        fl = np.stack([flag_mask(all_flags, t, kinds=[k]) for k in FLAG_COLUMNS], axis=1)
        ep_flags = tuple(f for f in all_flags if f.t1_ns > t[0] and f.t0_ns <= t[-1])
        out.append(
            EpisodeFrames(
                session,
                ep,
                sel,
                review,
                t,
                t_host_all[idx],
                tuple(rig_frames),
                fl,
                sel.frame_mask[sel.frame_keep],
                ep_flags,
            )
        )
    return out
