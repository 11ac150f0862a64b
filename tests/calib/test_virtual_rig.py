"""Camera-IMU calibration of a virtual-rig session against the rig's known truth.

The rig is recorded through the real recorder while it sways in front of the table tags
(a calibration motion replayed from a generated TUM file), then calibrated with the same
code path as ``democap calib imu``.
"""

from __future__ import annotations

import numpy as np
import pytest

from democap import geometry

pytestmark = pytest.mark.slow


def _calibration_motion(path, seconds: float) -> None:
    """Camera-frame sway: rotations of ~20 deg about all axes at 0.75-1.2 Hz, a few cm of translation."""
    from democap.formats.tum import write_tum

    t = np.arange(0.0, seconds, 0.01)
    ramp = np.clip(t, 0.0, 1.0)[:, None]
    w = np.radians([22.0, 20.0, 25.0]) * np.sin(2 * np.pi * np.array([0.9, 1.2, 0.75]) * t[:, None]) * ramp
    p = np.array([0.05, 0.05, 0.04]) * np.sin(2 * np.pi * np.array([0.5, 0.7, 0.4]) * t[:, None]) * ramp
    write_tum(path, (t * 1e9).astype(np.int64) + 1_000_000_000, geometry.se3(geometry.so3_exp(w), p))


def test_camera_imu_on_virtual_rig(tmp_path, home) -> None:
    from calib.sessions import camera_imu_from_session
    from capture.virtual import record_virtual

    motion = tmp_path / "calib_motion.txt"
    _calibration_motion(motion, 26.0)
    session = record_virtual(home, seconds=24.0, seed=3, motion=str(motion), cameras="mono-pinhole",
                             auto_exposure=False, exposure_s=0.003)  # fmt: skip
    truth = session.manifest["ground_truth"]
    res, track = camera_imu_from_session(session)  # the table tags, gravity known (level table)
    assert len(track.t_ns) > 0.8 * track.n_frames
    T_true = np.asarray(truth["T_imu_cam"]["cam0"])
    rot_deg = float(np.degrees(geometry.rotation_angle(res.T_imu_cam[:3, :3].T @ T_true[:3, :3])))
    trans_m = float(np.linalg.norm(res.T_imu_cam[:3, 3] - T_true[:3, 3]))
    offset_ms = abs(res.time_offset_ns - truth["camera_time_offset_ns"]) * 1e-6
    assert rot_deg < 0.5 and trans_m < 0.005 and offset_ms < 1.0, (rot_deg, trans_m, offset_ms)
    assert res.sigma_offset_ms < 1.0 and res.sigma_rotation_deg < 0.5
