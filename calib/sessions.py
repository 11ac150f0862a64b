"""Calibration inputs read from a recorded session (``capture.session.Session``).

Streams: ``<rig>.<cam>`` video and its frame table (``t_host_ns``), ``<rig>.imu``
(gyro rad/s, accel m/s^2 in the IMU frame), ``<rig>.gripper`` (raw, width_m). Times are
host ns; the result's time offset is relative to those stamps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calib.camera_imu import CameraImuResult, calibrate_camera_imu
from calib.target_poses import TargetTrack, track_target
from calib.targets import TagMap, Target, target_from_dict
from capture.session import Session
from democap.errors import CalibrationError
from democap.model import CameraModel


def _times(cols: dict[str, NDArray[Any]], device: bool) -> NDArray[np.int64]:
    """Device stamps when asked for and present (all >= 0), else host arrival stamps."""
    if device and "t_device_ns" in cols and len(cols["t_device_ns"]) and np.all(cols["t_device_ns"] >= 0):
        return cols["t_device_ns"].astype(np.int64)
    return cols["t_host_ns"].astype(np.int64)


def frames_with_times(session: Session, stream: str, step: int = 1, device_time: bool = False
                      ) -> Iterator[tuple[int, NDArray[Any]]]:  # fmt: skip
    """``(t_ns, image)`` of a video stream (host stamps, or device stamps with ``device_time``)."""
    t = _times(session.columns(stream), device_time)
    for k, img in session.frames(stream, step=step):
        yield int(t[k]), img


def imu_samples(session: Session, rig: str = "rig0", device_time: bool = False
                ) -> tuple[NDArray[np.int64], NDArray, NDArray]:  # fmt: skip
    """(t_ns (M,), gyro (M, 3) rad/s, accel (M, 3) m/s^2) of ``<rig>.imu``."""
    c = session.columns(f"{rig}.imu")
    if len(c["t_host_ns"]) == 0:
        raise CalibrationError(f"{rig}.imu has no samples", session.path)
    t = _times(c, device_time)
    order = np.argsort(t, kind="stable")
    gyro = np.stack([c["gyro_x"], c["gyro_y"], c["gyro_z"]], 1)[order]
    accel = np.stack([c["accel_x"], c["accel_y"], c["accel_z"]], 1)[order]
    return t[order], gyro, accel


def workspace_target(session: Session) -> TagMap:
    """The session's workspace tags (``manifest["workspace"]``, e.g. the virtual rig's table) as a target."""
    ws = session.manifest.get("workspace")
    if not ws or not ws.get("tags"):
        raise CalibrationError("session has no workspace tags; give a calibration target", session.path)
    d = {"target_type": "tagmap", "tags": ws["tags"], "tag_size": ws["tag_size_m"],
         "tag_family": ws.get("tag_family", "tag36h11")}  # fmt: skip
    return target_from_dict(d, str(session.path))  # type: ignore[return-value]


def camera_of(session: Session, rig: str, cam: str, camera: CameraModel | None) -> CameraModel:
    if camera is not None:
        return camera
    calib = session.calibration(rig)
    if calib is None:
        raise CalibrationError(f"session has no calibration for {rig}: give the {cam} intrinsics", session.path)
    return calib.camera(cam).camera


def track_session_target(session: Session, target: Target, rig: str = "rig0", cam: str = "cam0",
                         camera: CameraModel | None = None, step: int = 1, device_time: bool = False,
                         fast: bool = False) -> TargetTrack:  # fmt: skip
    frames = frames_with_times(session, f"{rig}.{cam}", step, device_time)
    return track_target(frames, target, camera_of(session, rig, cam, camera), fast=fast)


def camera_imu_from_session(session: Session, target: Target | None = None, rig: str = "rig0", cam: str = "cam0",
                            camera: CameraModel | None = None, gravity_target: NDArray[np.float64] | None = None
                            ) -> tuple[CameraImuResult, TargetTrack]:  # fmt: skip
    """Camera-IMU calibration of a session in which the rig moved in front of a static target
    (``None``: the session's workspace tags, which lie on the level table: gravity is then
    known, (0, 0, -9.81) in the world frame, unless ``gravity_target`` says otherwise).

    Uses the rig's device stamps when both streams carry them: both sensors tick on the
    rig's clock, so the offset is the sensors' own, free of transport latency and jitter.
    """
    if target is None:
        target = workspace_target(session)
        if gravity_target is None:
            gravity_target = np.array([0.0, 0.0, -9.81])
    track = track_session_target(session, target, rig, cam, camera, device_time=True, fast=True)
    if len(track.t_ns) < 30:
        raise CalibrationError(f"target seen in only {len(track.t_ns)} of {track.n_frames} frames", session.path)
    t_imu, gyro, accel = imu_samples(session, rig, device_time=True)
    return calibrate_camera_imu(track.t_ns, track.T_target_cam, t_imu, gyro, accel, gravity_target=gravity_target,
                                anchor_cam=track.anchor_cam), track  # fmt: skip
