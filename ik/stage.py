"""The retarget stage: a session's rig trajectories to one robot's joints, with embodiment flags.

Inputs: the trajectory stage (``T_world_<body>`` per rig at camera times), each rig's
calibration (``T_imu_cam`` of its first camera and ``T_cam_tcp``; the profile's
``default_cam_to_tcp`` when the calibration has none) and the ``<rig>.gripper`` stream
when present. Outputs under ``stages/retarget/<robot>/``: ``<rig>.parquet`` joint
trajectories, ``flags.json``, ``<rig>.png`` plots and ``stage.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capture.artifacts import (
    JointTrajectory,
    StageRecord,
    commit_stage,
    input_hash,
    is_current,
    load_trajectory,
    read_stage,
    stage_dir,
    trajectory_path,
    write_flags,
    write_joints,
)
from capture.session import Session
from democap.errors import StageError
from democap.home import Home
from democap.model import Flag, TrackState, Trajectory
from ik.checks import CollisionChecker, embodiment_flags, frame_checks
from ik.placement import place_base
from ik.plots import plot_joints
from ik.profile import RobotProfile, find_profile
from ik.retarget import RetargetSettings, retarget_poses
from ik.robot import Robot, load_robot

log = logging.getLogger(__name__)

STAGE_VERSION = 1


def stage_name(robot: str) -> str:
    return f"retarget/{robot}"


@dataclass(frozen=True, eq=False)
class RigRetarget:
    """One rig's result: joints, flags and the base pose used."""

    joints: JointTrajectory
    flags: list[Flag]
    feasible_share: float | None  # from the base placement search, when run
    table_checked: bool = True


def rig_tcp_trajectory(traj: Trajectory, session: Session, rig: str, profile: RobotProfile) -> NDArray[np.float64]:
    """T_world_tcp (N, 4, 4) of the robot TCP that should coincide with the rig's TCP."""
    calib = session.calibration(rig)
    if traj.body == "tcp":
        T_body_tcp = np.eye(4)
    else:
        if calib is None or not calib.cameras:
            raise StageError(
                f"{rig} has no calibration: cannot place its TCP relative to its {traj.body}", session.path
            )
        cam = calib.cameras[0]
        if traj.body == "imu":
            T_body_cam = cam.T_imu_cam
        elif traj.body == cam.name:
            T_body_cam = np.eye(4)
        else:
            raise StageError(
                f"{rig} trajectory is of frame {traj.body!r}; expected imu, tcp or {cam.name}", session.path
            )
        T_cam_tcp = calib.T_cam_tcp if calib.T_cam_tcp is not None else profile.T_cam_tcp_default
        if calib.T_cam_tcp is None:
            log.warning("%s calibration has no T_cam_tcp; using the %s profile's default_cam_to_tcp", rig, profile.name)
        T_body_tcp = T_body_cam @ T_cam_tcp
    return traj.T_world_body @ T_body_tcp @ profile.T_rigtcp_tcp


def gripper_width(session: Session, rig: str, t_ns: NDArray[np.int64]) -> NDArray[np.float64]:
    """The rig's gripper width (m) at t_ns, NaN where the stream is absent or does not cover."""
    name = f"{rig}.gripper"
    out = np.full(len(t_ns), np.nan)
    if name not in session.streams:
        return out
    c = session.columns(name)
    ts, w = c["t_host_ns"].astype(np.int64), c["width_m"].astype(np.float64)
    good = np.isfinite(w)
    ts, w = ts[good], w[good]
    if len(ts) == 0:
        return out
    order = np.argsort(ts)
    ts, w = ts[order], w[order]
    inside = (t_ns >= ts[0]) & (t_ns <= ts[-1])
    out[inside] = np.interp(t_ns[inside].astype(np.float64), ts.astype(np.float64), w)
    return out


def retarget_rig(
    robot: Robot,
    traj: Trajectory,
    T_world_tcp: NDArray[np.float64],
    gripper_m: NDArray[np.float64],
    rig: str,
    T_world_base: NDArray[np.float64] | None = None,
    place: bool = False,
    settings: RetargetSettings | None = None,
    progress: bool = False,
    place_span_ns: tuple[int, int] | None = None,
) -> RigRetarget:
    """Retarget one rig's TCP trajectory and check it (library entry without a session).

    The table plane is only known when the world is anchored to the table tag; for other
    anchors table collisions are not checked. ``place_span_ns`` limits the base placement
    search to frames in ``[t0, t1)`` (one episode) instead of the whole trajectory.
    """
    share = None
    T_world_tcp, finite = _hold_missing_poses(T_world_tcp)
    table = traj.world_anchor == "tag"
    if not table:
        log.info(
            "%s: world is anchored to %s, not the table tag: table collisions are not checked", rig, traj.world_anchor
        )
    if place:
        sel = finite.copy()
        if place_span_ns is not None:
            sel &= (traj.t_ns >= place_span_ns[0]) & (traj.t_ns < place_span_ns[1])
        pl = place_base(robot, traj.t_ns[sel], T_world_tcp[sel], table=table)
        T_world_base, share = pl.T_world_base, pl.feasible_share
    elif T_world_base is None:
        T_world_base = robot.profile.T_world_base
    res = retarget_poses(robot, traj.t_ns, np.linalg.inv(T_world_base) @ T_world_tcp, settings, progress=progress)
    cc = CollisionChecker(robot, T_world_base, table=table)
    checks = frame_checks(
        robot,
        T_world_base,
        traj.t_ns,
        res.q_ik,
        res.position_error_m,
        res.orientation_error_rad,
        gripper_m,
        valid=(traj.state != TrackState.LOST) & finite,
        collisions=cc,
        smooth=traj.state != TrackState.RELOCALISED,
    )
    flags = embodiment_flags(robot, checks, rig=rig, collisions=cc)
    jt = JointTrajectory(robot.name, robot.joint_names, traj.t_ns, res.q, gripper_m, T_world_base)
    return RigRetarget(jt, flags, share, table)


def _hold_missing_poses(T_world_tcp: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Non-finite poses replaced by the nearest earlier finite one (the first by the next):
    the arm holds still there, and those frames are not checked. Returns (poses, finite mask)."""
    finite: NDArray[np.bool_] = np.asarray(np.isfinite(T_world_tcp).all(axis=(1, 2)), dtype=bool)
    if finite.all() or not finite.any():
        return T_world_tcp, finite
    idx = np.where(finite, np.arange(len(finite)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.flatnonzero(finite)[0])
    return T_world_tcp[idx], finite


def _rigs_with_trajectories(session: Session) -> list[str]:
    rigs = [r for r in session.rigs if trajectory_path(session, r).exists()]
    if not rigs:
        folder = stage_dir(session, "trajectory")
        rigs = sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []
    return rigs


def run(
    session: Session,
    robot: str,
    home: Home,
    place_base: bool = False,
    progress: bool = True,
    settings: RetargetSettings | None = None,
    force: bool = False,
    place_episode: int | None = None,
) -> StageRecord:
    """Retarget every rig of the session to ``robot`` (a profile name) and write the stage outputs.

    ``place_base`` searches the base pose maximising the share of feasible frames over the
    whole session, or over episode ``place_episode`` when given.
    """
    settings = settings or RetargetSettings()
    profile = find_profile(robot, home)
    traj_rec = read_stage(session, "trajectory")
    if traj_rec is None:
        raise StageError("no trajectory yet (run `democap process` first)", session.path)
    rigs = _rigs_with_trajectories(session)
    if not rigs:
        raise StageError("the trajectory stage has no rig trajectories", stage_dir(session, "trajectory"))
    stage = stage_name(profile.name)
    calibs = {r: (c.hash if (c := session.calibration(r)) is not None else None) for r in rigs}
    grippers = [f"{r}.gripper" for r in rigs if f"{r}.gripper" in session.streams]
    span = None
    if place_base and place_episode is not None:
        eps = {e.index: e for e in session.episodes}
        if place_episode not in eps:
            raise StageError(f"no episode {place_episode}; episodes: {sorted(eps)}", session.path)
        span = (eps[place_episode].t0_ns, eps[place_episode].t1_ns)
    settings_d: dict[str, Any] = {
        **settings.to_dict(),
        "place_base": place_base,
        "place_episode": place_episode if place_base else None,
    }
    in_hash = input_hash(
        {
            "trajectory": {"input_hash": traj_rec.input_hash, "outputs": dict(traj_rec.outputs)},
            "calibrations": calibs,
            "gripper": session.fingerprint(grippers) if grippers else None,
            "settings": settings_d,
            "profile": profile.settings_dict(),
        }
    )
    if not force and is_current(session, stage, STAGE_VERSION, in_hash):
        rec = read_stage(session, stage)
        assert rec is not None
        log.info("%s is up to date", stage)
        return rec

    rb = load_robot(profile)
    out_dir = stage_dir(session, stage)
    files: list[str] = []
    all_flags: list[Flag] = []
    summary: dict[str, Any] = {"robot": profile.name, "rigs": {}}
    for rig in rigs:
        traj = load_trajectory(session, rig)
        T_world_tcp = rig_tcp_trajectory(traj, session, rig, profile)
        result = retarget_rig(
            rb,
            traj,
            T_world_tcp,
            gripper_width(session, rig, traj.t_ns),
            rig,
            T_world_base=profile.T_world_base_for(rig),
            place=place_base,
            settings=settings,
            progress=progress,
            place_span_ns=span,
        )
        write_joints(out_dir / f"{rig}.parquet", result.joints)
        plot_joints(out_dir / f"{rig}.png", result.joints, rb, result.flags)
        files += [f"{rig}.parquet", f"{rig}.png"]
        all_flags += result.flags
        summary["rigs"][rig] = _rig_summary(result, len(traj))
    write_flags(out_dir / "flags.json", all_flags)
    files.append("flags.json")
    return commit_stage(session, stage, STAGE_VERSION, in_hash, settings_d, files, summary)


def _rig_summary(result: RigRetarget, n_frames: int) -> Mapping[str, Any]:
    counts: dict[str, int] = {}
    for f in result.flags:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return {
        "frames": n_frames,
        "flags": counts,
        "T_world_base": np.asarray(result.joints.T_world_base).tolist(),
        "feasible_share": result.feasible_share,
        "table_checked": result.table_checked,
    }
