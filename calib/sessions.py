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
from calib.targets import Target
from capture.session import Session
from democap.errors import CalibrationError
from democap.model import CameraModel


def frames_with_times(session: Session, stream: str, step: int = 1) -> Iterator[tuple[int, NDArray[Any]]]:
    """``(t_host_ns, image)`` of a video stream."""
    t = session.columns(stream)["t_host_ns"]
    for k, img in session.frames(stream, step=step):
        yield int(t[k]), img


def imu_samples(session: Session, rig: str = "rig0") -> tuple[NDArray[np.int64], NDArray, NDArray]:
    """(t_host_ns (M,), gyro (M, 3) rad/s, accel (M, 3) m/s^2) of ``<rig>.imu``."""
    c = session.columns(f"{rig}.imu")
    if len(c["t_host_ns"]) == 0:
        raise CalibrationError(f"{rig}.imu has no samples", session.path)
    order = np.argsort(c["t_host_ns"], kind="stable")
    gyro = np.stack([c["gyro_x"], c["gyro_y"], c["gyro_z"]], 1)[order]
    accel = np.stack([c["accel_x"], c["accel_y"], c["accel_z"]], 1)[order]
    return c["t_host_ns"][order].astype(np.int64), gyro, accel


def camera_of(session: Session, rig: str, cam: str, camera: CameraModel | None) -> CameraModel:
    if camera is not None:
        return camera
    calib = session.calibration(rig)
    if calib is None:
        raise CalibrationError(f"session has no calibration for {rig}: give the {cam} intrinsics", session.path)
    return calib.camera(cam).camera


def track_session_target(session: Session, target: Target, rig: str = "rig0", cam: str = "cam0",
                         camera: CameraModel | None = None, step: int = 1) -> TargetTrack:  # fmt: skip
    return track_target(frames_with_times(session, f"{rig}.{cam}", step), target, camera_of(session, rig, cam, camera))


def camera_imu_from_session(session: Session, target: Target, rig: str = "rig0", cam: str = "cam0",
                            camera: CameraModel | None = None) -> tuple[CameraImuResult, TargetTrack]:  # fmt: skip
    """Camera-IMU calibration of a session in which the rig was waved in front of a static target."""
    track = track_session_target(session, target, rig, cam, camera)
    if len(track.t_ns) < 30:
        raise CalibrationError(f"target seen in only {len(track.t_ns)} of {track.n_frames} frames", session.path)
    t_imu, gyro, accel = imu_samples(session, rig)
    return calibrate_camera_imu(track.t_ns, track.T_target_cam, t_imu, gyro, accel), track
