"""Calibration wizard, live capture: keep the views that add coverage or pose variety, then calibrate."""

from __future__ import annotations

import numpy as np

from calib.targets import Detection
from democap import geometry
from democap.model import CameraModel
from gui.calib_live import ENOUGH_VIEWS, LiveViewSelector

CAMERA = CameraModel("pinhole-radtan", 640, 480, 500.0, 500.0, 320.0, 240.0, (0.0,) * 5)


def _board_view(tilt_deg: float, centre_px: tuple[float, float], distance_m: float) -> Detection:
    """A 6x9 grid of 25 mm squares seen at a tilt about x, its centre on ``centre_px``."""
    ij = np.stack(np.meshgrid(np.arange(9), np.arange(6)), -1).reshape(-1, 2)
    pts = np.c_[(ij - [4, 2.5]) * 0.025, np.zeros(len(ij))]
    ray = CAMERA.unproject(np.array([centre_px]))[0]
    T_cam_board = geometry.se3(geometry.so3_exp([np.radians(tilt_deg), 0.0, 0.0]), ray / ray[2] * distance_m)
    p_cam = pts @ T_cam_board[:3, :3].T + T_cam_board[:3, 3]
    px = CAMERA.project(p_cam)
    return Detection(np.arange(len(pts)), px, pts, (640, 480))


def test_selector_keeps_new_coverage_and_poses_and_says_when_enough() -> None:
    sel = LiveViewSelector((640, 480), CAMERA)
    kept, _ = sel.consider(_board_view(0, (320, 240), 0.5))
    assert kept
    kept, why = sel.consider(_board_view(0, (321, 240), 0.5))  # the same view again
    assert not kept and "no coverage" in why
    kept, _ = sel.consider(None)
    assert not kept
    assert "corner" in sel.hint()  # the image corners are still empty
    assert abs(sel.poses[0].tilt_deg) < 1.0 and np.isclose(sel.poses[0].distance_m, 0.5, atol=0.01)
    kept, why = sel.consider(_board_view(35, (320, 240), 0.5))  # same cells, new tilt
    assert kept and "tilt" in why
    for cx, cy in [(90, 80), (550, 80), (90, 400), (550, 400), (200, 240), (450, 240), (320, 90), (320, 400)]:
        sel.consider(_board_view(20, (cx, cy), 0.45))
    assert len(sel.kept) >= ENOUGH_VIEWS
    assert sel.enough, sel.hint()
    assert sel.hint().startswith("Enough views")
    assert sel.coverage().fraction > 0.6


def test_live_capture_on_the_virtual_rig_keeps_views_and_calibrates(window, qtbot) -> None:
    from gui.calib_panel import TABLE_TAGS
    from gui.sources import SimulatedRigSource, SourceChoice

    cal = window.calibration
    window.show_screen("Calibration")
    cal.set_live_choices([SourceChoice("sim", lambda: [SimulatedRigSource(seed=2, seconds=40.0)], {})])
    cal.kind.setCurrentIndex(TABLE_TAGS)
    cal.start_live()
    qtbot.waitUntil(lambda: cal.pump is not None, timeout=30000)
    assert cal.coverage_stack.currentIndex() == 1  # the live image with the coverage overlay
    qtbot.waitUntil(lambda: len(cal.detections) >= 10, timeout=90000)
    sel = cal.selector
    assert sel is not None and sel.seen > len(sel.kept)  # not every frame is kept
    assert "cells covered" in cal.coverage_text.text()
    assert cal.hint_text.text()
    assert cal.live_view.pixmap() is not None and not cal.live_view.pixmap().isNull()
    results: list = []
    cal.calibrate(on_done=results.append)  # stops the live capture and calibrates the kept views
    assert not cal.live_active
    qtbot.waitUntil(lambda: bool(results) or cal.message.status == "error", timeout=60000)
    assert results, cal.message.text
    res = results[0]
    assert res.rms_px < 1.0
    true_fx = SimulatedRigSource(seed=2, seconds=3.0).describe().calibration.cameras[0].camera.fx  # type: ignore[union-attr]
    # The rig's motion decides how much of the image the tags reach in a few seconds: a focal length
    # within 10 % of the truth, or else the result must warn that coverage was poor.
    assert abs(res.camera.fx - true_fx) / true_fx < 0.1 or any("coverage" in w for w in res.warnings)
    assert cal.save() is not None
