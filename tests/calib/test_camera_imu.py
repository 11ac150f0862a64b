"""Camera-IMU calibration on seeded synthetic sequences with known truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calib.camera_imu import calibrate_camera_imu
from calib.synthetic import G_TARGET, camera_imu_sequence, render_aprilgrid_view
from calib.targets import AprilGrid
from democap import geometry
from democap.errors import CalibrationError
from democap.model import CameraCalibration, CameraModel, RigCalibration


def _errors(res, seq) -> tuple[float, float, float]:
    rot = float(np.degrees(geometry.rotation_angle(res.T_imu_cam[:3, :3].T @ seq.T_imu_cam[:3, :3])))
    trans = float(np.linalg.norm(res.T_imu_cam[:3, 3] - seq.T_imu_cam[:3, 3]))
    off = abs(res.time_offset_ns - seq.time_offset_ns) * 1e-6
    return rot, trans, off


@pytest.mark.parametrize("seed,offset_ns", [(1, 7_300_000), (2, -23_000_000), (3, 61_500_000)])
def test_arrays_recover_truth(seed: int, offset_ns: int) -> None:
    seq = camera_imu_sequence(seed=seed, duration_s=60.0, time_offset_ns=offset_ns)
    res = calibrate_camera_imu(seq.t_cam_ns, seq.T_target_cam_meas, seq.t_imu_ns, seq.gyro, seq.accel)
    rot, trans, off = _errors(res, seq)
    assert rot < 0.5 and trans < 0.005 and off < 1.0, (rot, trans, off)
    assert np.allclose(res.gyro_bias, seq.gyro_bias, atol=2e-3)
    assert abs(np.linalg.norm(res.gravity_target) - 9.81) < 0.1
    # Uncertainties are finite, positive and not wildly off the actual errors.
    assert 0 < res.sigma_offset_ms < 1.0 and 0 < res.sigma_rotation_deg < 0.5
    assert np.all(res.sigma_translation_m > 0) and trans < 6 * np.linalg.norm(res.sigma_translation_m)


def test_static_camera_is_refused() -> None:
    seq = camera_imu_sequence(seed=0, duration_s=10.0)
    T = np.repeat(seq.T_target_cam_meas[:1], len(seq.t_cam_ns), axis=0)
    with pytest.raises(CalibrationError, match="hardly rotates"):
        calibrate_camera_imu(seq.t_cam_ns, T, seq.t_imu_ns, seq.gyro, seq.accel)


@pytest.mark.slow
def test_session_path_with_rendered_frames(tmp_path: Path) -> None:
    """Rendered AprilGrid video + IMU written as a session, calibrated through detection and PnP."""
    from calib.sessions import camera_imu_from_session
    from capture.session import Session, SessionWriter, StreamSpec

    grid = AprilGrid(6, 6, 0.088, 0.3)
    cam = CameraModel("pinhole-radtan", 640, 480, 500.0, 500.0, 320.0, 240.0)
    seq = camera_imu_sequence(seed=5, duration_s=10.0, time_offset_ns=-12_000_000)
    w = SessionWriter(tmp_path, source={"kind": "synthetic"})
    w.add_calibration("rig0", RigCalibration("sim", (CameraCalibration("cam0", cam, np.eye(4)),)))
    video = w.add_video(StreamSpec("rig0.cam0", "video", "rig0", "cam0", 30.0), 640, 480, codec="h264")
    for t, T in zip(seq.t_cam_ns, seq.T_target_cam_true, strict=True):
        video.append(render_aprilgrid_view(grid, cam, geometry.se3_inverse(T)), int(t))
    imu = w.add_table(StreamSpec("rig0.imu", "imu", "rig0", "imu", 200.0))
    imu.append_many({
        "t_host_ns": seq.t_imu_ns, "t_device_ns": seq.t_imu_ns,
        "gyro_x": seq.gyro[:, 0], "gyro_y": seq.gyro[:, 1], "gyro_z": seq.gyro[:, 2],
        "accel_x": seq.accel[:, 0], "accel_y": seq.accel[:, 1], "accel_z": seq.accel[:, 2],
    })  # fmt: skip
    path = w.close()
    res, track = camera_imu_from_session(Session(path), grid, gravity_target=G_TARGET)
    assert len(track.t_ns) > 0.9 * len(seq.t_cam_ns)
    rot, trans, off = _errors(res, seq)
    assert rot < 0.5 and trans < 0.005 and off < 1.0, (rot, trans, off)
