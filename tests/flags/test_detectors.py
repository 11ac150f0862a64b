"""Observation-gap detectors on crafted frames and signals."""

from __future__ import annotations

import numpy as np
import pytest

from democap import geometry
from democap.model import CameraModel, TrackState, Trajectory
from flags import detectors
from flags.hands import SkinHandDetector
from flags.image import ImageThresholds, blurred_mask, frame_metrics, is_overexposed, is_underexposed
from flags.synthetic import draw_hand, expose, labelled_frames, motion_blur, scene


@pytest.fixture(scope="module")
def clean_frames() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    # Non-skin benches here; skin-coloured backgrounds are part of the measured set (bench_flags).
    bases = [(70, 110, 150), (90, 140, 90), (120, 120, 120), (60, 60, 90), (150, 170, 190), (40, 90, 70)]
    return [scene(rng, 640, 480, distractor=False, base_rgb=b) for b in bases]


def test_clean_frames_raise_no_image_flag(clean_frames):
    metrics = [frame_metrics(f) for f in clean_frames]
    assert not any(is_underexposed(m) or is_overexposed(m) for m in metrics)
    assert not blurred_mask(np.array([m.sharpness for m in metrics])).any()
    det = SkinHandDetector()
    assert not any(det.detect(f).present for f in clean_frames)


def test_blurred_frames_are_flagged_against_the_sequence(clean_frames):
    frames = list(clean_frames) + [motion_blur(clean_frames[0], 20, 15.0), motion_blur(clean_frames[1], 12, 100.0)]
    sharp = np.array([frame_metrics(f).sharpness for f in frames])
    mask = blurred_mask(sharp)
    assert mask.tolist() == [False] * 6 + [True, True]


def test_dark_and_saturated_frames(clean_frames):
    dark = frame_metrics(expose(clean_frames[0], 0.1))
    bright = frame_metrics(expose(clean_frames[0], 4.0, 80))
    assert is_underexposed(dark) and not is_overexposed(dark)
    assert is_overexposed(bright) and not is_underexposed(bright)
    # A dark frame is smooth too, but must count as dark, not blurred.
    sharp = np.array([frame_metrics(f).sharpness for f in clean_frames] + [dark.sharpness])
    bad = np.array([False] * len(clean_frames) + [True])
    assert not blurred_mask(sharp, ImageThresholds(), exposure_bad=bad).any()


def test_hand_in_view_is_detected_and_grey_images_are_not_judged(clean_frames):
    det = SkinHandDetector()
    hits = [det.detect(draw_hand(f, np.random.default_rng(i))) for i, f in enumerate(clean_frames)]
    assert sum(h.present for h in hits) >= 5
    assert all(0 < h.area_share < 0.5 for h in hits if h.present)
    assert det.detect(clean_frames[0][..., 0]) is None


def test_generated_set_precision_recall_is_measured():
    """Small smoke version of bench/bench_flags.py: image flags separate the labels."""
    frames = list(labelled_frames(8, seed=11))
    m = [frame_metrics(f.image) for f in frames]
    dark = np.array([is_underexposed(x) for x in m])
    labels = np.array([f.label for f in frames])
    assert np.array_equal(dark, labels == "dark")


def test_tracking_flags_spans_and_severity():
    n = 30
    t = 1_000 + np.arange(n, dtype=np.int64) * 33_000_000
    state = np.zeros(n, np.uint8)
    state[10:14] = TrackState.LOST
    state[20:22] = TrackState.INTERPOLATED
    traj = Trajectory(t, np.repeat(np.eye(4)[None], n, 0), state, np.full(n, 0.9, np.float32))
    flags = detectors.tracking_flags(traj, "rig0")
    lost = [f for f in flags if f.kind == "observation.tracking_lost"]
    deg = [f for f in flags if f.kind == "observation.tracking_degraded"]
    assert [(f.t0_ns, f.t1_ns, f.severity) for f in lost] == [(int(t[10]), int(t[14]), "error")]
    assert [(f.t0_ns, f.t1_ns) for f in deg] == [(int(t[20]), int(t[22]))]


def test_dropped_frames_count_the_missing():
    t = np.arange(20, dtype=np.int64) * 33_333_333
    t = np.delete(t, [5, 6, 7])
    (f,) = detectors.dropped_frame_flags(t, 30.0, "rig0")
    assert f.evidence["missing_frames"] == 3
    assert (f.t0_ns, f.t1_ns) == (int(t[4]), int(t[5]))


def test_imu_saturation_clock_sync_and_fiducials():
    t = np.arange(100, dtype=np.int64) * 5_000_000
    gyro = np.zeros((100, 3))
    acc = np.tile([0, 0, 9.81], (100, 1))
    gyro[40:45, 2] = -34.9
    (f,) = detectors.imu_saturation_flags(t, gyro, acc, "rig0", 34.9, 156.9)
    assert (f.t0_ns, f.t1_ns) == (int(t[40]), int(t[45]))
    send = np.arange(10, dtype=np.int64) * 100_000_000
    recv = send + np.where(np.arange(10) == 6, 9_000_000, 600_000)
    u = detectors.clock_sync_uncertainty_ns(send, send + 100, send + 200, recv)
    (c,) = detectors.clock_sync_flags(send, u, "rig0", 2e6)
    assert c.t0_ns == send[6] and c.evidence["uncertainty_ms"] > 4
    width = np.full(100, 0.05)
    width[70:80] = np.nan
    (h,) = detectors.fiducials_hidden_flags(t, width, "rig0")
    assert (h.t0_ns, h.t1_ns) == (int(t[70]), int(t[80]))


def test_camera_mismatch():
    pin = CameraModel("pinhole-radtan", 640, 480, 500, 500, 320, 240)
    fish = CameraModel("fisheye-equidistant", 640, 480, 250, 250, 320, 240, (0.0, 0.0, 0.0, 0.0))
    T = geometry.se3(np.eye(3), [0, 0, 0.1])
    assert detectors.camera_mismatch_flags(0, 10, "rig0", pin, T, pin, T) == []
    (f,) = detectors.camera_mismatch_flags(0, 10, "rig0", fish, T, pin, geometry.se3(np.eye(3), [0, 0.05, 0.1]))
    assert f.severity == "warn"
    assert "distortion model" in f.message and "mount" in f.message and "field of view" in f.message
    small = CameraModel("pinhole-radtan", 320, 240, 250, 250, 160, 120)
    (r,) = detectors.camera_mismatch_flags(0, 10, "rig0", small, T, pin, T)
    assert r.severity == "info"  # same optics at half resolution: exports resize
