"""Folding calibration results into ``RigCalibration`` records (immutable: each change is a new record)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from democap.model import CameraCalibration, CameraModel, GripperCalibration, RigCalibration


def empty_rig(serial: str) -> RigCalibration:
    return RigCalibration(rig_serial=serial, cameras=())


def with_camera(rig: RigCalibration, name: str, camera: CameraModel | None = None, *,
                T_imu_cam: NDArray[np.float64] | None = None, time_offset_ns: int | None = None,
                rms_px: float | None = None) -> RigCalibration:  # fmt: skip
    """The rig with camera ``name`` added or changed (fields left None keep their old value)."""
    cams = list(rig.cameras)
    old = next((c for c in cams if c.name == name), None)
    if old is None and camera is None:
        raise ValueError(f"camera {name} is new: its intrinsics are needed")
    new = CameraCalibration(
        name=name, camera=camera if camera is not None else old.camera,  # type: ignore[union-attr]
        T_imu_cam=np.asarray(T_imu_cam if T_imu_cam is not None else (old.T_imu_cam if old else np.eye(4))),
        time_offset_ns=int(time_offset_ns if time_offset_ns is not None else (old.time_offset_ns if old else 0)),
        rms_px=rms_px if rms_px is not None else (old.rms_px if old else None),
    )  # fmt: skip
    cams = [new if c.name == name else c for c in cams] if old else [*cams, new]
    return replace(rig, cameras=tuple(sorted(cams, key=lambda c: c.name)))


def with_stereo(rig: RigCalibration, left: str, right: str, T_right_left: NDArray[np.float64]) -> RigCalibration:
    """Place camera ``right`` by the stereo extrinsic: T_imu_right = T_imu_left @ inv(T_right_left)."""
    T_imu_left = rig.camera(left).T_imu_cam
    return with_camera(rig, right, T_imu_cam=T_imu_left @ np.linalg.inv(T_right_left))


def with_gripper(rig: RigCalibration, gripper: GripperCalibration | None = None,
                 T_cam_tcp: NDArray[np.float64] | None = None) -> RigCalibration:  # fmt: skip
    return replace(rig, gripper=gripper if gripper is not None else rig.gripper,
                   T_cam_tcp=T_cam_tcp if T_cam_tcp is not None else rig.T_cam_tcp)  # fmt: skip


def with_latency(rig: RigCalibration, stream: str, latency_ns: int) -> RigCalibration:
    return replace(rig, latency_ns={**dict(rig.latency_ns), stream: int(latency_ns)})
