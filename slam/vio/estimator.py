"""``estimate(session, rig, settings)``: the VIO trajectory estimator behind method "vio".

Reads a rig's cameras, IMU and calibration from a session, runs the front end over every
frame, the back end over keyframes, and returns ``T_world_imu`` at the camera timestamps
(on the IMU clock) with per-frame states, quality and position sigma. The world is the
table tag's frame when a tag was seen (``world_anchor='tag'``), otherwise the first pose,
gravity-aligned (z up), with its yaw as zero (``'first_pose'``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from capture.session import Session
from capture.timebase import stream_corrections, stream_times
from democap import geometry
from democap.errors import StageError
from democap.model import ImuNoise, TrackState, Trajectory, WorldAnchor
from democap.progress import Progress
from slam.imu import gyro_rotation, load_imu
from slam.vio import backend
from slam.vio.frontend import Frontend, FrontendSettings, depth_camera_pose
from slam.vio.measurements import FrameObservations, ImuSamples, RigModel

log = logging.getLogger(__name__)

#: Used when a calibration has no IMU noise: a typical consumer MEMS IMU (BMI088-class).
DEFAULT_IMU_NOISE = ImuNoise(1.7e-3, 2e-5, 2e-2, 3e-3, 200.0)


def _gray(img: NDArray[Any]) -> NDArray[np.uint8]:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def estimate(session: Session, rig: str, settings: Mapping[str, Any]) -> tuple[Trajectory, dict[str, Any]]:
    """Trajectory T_world_imu at rig's cam0 timestamps and a summary (``reason`` when tracking failed)."""
    t_start = time.perf_counter()
    calib = session.calibration(rig)
    if calib is None or not calib.cameras:
        raise StageError(
            f"session {session.id} has no camera calibration for {rig}; calibrate or import one", session.path
        )
    videos = session.streams_of("video", rig)
    cams = [
        c
        for c in calib.cameras
        if f"{rig}.{c.name}" in videos and session.streams[f"{rig}.{c.name}"].get("pix_fmt", "gray") != "gray16le"
    ]
    if not cams:
        raise StageError(f"no video stream of {rig} matches its calibration", session.path)
    imu = load_imu(session, rig)
    if imu is None or len(imu) < 10:
        raise StageError(f"{rig} has no IMU stream: the 'vio' method needs one (use method 'simple')", session.path)
    workspace = session.manifest.get("workspace", {})
    fs = FrontendSettings.from_mapping({"tag_size_m": workspace.get("tag_size_m", 0.08), **dict(settings)})
    bs = backend.BackendSettings.from_mapping(settings)
    use_stereo = bool(settings.get("stereo", True)) and len(cams) > 1
    c0 = cams[0]
    c1 = cams[1] if use_stereo else None
    s0 = f"{rig}.{c0.name}"
    t_cam = stream_times(session, s0, recorded=False)
    n = len(t_cam)
    if n < 2:
        raise StageError(f"{s0} has {n} frames; VIO needs at least 2", session.path)
    depth_stream = None if c1 is not None or not settings.get("depth", True) else _registered_depth(session, s0, n)
    T_imu_cam1 = c1.T_imu_cam if c1 else (c0.T_imu_cam @ depth_camera_pose(fs) if depth_stream else None)
    rig_model = RigModel(c0.T_imu_cam, calib.imu or DEFAULT_IMU_NOISE, T_imu_cam1, fs.tag_size_m)
    T_cam1_cam0 = geometry.se3_inverse(c1.T_imu_cam) @ c0.T_imu_cam if c1 else None
    front = Frontend(c0.camera, fs, c1.camera if c1 else None, T_cam1_cam0)
    frames: list[FrameObservations] = []
    it0 = session.frames(s0)
    it1 = session.frames(f"{rig}.{c1.name}") if c1 else None
    itd = session.frames(depth_stream) if depth_stream else None
    depth_unit = float(session.streams[depth_stream].get("depth_units_m", 0.001)) if depth_stream else 0.0
    R_imu_cam0 = c0.T_imu_cam[:3, :3]
    with Progress(f"vio front end {rig}", n) as bar:
        for i in range(n):
            _, img0 = next(it0)
            keyframe = i % bs.keyframe_every == 0 or i == n - 1
            img1 = next(it1)[1] if it1 is not None else None
            img1 = _gray(img1) if img1 is not None and keyframe else None
            R_cur_prev = None
            if i > 0:
                R_prev_cur_imu = gyro_rotation(imu, int(t_cam[i - 1]), int(t_cam[i]))
                R_cur_prev = (R_imu_cam0.T @ R_prev_cur_imu @ R_imu_cam0).T
            depth = next(itd)[1] if itd is not None else None
            depth_m = depth.astype(np.float32) * depth_unit if depth is not None and keyframe else None
            frames.append(front.process(int(t_cam[i]), _gray(img0), img1, R_cur_prev, keyframe, depth_m))
            bar.advance(1)
    front_s = time.perf_counter() - t_start
    known = {int(k): np.asarray(v, dtype=np.float64) for k, v in workspace.get("tags", {}).items()}
    # What the poses were computed against: later stages reuse it (capture.timebase).
    used = (s0, f"{rig}.imu")
    corrections = {name: stream_corrections(session, name, recorded=False).to_dict() for name in used}
    summary: dict[str, Any] = {
        "method": "vio", "frames": n, "stereo": c1 is not None, "depth": depth_stream, "front_end_s": front_s,
        "corrections": corrections,
    }  # fmt: skip
    find_loops = None
    if settings.get("loop_closure", True):
        from slam.vio.loops import find_loops as _find_loops

        def find_loops(first: backend.BackendResult, kf_idx: list[int]) -> list[backend.LoopClosure]:
            return _find_loops(session.frames(s0), c0.camera, c0.T_imu_cam, first, kf_idx)

    try:
        res = backend.run(frames, imu, rig_model, bs, known, find_loops)
    except RuntimeError as e:
        reason = f"the estimator could not initialise or diverged ({e}); {diagnose(frames, imu, None)}"
        log.warning("%s: %s", rig, reason)
        traj = Trajectory(
            t_cam.astype(np.int64),
            np.repeat(np.eye(4)[None], n, 0),
            np.full(n, TrackState.LOST, np.uint8),
            np.zeros(n, np.float32),
        )
        if settings.get("map"):
            # Not dropped: every frame that relocalises in the map still gets a (RELOCALISED) pose.
            from slam.maps.join import apply_map

            traj, summary["map"] = apply_map(session, rig, str(settings["map"]), traj, traj.T_world_body, None, None)
            summary["world_anchor"] = traj.world_anchor
        return traj, {**summary, "share_ok": 0.0, "reason": reason}
    if front.readout_s > 0 and len(res.t_ns) == n:
        # A rolling-shutter frame was observed at its middle row (slam.vio.frontend); the
        # trajectory is stated at the frames' own stamps, so its poses are carried back to them.
        res = replace(res, t_ns=t_cam.astype(np.int64),
                      T_nav_imu=geometry.interpolate_poses(res.t_ns, res.T_nav_imu, t_cam))  # fmt: skip
    table_tag = settings.get("table_tag_id", workspace.get("table_tag_id"))
    T_world_nav, anchor, anchor_tag = world_from_nav(res, table_tag, known)
    T_world_imu = T_world_nav[None] @ res.T_nav_imu
    traj = Trajectory(
        res.t_ns, T_world_imu, res.state, res.quality, res.position_sigma_m, body="imu", world_anchor=anchor
    )
    if settings.get("map"):
        # A workspace map: its world when no table tag was seen, and pieces after a loss re-anchored.
        from slam.maps.join import apply_map

        traj, summary["map"] = apply_map(
            session, rig, str(settings["map"]), traj, res.T_nav_imu, res.segment, anchor_tag,
            int(settings.get("map_every", 6)),
        )  # fmt: skip
        anchor = traj.world_anchor
    share_ok = traj.share_ok()
    summary.update(
        {
            **res.stats,
            "world_anchor": anchor,
            "anchor_tag": anchor_tag,
            "share_ok": share_ok,
            "share_with_pose": float(np.mean(traj.state != TrackState.LOST)),
            "tags_seen": sorted(res.T_nav_tag),
            "total_s": time.perf_counter() - t_start,
            "states": {st.label: int(np.sum(traj.state == st)) for st in TrackState},
        }
    )
    if share_ok < 0.5:
        summary["reason"] = diagnose(frames, imu, res)
    return traj, summary


def _registered_depth(session: Session, camera_stream: str, n_frames: int) -> str | None:
    """The depth stream registered to ``camera_stream`` (same pixels, one image per frame), if any."""
    rig, cam = camera_stream.split(".", 1)
    for name in session.streams_of("video", rig):
        meta = session.streams[name]
        if meta.get("pix_fmt") == "gray16le" and meta.get("registered_to") == cam:
            if len(session.columns(name)["t_host_ns"]) == n_frames:
                return name
            log.warning("%s: depth %s has a different frame count than %s; not used", session.id, name, cam)
    return None


def world_from_nav(
    res: backend.BackendResult, table_tag: int | None, known_tags: Mapping[int, NDArray[np.float64]] | None = None
) -> tuple[NDArray[np.float64], WorldAnchor, int | None]:
    """T_world_nav: the workspace frame when a surveyed tag was seen (T_world_tag known), else the
    table tag's (or the most-seen tag's) own frame, else the first pose with its yaw zeroed."""
    known_tags = known_tags or {}
    if res.T_nav_tag:
        seen_known = [t for t in res.T_nav_tag if t in known_tags]
        if table_tag is not None and int(table_tag) in res.T_nav_tag:
            tag = int(table_tag)
        elif seen_known:
            tag = min(seen_known)
        else:
            tag = min(res.T_nav_tag)
        T_world_tag = known_tags.get(tag, np.eye(4))
        return T_world_tag @ geometry.se3_inverse(res.T_nav_tag[tag]), "tag", tag
    T0 = res.T_nav_imu[0]
    T_nav_world = geometry.se3(geometry.rot_z(geometry.yaw_of(T0[:3, :3])), T0[:3, 3])
    return geometry.se3_inverse(T_nav_world), "first_pose", None


def diagnose(frames: list[FrameObservations], imu: ImuSamples, res: backend.BackendResult | None) -> str:
    """A human-readable cause for tracking that could not be recovered."""
    feats = np.array([len(f.track_ids) for f in frames])
    tracked = np.array([f.stats.get("tracked", 0.0) for f in frames[1:]]) if len(frames) > 1 else np.zeros(1)
    accel_norm = np.linalg.norm(imu.accel_imu, axis=1)
    excitation = float(np.std(accel_norm))
    reasons = []
    if np.median(feats) < 30 or np.median(tracked) < 20:
        reasons.append(
            f"too little texture: median {np.median(feats):.0f} features per frame, "
            f"{np.median(tracked):.0f} tracked frame to frame (needs >= 30)"
        )
    if abs(np.median(accel_norm) - backend.GRAVITY) > 1.0:
        reasons.append(
            f"IMU calibration looks wrong: resting |accel| is {np.median(accel_norm):.2f} m/s^2, not {backend.GRAVITY}"
        )
    has_tags = any(f.tags for f in frames)
    has_stereo = any(f.xy_cam1 is not None for f in frames)
    if excitation < 0.05 and not has_tags and not has_stereo:
        reasons.append(f"no IMU excitation (accel std {excitation:.3f} m/s^2): mono-inertial scale is unobservable")
    if res is not None and res.stats.get("outliers", 0) > 0.3 * max(res.stats.get("landmarks", 1), 1):
        reasons.append("many tracks disagree with the IMU motion: check the camera-IMU calibration and time offset")
    if not reasons:
        reasons.append("visual tracks were too few for too long to bridge with the IMU")
    return "; ".join(reasons)
