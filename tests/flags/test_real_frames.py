"""Image detectors on real camera frames (EuRoC V1_01, shared data), clean and degraded."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from flags.image import blurred_mask, frame_metrics, is_overexposed, is_underexposed
from flags.synthetic import expose, motion_blur


@pytest.fixture(scope="module")
def euroc_frames(test_data) -> list[np.ndarray]:
    files = sorted((test_data / "euroc_v1_01_easy_micro" / "mav0" / "cam0" / "data").glob("*.png"))
    if not files:
        pytest.skip("EuRoC frames missing from the shared data")
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in files]


def test_real_clean_frames_raise_no_image_flag(euroc_frames):
    m = [frame_metrics(f) for f in euroc_frames]
    assert not any(is_underexposed(x) or is_overexposed(x) for x in m)
    assert not blurred_mask(np.array([x.sharpness for x in m])).any()


def test_degraded_real_frames_are_flagged_exactly(euroc_frames):
    frames = list(euroc_frames)
    blur, dark, bright = set(range(20, 30)), set(range(50, 55)), set(range(70, 75))
    for i in blur:
        frames[i] = motion_blur(frames[i], 12, 20.0 * i)
    for i in dark:
        frames[i] = expose(frames[i], 0.12)
    for i in bright:
        frames[i] = expose(frames[i], 3.5, 60)
    m = [frame_metrics(f) for f in frames]
    d = np.array([is_underexposed(x) for x in m])
    b = np.array([is_overexposed(x) for x in m])
    bl = blurred_mask(np.array([x.sharpness for x in m]), exposure_bad=d | b)
    assert set(np.flatnonzero(d)) == dark
    assert set(np.flatnonzero(b)) == bright
    assert set(np.flatnonzero(bl)) == blur


def test_flags_stage_on_an_imported_real_session(test_data, home):
    from capture.artifacts import session_flags
    from capture.importers.euroc import import_euroc
    from flags import stage
    from flags.summary import episode_summary

    s = import_euroc(test_data / "euroc_v1_01_easy_micro", home)
    stage.run(s)
    assert [f for f in session_flags(s) if f.kind.startswith("observation.")] == []
    summary = episode_summary(s, 0)
    assert summary["verdict"] == "check" and summary["reasons"] == ["no trajectory yet"]
