"""RealSense: a software-device recording written, replayed and imported as a session."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and libusb-1.0) needed")

from devices.realsense import Intrinsics, SoftwareRecorder, read_recording  # noqa: E402

W, H = 64, 48


def _make(path, seed: int = 0, n: int = 8):
    rng = np.random.default_rng(seed)
    depth = rng.integers(300, 4000, (n, H, W), dtype=np.uint16)
    color = rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
    t_ms = 5000.0 + np.arange(n) * 33.333
    gyro = rng.normal(0, 0.1, (n * 7, 3))
    t_imu = 5000.0 + np.arange(n * 7) * 5.0
    rec = SoftwareRecorder(path, Intrinsics(W, H, 60.0, 61.0, 31.5, 23.5), serial="SW-42")
    for i in range(n):
        rec.depth(depth[i], t_ms[i])
        rec.color(color[i], t_ms[i])
        for j in range(7):
            k = i * 7 + j
            rec.gyro(gyro[k], t_imu[k])
            rec.accel(np.array([0.0, -9.81, 0.1 * j]), t_imu[k] + 1.0)
    rec.close()
    return depth, color, t_ms, gyro, t_imu


def test_software_recording_round_trip(tmp_path) -> None:
    path = tmp_path / "rig.db3"
    depth, color, t_ms, gyro, t_imu = _make(path)
    rec = read_recording(path)
    assert rec.serial == "SW-42" and rec.depth_units_m == pytest.approx(0.001)
    by = {sd.kind: sd for sd in rec.streams.values()}
    assert len(by["depth"].t_ms) == len(depth) and len(by["gyro"].t_ms) == len(gyro)
    np.testing.assert_array_equal(np.stack(by["depth"].data), depth)
    np.testing.assert_array_equal(np.stack(by["color"].data), color)
    np.testing.assert_allclose(by["depth"].t_ms, t_ms)
    np.testing.assert_allclose(np.stack(by["gyro"].data), gyro, atol=1e-6)  # float32 on disk
    np.testing.assert_allclose(by["gyro"].t_ms, t_imu)
    assert by["color"].intrinsics.fx == pytest.approx(60.0) and by["color"].intrinsics.cy == pytest.approx(23.5)


def test_import_as_session(tmp_path, home) -> None:
    from capture.importers.realsense import import_realsense

    path = tmp_path / "rig.db3"
    depth, _color, t_ms, gyro, t_imu = _make(path, seed=1)
    s = import_realsense(path, home)
    assert {"rig0.cam0", "rig0.depth0", "rig0.imu"} <= set(s.streams)
    frames = dict(s.frames("rig0.depth0"))
    np.testing.assert_array_equal(np.stack([frames[i] for i in sorted(frames)]), depth)  # lossless
    imu = s.columns("rig0.imu")
    assert np.all(np.diff(imu["t_device_ns"]) > 0)
    np.testing.assert_allclose(imu["accel_y"], -9.81, atol=1e-5)
    assert s.manifest["streams"]["rig0.depth0"]["depth_units_m"] == pytest.approx(0.001)


def test_recording_replays_as_a_rig_source(tmp_path) -> None:
    from devices import base
    from devices.realsense import RealSenseSource

    path = tmp_path / "rig.db3"
    depth, _color, t_ms, gyro, t_imu = _make(path, seed=2)
    src = RealSenseSource(path, rig="rs0")
    desc = src.describe()
    assert {c.sensor for c in desc.cameras} == {"cam0", "depth0"} and desc.imu_rate_hz == 200.0
    assert desc.info.serial == "SW-42"
    samples = list(src.samples())
    depth_frames = [s for s in samples if isinstance(s, base.CameraFrame) and s.sensor == "depth0"]
    np.testing.assert_array_equal(np.stack([f.image for f in depth_frames]), depth)
    assert [f.t_device_ns for f in depth_frames] == [int(round(t * 1e6)) for t in t_ms]
    imu = [s for s in samples if isinstance(s, base.ImuBatch)]
    t_dev = np.concatenate([b.t_device_ns for b in imu])
    # Every gyro sample after the first accelerometer reading, with that reading held.
    assert len(t_dev) >= len(gyro) - 1 and np.all(np.diff(t_dev) > 0)
    np.testing.assert_allclose(np.concatenate([b.accel for b in imu])[:, 1], -9.81, atol=1e-5)
    assert all(np.all(np.diff(b.t_host_ns) > 0) for b in imu)
