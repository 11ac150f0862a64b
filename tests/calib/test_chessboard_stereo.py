"""Chessboard intrinsics and stereo on OpenCV's real stereo photos, against OpenCV's reference."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from calib.intrinsics import calibrate_intrinsics
from calib.stereo import calibrate_stereo
from calib.targets import Chessboard
from democap.formats import opencv_yaml

BOARD = Chessboard(rows=6, cols=9, square_m=0.025)


@pytest.fixture(scope="module")
def pairs(test_data: Path):
    root = test_data / "opencv_chessboard_stereo"
    left = sorted(root.glob("left*.jpg"))
    right = [root / p.name.replace("left", "right") for p in left]
    dl = [BOARD.detect(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)) for p in left]
    dr = [BOARD.detect(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)) for p in right]
    return root, dl, dr


def test_left_intrinsics_match_opencv_reference(pairs) -> None:
    root, dl, _ = pairs
    assert all(d is not None for d in dl)
    ref = opencv_yaml.read_opencv_camera(root / "left_intrinsics.yml")
    assert ref.camera.fx == pytest.approx(535.9, abs=0.05)
    res = calibrate_intrinsics(dl, (640, 480), fix_aspect=True)
    cam = res.camera
    assert cam.fx == cam.fy
    assert abs(cam.fx / ref.camera.fx - 1) < 0.01
    assert abs(cam.cx - ref.camera.cx) < 0.01 * cam.fx and abs(cam.cy - ref.camera.cy) < 0.01 * cam.fx
    assert res.rms_px <= 0.39
    # The reference run shows view 2 far off the others (1.18 px); robust fitting must drop it.
    bad = [v for v in res.views if not v.used]
    assert [v.index for v in bad] == [1]
    assert res.coverage.poor and any("coverage" in w for w in res.warnings)


def test_without_rejection_reproduces_opencv_within_a_percent(pairs) -> None:
    _, dl, _ = pairs
    res = calibrate_intrinsics(dl, (640, 480), fix_aspect=True, reject_outliers=False)
    assert abs(res.camera.fx / 535.9157 - 1) < 0.002
    assert res.rms_px == pytest.approx(0.3926, abs=0.03)


def test_stereo_extrinsics_rectify_well(pairs) -> None:
    _, dl, dr = pairs
    cl = calibrate_intrinsics(dl, (640, 480), fix_aspect=True).camera
    cr = calibrate_intrinsics(dr, (640, 480), fix_aspect=True).camera
    st = calibrate_stereo(dl, dr, cl, cr)
    assert st.n_pairs == 13
    assert st.epipolar_rms_px <= 0.5
    # Side-by-side rig: the right camera sits along -x of the left one.
    t = st.T_right_left[:3, 3]
    assert t[0] < 0 and abs(t[0]) > 5 * np.hypot(t[1], t[2])
