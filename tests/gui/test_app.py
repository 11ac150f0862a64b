"""Window state survives a restart; errors read as messages; calibration wizard; the CLI command."""

from __future__ import annotations

import argparse

from democap.errors import SessionFormatError
from gui.workers import error_text


def test_layout_and_last_episode_survive_restart(demo_home, qtbot) -> None:
    from gui.main_window import MainWindow

    win = MainWindow(demo_home)
    qtbot.addWidget(win)
    win.resize(760, 560)  # inside the offscreen screen (800x600)
    win.open_episode("20260301-090000-demo0", 2)
    qtbot.waitUntil(lambda: win.review.data is not None, timeout=30000)
    win.close()
    assert (demo_home.root / "gui.ini").exists()
    again = MainWindow(demo_home)
    qtbot.addWidget(again)
    assert again.stack.currentWidget() is again.review
    assert (again.size().width(), again.size().height()) == (760, 560)
    qtbot.waitUntil(lambda: again.review.data is not None, timeout=30000)
    assert again.review.data.episode.index == 2
    again.jobs.wait(10000)


def test_errors_are_messages_not_tracebacks() -> None:
    assert (
        error_text(SessionFormatError("manifest is truncated", "/x/manifest.json"))
        == "/x/manifest.json: manifest is truncated"
    )
    text = error_text(KeyError("boom"))
    assert "Traceback" not in text and "report" in text


def test_calibration_wizard_on_the_opencv_chessboard(window, qtbot, home, test_data) -> None:
    from capture.catalog import Catalog

    panel = window.calibration
    seen: list = []
    panel.view_found.connect(lambda det, name, size: seen.append(panel.coverage_text.text()))
    done: list = []
    panel.add_views(test_data / "opencv_chessboard_stereo", pattern="left*.jpg", on_done=lambda: done.append(1))
    qtbot.waitUntil(lambda: bool(done) or panel.message.status == "error", timeout=60000)
    assert sum(d is not None for d in panel.detections) >= 10, panel.message.text
    assert "cells covered" in panel.coverage_text.text()
    # Coverage was shown view by view while detection ran, not only at the end.
    assert len(seen) == len(panel.detections) == len(list((test_data / "opencv_chessboard_stereo").glob("left*.jpg")))
    res: list = []
    panel.calibrate(on_done=res.append)
    qtbot.waitUntil(lambda: bool(res) or panel.message.status == "error", timeout=60000)
    assert res, panel.message.text
    r = res[0]
    assert r.rms_px < 0.5 and 500 < r.camera.fx < 560  # OpenCV's reference: fx ~ 533 px, RMS ~ 0.2
    path = panel.save()
    assert path is not None and path.exists()
    cat = Catalog(home)
    try:
        assert cat.counts()["calibrations"] == 1
    finally:
        cat.close()


def test_cli_registers_gui() -> None:
    from gui.cli import add_commands

    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers()
    add_commands(sub)
    args = ap.parse_args(["gui", "--screenshots", "out"])
    assert args.screenshots == "out" and callable(args.func)
