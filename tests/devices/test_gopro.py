"""GPMF parsing and GoPro import on the real karma.mp4 (gpmf-parser's sample)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from democap.errors import ImportFormatError
from devices.gopro import _axes, extract_tracks, parse_gpmf, read_gopro


def _klv(key: bytes, typ: str, size: int, repeat: int, data: bytes) -> bytes:
    pad = (-len(data)) % 4
    return key + typ.encode() + bytes([size]) + struct.pack(">H", repeat) + data + b"\0" * pad


def test_parse_synthetic_klv_with_scale_and_orientation() -> None:
    accl = np.array([[100, 200, 300], [-100, 0, 50]], dtype=">i2")
    strm = (
        _klv(b"STNM", "c", 1, 5, b"accel")
        + _klv(b"SCAL", "s", 2, 1, struct.pack(">h", 10))
        + _klv(b"ORIN", "c", 1, 3, b"yXZ")
        + _klv(b"ACCL", "s", 6, 2, accl.tobytes())
    )
    devc = _klv(b"DVNM", "c", 1, 4, b"TEST") + _klv(b"STRM", "\0", 1, len(strm), strm)
    payload = _klv(b"DEVC", "\0", 1, len(devc), devc)
    tree = parse_gpmf(payload)
    assert tree[0].key == "DEVC" and tree[0].children[1].find("ACCL").repeat == 2
    camera, tracks = extract_tracks([(0, 1_000_000_000, payload)])
    assert camera == "TEST"
    # ORIN "yXZ": stored columns are (-y, x, z) -> camera x = col1, y = -col0, z = col2.
    np.testing.assert_allclose(tracks["ACCL"].values, [[20.0, -10.0, 30.0], [0.0, 10.0, 5.0]])
    assert _axes("ZXY") == ([1, 2, 0], pytest.approx(np.ones(3)))


def test_truncated_klv_is_a_typed_error() -> None:
    with pytest.raises(ImportFormatError, match="needs"):
        parse_gpmf(b"ACCLs\x06\x00\x10" + bytes(10))


def test_karma_imu_counts_rates_and_gravity(test_data) -> None:
    tel = read_gopro(test_data / "gopro_gpmf_karma" / "karma.mp4")
    accl, gyro = tel.tracks["ACCL"], tel.tracks["GYRO"]
    assert len(accl.t_ns) == 2397 and len(gyro.t_ns) == 4795
    assert 180 < accl.rate_hz < 210 and 360 < gyro.rate_hz < 420
    assert len(tel.video_t_ns) == 362 and tel.video_size == (854, 480)
    # Telemetry spans the video (12.08 s) within a payload's slack.
    assert abs((accl.t_ns[-1] - accl.t_ns[0]) / 1e9 - 12.1) < 0.6
    assert np.all(np.diff(accl.t_ns) > 0) and np.all(np.diff(gyro.t_ns) > 0)
    # A drone camera: gravity is the accelerometer's mean, on one axis; rotation rates are small.
    g = accl.values.mean(axis=0)
    assert 9.3 < np.linalg.norm(g) < 10.3
    assert np.abs(gyro.values).mean() < 1.0


def test_import_karma_as_session(test_data, home) -> None:
    from capture.importers.gopro import import_gopro

    s = import_gopro(test_data / "gopro_gpmf_karma" / "karma.mp4", home)
    imu = s.columns("rig0.imu")
    assert 4000 < len(imu["t_host_ns"]) <= 4795
    assert np.all(imu["t_host_ns"] >= 0) and np.all(np.diff(imu["t_host_ns"]) > 0)
    assert s.streams["rig0.cam0"]["count"] == 362
    assert len(s.episodes) == 1
