"""Gripper width and TCP from finger fiducials (virtual rig renderer), encoder width, latency from QR frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calib.gripper import (
    FingerMarkers,
    calibrate_width_from_encoder,
    calibrate_width_from_fiducials,
    observe_fingers,
    tcp_from_fingers,
    width_from_observation,
)
from calib.latency import measure_latency
from democap import geometry
from democap.errors import CalibrationError
from democap.formats.clock_code import decode_time, encode_time


@pytest.fixture(scope="module")
def finger_rig():
    from devices.sim import body
    from devices.sim.rig import SimRig, SimRigConfig

    rig = SimRig(SimRigConfig(seconds=4, seed=3, cameras="mono-pinhole"))
    T_world_cam = rig.motion.pose(np.array([0.0]))[0] @ rig.T_imu_cam["cam0"]
    renderer = rig.renderer("cam0")
    markers = FingerMarkers(body.FINGER_MARKER_DICT, *body.FINGER_MARKER_IDS, body.FINGER_MARKER_SIZE_M,
                            (0.0, body.FINGER_MARKER_FROM_TIP_M + 0.5 * body.FINGER_MARKER_SIZE_M, 0.0))  # fmt: skip

    def observe(width_m: float, seed: int):
        img = renderer.render(T_world_cam, gripper_width_m=width_m, noise_seed=seed).image
        return observe_fingers(img, rig.cameras[0][1], markers)

    return body, markers, observe


def test_fiducial_width_and_tcp_on_virtual_rig(finger_rig) -> None:
    body, markers, observe = finger_rig
    # The min/max clip: close fully, open fully, close again.
    clip = np.concatenate([np.linspace(body.GRIPPER_MIN_WIDTH_M, body.GRIPPER_MAX_WIDTH_M, 12),
                           np.linspace(body.GRIPPER_MAX_WIDTH_M, body.GRIPPER_MIN_WIDTH_M, 12)])  # fmt: skip
    obs = [observe(w, i) for i, w in enumerate(clip)]
    assert all(o.complete for o in obs)
    calib = calibrate_width_from_fiducials(obs, body.GRIPPER_MIN_WIDTH_M, body.GRIPPER_MAX_WIDTH_M)
    assert calib.source == "fiducials"
    rng = np.random.default_rng(11)
    for k, w in enumerate(rng.uniform(0.005, 0.08, 5)):
        est = width_from_observation(observe(float(w), 1000 + k), calib)
        assert abs(est - w) < 0.001, (w, est)
    T_cam_tcp, spread = tcp_from_fingers(obs, markers)
    assert np.linalg.norm(T_cam_tcp[:3, 3] - body.T_CAM0_TCP[:3, 3]) < 0.002
    assert np.degrees(geometry.rotation_angle(T_cam_tcp[:3, :3].T @ body.T_CAM0_TCP[:3, :3])) < 2.0
    assert spread < 0.002


def test_encoder_width_line() -> None:
    rng = np.random.default_rng(2)
    true_scale, ticks = 0.085 / 4095, np.concatenate([np.full(40, 0.0), np.linspace(0, 4095, 100), np.full(40, 4095)])
    raw = np.clip(np.round(ticks + rng.normal(0, 0.7, ticks.shape)), 0, 4095)
    g = calibrate_width_from_encoder(raw, 0.0, 0.085)
    assert g.scale == pytest.approx(true_scale, rel=1e-3) and abs(g.offset_m) < 1e-4
    with pytest.raises(CalibrationError):
        calibrate_width_from_encoder(np.full(50, 7.0), 0.0, 0.085)


def _screen_frames(latency_ns: int, seed: int, n: int = 40, display_hz: float = 60.0):
    """Frames of a monitor showing the host clock, filmed at 30 fps: perspective, blur, noise."""
    rng = np.random.default_rng(seed)
    t0 = 5_000_000_000
    phase = rng.uniform(0, 1e9 / display_hz)
    for i in range(n):
        exposure_t = t0 + i * 33_333_333 + int(rng.normal(0, 2e5))
        shown = int(t0 + phase + np.floor((exposure_t - t0 - phase) * display_hz / 1e9) * 1e9 / display_hz)
        code = encode_time(shown, module_px=5)
        frame = np.full((480, 640), 90, np.uint8)
        h, w = code.shape
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = np.float32([[180, 60], [470, 80], [460, 400], [170, 380]]) + rng.normal(0, 3, (4, 2)).astype(np.float32)
        frame = cv2.warpPerspective(code, cv2.getPerspectiveTransform(src, dst), (640, 480), dst=frame,
                                    borderMode=cv2.BORDER_TRANSPARENT)  # fmt: skip
        frame = cv2.GaussianBlur(frame, (0, 0), 0.8)
        frame = np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)
        yield exposure_t + latency_ns + int(rng.normal(0, 1e6)), frame


def test_qr_round_trip() -> None:
    assert decode_time(encode_time(123_456_789_012)) == 123_456_789_012
    assert decode_time(np.full((100, 100), 255, np.uint8)) is None


@pytest.mark.parametrize(("latency_ms", "display_hz"), [(12.0, 144.0), (47.5, 144.0), (20.0, 75.0)])
def test_latency_from_filmed_clock(latency_ms: float, display_hz: float) -> None:
    res = measure_latency(_screen_frames(int(latency_ms * 1e6), seed=int(latency_ms), display_hz=display_hz),
                          display_hz=display_hz)  # fmt: skip
    assert res.n_decoded >= 30
    # 30 fps sees a 144 Hz display at 5 phases (a 75 Hz one at 2): the stated sigma covers the error.
    assert abs(res.latency_ns * 1e-6 - latency_ms) < max(2.0, 3 * res.sigma_ns * 1e-6)
    assert res.sigma_ns < (1.5e6 if display_hz == 144.0 else 3.5e6)


def test_phase_locked_display_widens_the_uncertainty() -> None:
    res = measure_latency(_screen_frames(15_000_000, seed=4, display_hz=60.0), display_hz=60.0)
    assert "phase-locked" in res.warning
    assert res.phase_sigma_ns == pytest.approx(1e9 / 60 / np.sqrt(12), rel=0.05)
    assert abs(res.latency_ns - 15_000_000) <= 0.5e9 / 60 + 1.5e6


def test_latency_without_codes_is_an_error() -> None:
    frames = ((i * 33_000_000, np.full((120, 160), 128, np.uint8)) for i in range(10))
    with pytest.raises(CalibrationError, match="readable in only 0"):
        measure_latency(frames)
