"""Start the desktop app (``democap gui``), or save a picture of each screen (``--screenshots DIR``)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from democap.home import Home

log = logging.getLogger(__name__)


def _app() -> Any:
    from PySide6.QtWidgets import QApplication

    from gui import theme

    # Workers (recorder, simulator, IK) hold the GIL in turns; PySide releases it around every Qt call
    # and must win it back each time, so a shorter switch interval keeps the window responsive.
    sys.setswitchinterval(0.001)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("democap")
    theme.apply(app)  # type: ignore[arg-type]
    return app


def preferred_home(resolved: Home, explicit: bool) -> Home:
    """The home chosen in Preferences, unless --home or DEMOCAP_HOME says otherwise."""
    import os

    from PySide6.QtCore import QSettings

    if explicit or os.environ.get("DEMOCAP_HOME"):
        return resolved
    chosen = QSettings("democap", "democap").value("home")
    if chosen and Path(str(chosen)).expanduser().resolve() != resolved.root:
        log.info("using the home folder chosen in Preferences: %s", chosen)
        return Home.resolve(str(chosen))
    return resolved


def run(home: Home, explicit_home: bool = True) -> int:
    from gui.main_window import MainWindow

    app = _app()
    home = preferred_home(home, explicit_home)
    win = MainWindow(home)
    win.show()
    return int(app.exec())


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Run the event loop (a real one: timers fire on time) until ``predicate()`` or the timeout."""
    from PySide6.QtCore import QEventLoop, QTimer

    if predicate():
        return True
    loop = QEventLoop()
    t_end = time.monotonic() + timeout_s

    def check() -> None:
        if predicate() or time.monotonic() >= t_end:
            loop.quit()

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    return bool(predicate())


def seed_demo_home(home: Home, sessions: int = 2) -> None:
    """Generated sessions (fixed seeds) with trajectories, flags and Panda joints, for pictures and demos."""
    from capture.catalog import refresh_session
    from capture.session import Session
    from flags import stage as flags_stage
    from flags.synthetic import make_session

    tasks = (("pick the cup", "open the drawer"), ("wipe the table", "pour into the bowl"))
    for i in range(sessions):
        path = make_session(
            home.sessions,
            seed=i,
            session_id=f"20260301-09{i:02d}00-demo{i}",
            n_frames=180,
            episodes=3,
            tasks=tasks[i % 2],
            blur=tuple(range(20, 30)) if i == 0 else (),
            lost=tuple(range(140, 150)) if i == 1 else (),
            dropped=(70,),
            robot="panda",
        )
        s = Session(path)
        flags_stage.run(s)
        refresh_session(home, s)


def shared_data_root() -> Path:
    """The shared real-data folder (as the tests find it): $DEMOCAP_TEST_DATA or ../shared/data."""
    import os

    return Path(os.environ.get("DEMOCAP_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def screenshots(out_dir: Path, record_seconds: float = 8.0) -> list[Path]:
    """Open every main screen in a demo home and save ``<screen>.png`` (run under a display or Xvfb)."""
    from gui.main_window import SCREENS, MainWindow

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _app()
    home = Home.resolve(tempfile.mkdtemp(prefix="democap-screens-"))
    seed_demo_home(home)
    win = MainWindow(home)
    win.resize(1280, 800)
    win.show()
    wait_for(lambda: False, 0.5)
    saved: list[Path] = []

    def grab(name: str) -> None:
        win.resize(1280, 800)
        wait_for(lambda: False, 0.4)
        p = out_dir / f"{name.lower()}.png"
        win.grab().save(str(p))
        saved.append(p)
        log.info("saved %s", p)

    # Devices: the virtual firmware, paired (code auto-confirmed) and its status read.
    win.show_screen("Devices")
    win.devices.confirm_code = lambda code: True
    win.devices.start_virtual_rig()
    wait_for(lambda: bool(win.devices.rigs), 20)
    done = {"pair": False, "status": False}
    win.devices.pair_selected(on_done=lambda _s: done.__setitem__("pair", True))
    wait_for(lambda: done["pair"] or win.devices.message.status == "error", 20)
    win.devices.refresh_status(on_done=lambda: done.__setitem__("status", True))
    wait_for(lambda: done["status"] or win.devices.message.status == "error", 20)
    grab("Devices")

    # Live: record the simulated rig for a few seconds with the Panda feasibility light on.
    win.show_screen("Live")
    win.live.robot_combo.setCurrentText("panda")
    win.live.task_edit.setText("pick the cup and place it on the plate")
    win.live.operator_edit.setText("alex")
    win.live.source_combo.setCurrentIndex(win.live.source_combo.count() - 1)
    win.live.start_recording()
    wait_for(lambda: False, record_seconds)
    grab("Live")
    win.live.stop_recording()
    wait_for(lambda: not win.live.recording, 30)
    wait_for(lambda: "checked" in win.live.rec_light.text or "failed" in win.live.rec_light.text, 180)
    grab("Live-verdicts")

    # Calibration, live: the virtual rig's table tags as the target, views kept as the rig moves.
    win.show_screen("Calibration")
    from gui.calib_panel import TABLE_TAGS

    cal = win.calibration
    cal.live_source.setCurrentIndex(cal.live_source.count() - 1)
    cal.kind.setCurrentIndex(TABLE_TAGS)
    cal.start_live()
    wait_for(lambda: cal.pump is not None or cal.message.status == "error", 30)
    wait_for(lambda: len(cal.detections) >= 12, record_seconds)
    grab("Calibration-live")
    cal.stop_live()
    cal.kind.setCurrentIndex(0)

    # Calibration: the OpenCV chessboard photos of the shared data, when present.
    board = Path(os.environ.get("DEMOCAP_SHOTS_BOARD_DATA", shared_data_root())) / "opencv_chessboard_stereo"
    if board.is_dir():
        views = {"done": False}
        win.calibration.add_views(board, pattern="left*.jpg", on_done=lambda: views.__setitem__("done", True))
        wait_for(lambda: views["done"], 60)
        calibrated = {"done": False}
        win.calibration.calibrate(on_done=lambda _r: calibrated.__setitem__("done", True))
        wait_for(lambda: calibrated["done"] or win.calibration.message.status == "error", 60)
    grab("Calibration")

    win.show_screen("Sessions")
    win.sessions.refresh()
    ranked = {"done": False}
    win.sessions.rank_outliers(on_done=lambda _m: ranked.__setitem__("done", True))
    wait_for(lambda: ranked["done"], 60)
    grab("Sessions")

    loaded = {"done": False}
    recorded = win.live.session
    sid, idx = (
        (recorded.id, recorded.episodes[0].index)
        if recorded is not None and recorded.episodes
        else ("20260301-090000-demo0", 0)
    )
    win.review.open(sid, idx, "panda", on_done=lambda _d: loaded.__setitem__("done", True))
    win.show_screen("Review")
    wait_for(lambda: loaded["done"], 60)
    win.review.slider.setValue(win.review.slider.maximum() // 3)
    grab("Review")

    dlg = win.open_export()
    wait_for(lambda: False, 0.3)
    p = out_dir / "export.png"
    dlg.grab().save(str(p))
    saved.append(p)
    dlg.close()
    win.close()
    assert set(SCREENS)
    return saved
