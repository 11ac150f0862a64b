"""Kalibr / EuRoC YAML reader-writer: real EuRoC and MyntEye files, round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from democap.errors import CalibrationError
from democap.formats import kalibr
from democap.model import CameraCalibration, CameraModel, ImuNoise, RigCalibration


def test_euroc_camera_sensor_yaml(test_data: Path) -> None:
    s = kalibr.read_euroc_sensor_yaml(test_data / "euroc_v1_01_easy_micro/mav0/cam0/sensor.yaml")
    assert s.sensor_type == "camera"
    assert s.rate_hz == 20
    cam = s.camera
    assert cam is not None and cam.model == "pinhole-radtan"
    assert (cam.width, cam.height) == (752, 480)
    assert cam.fx == pytest.approx(458.654) and cam.cy == pytest.approx(248.375)
    assert cam.distortion[0] == pytest.approx(-0.28340811)
    # T_BS is a proper rigid transform with the documented translation.
    R = s.T_BS[:3, :3]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-6)
    assert s.T_BS[1, 3] == pytest.approx(-0.064676986768)


def test_euroc_imu_sensor_yaml(test_data: Path) -> None:
    s = kalibr.read_euroc_sensor_yaml(test_data / "euroc_v1_01_easy_micro/mav0/imu0/sensor.yaml")
    assert s.sensor_type == "imu" and s.camera is None
    n = s.imu_noise
    assert n is not None and n.rate_hz == 200
    assert n.gyro_noise_density == pytest.approx(1.6968e-04)
    assert n.accel_random_walk == pytest.approx(3.0e-3)
    assert np.array_equal(s.T_body_sensor, np.eye(4))


def test_fisheye_sensor_yaml(test_data: Path) -> None:
    s = kalibr.read_euroc_sensor_yaml(test_data / "mynteye_fisheye_stereo_aprilgrid/left_sensor_fisheye.yaml")
    assert s.camera is not None and s.camera.model == "fisheye-equidistant"
    assert len(s.camera.distortion) == 4


@pytest.mark.parametrize("sub", ["cam0", "cam1", "imu0", "state_groundtruth_estimate0"])
def test_euroc_sensor_yaml_round_trip(test_data: Path, tmp_path: Path, sub: str) -> None:
    a = kalibr.read_euroc_sensor_yaml(test_data / "euroc_v1_01_easy_micro/mav0" / sub / "sensor.yaml")
    kalibr.write_euroc_sensor_yaml(tmp_path / "sensor.yaml", a)
    b = kalibr.read_euroc_sensor_yaml(tmp_path / "sensor.yaml")
    assert b.sensor_type == a.sensor_type and b.rate_hz == a.rate_hz
    assert np.array_equal(a.T_BS, b.T_BS)
    assert a.camera == b.camera and a.imu_noise == b.imu_noise


def test_camchain_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    from democap import geometry

    def pose() -> np.ndarray:
        return geometry.se3(geometry.so3_exp(rng.normal(size=3) * 0.3), rng.normal(size=3) * 0.05)

    cams = (
        CameraCalibration(
            "cam0",
            CameraModel("pinhole-radtan", 640, 480, 500, 501, 320, 240, (-0.1, 0.01, 0, 0)),
            pose(),
            time_offset_ns=1_500_000,
        ),
        CameraCalibration(
            "cam1",
            CameraModel("fisheye-equidistant", 752, 480, 366, 365, 380, 226, (-0.02, -0.007, 0.002, -0.001)),
            pose(),
            time_offset_ns=-20_000,
        ),
    )
    rig = RigCalibration("rig-x", cams, imu=ImuNoise(1e-4, 1e-5, 2e-3, 3e-3, 200.0))
    kalibr.write_kalibr_camchain(tmp_path / "camchain.yaml", rig)
    back = kalibr.read_kalibr_camchain(tmp_path / "camchain.yaml")
    assert [c.name for c in back] == ["cam0", "cam1"]
    rig2 = kalibr.rig_from_camchain(back, "rig-x", imu=rig.imu)
    for a, b in zip(rig.cameras, rig2.cameras, strict=True):
        assert a.camera == b.camera
        assert np.allclose(a.T_imu_cam, b.T_imu_cam, atol=1e-12)
        assert a.time_offset_ns == b.time_offset_ns
    # cam1 chained from cam0 alone gives the same extrinsic.
    stripped = [back[0], kalibr.KalibrCamera("cam1", back[1].camera, None, back[1].T_cn_cnm1)]
    rig3 = kalibr.rig_from_camchain(stripped, "rig-x")
    assert np.allclose(rig3.cameras[1].T_imu_cam, cams[1].T_imu_cam, atol=1e-12)
    kalibr.write_kalibr_imu_yaml(tmp_path / "imu.yaml", rig.imu)
    assert kalibr.read_kalibr_imu_yaml(tmp_path / "imu.yaml") == rig.imu


def test_bad_files_raise_calibration_error(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("%YAML:1.0\nsensor_type: camera\nintrinsics: [1, 2]\n")
    with pytest.raises(CalibrationError, match="x.yaml"):
        kalibr.read_euroc_sensor_yaml(tmp_path / "x.yaml")
    (tmp_path / "y.yaml").write_text("foo: 1\n")
    with pytest.raises(CalibrationError, match="camchain"):
        kalibr.read_kalibr_camchain(tmp_path / "y.yaml")
    with pytest.raises(CalibrationError):
        kalibr.read_euroc_sensor_yaml(tmp_path / "missing.yaml")
