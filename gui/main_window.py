"""The main window: a navigation rail (Devices, Live, Calibration, Sessions, Review) and screens.

Window geometry, the last screen and the last reviewed episode are kept in ``<home>/gui.ini``
and restored at the next start.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from democap.home import Home
from gui import settings as prefs
from gui.calib_panel import CalibrationPanel
from gui.devices_panel import DevicesPanel
from gui.export_dialog import ExportDialog, PreferencesDialog
from gui.live_panel import LivePanel
from gui.review_panel import ReviewPanel
from gui.sessions_panel import SessionsPanel
from gui.sources import SourceChoice, link_rig, virtual_rig
from gui.workers import Jobs

log = logging.getLogger(__name__)

SCREENS = ("Devices", "Live", "Calibration", "Sessions", "Review")
ICONS = {"Devices": "⌁", "Live": "●", "Calibration": "◎", "Sessions": "☰", "Review": "▶"}


class MainWindow(QMainWindow):
    def __init__(self, home: Home) -> None:
        super().__init__()
        self.home = home
        self.settings = prefs.settings_for(home)
        self.jobs = Jobs()
        self.setWindowTitle(f"democap — {home.root}")
        self.resize(1280, 800)

        self.devices = DevicesPanel(home, self.jobs)
        self.live = LivePanel(home, self.jobs)
        self.calibration = CalibrationPanel(home, self.jobs)
        self.sessions = SessionsPanel(home, self.jobs)
        self.review = ReviewPanel(home, self.jobs)
        self.sessions.robot_for_processing = lambda: self.live.robot
        self.screens: dict[str, QWidget] = {
            "Devices": self.devices,
            "Live": self.live,
            "Calibration": self.calibration,
            "Sessions": self.sessions,
            "Review": self.review,
        }
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(190)
        for name in SCREENS:
            self.nav.addItem(f"{ICONS[name]}   {name}")
        self.stack = QStackedWidget()
        for name in SCREENS:
            self.stack.addWidget(self.screens[name])
        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.nav)
        lay.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.nav.currentRowChanged.connect(self._screen_changed)

        menu = self.menuBar().addMenu("&File")
        self.export_action = QAction("Export dataset…", self, shortcut=QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(lambda: self.open_export())
        prefs_action = QAction("Preferences…", self, shortcut=QKeySequence("Ctrl+,"))
        prefs_action.triggered.connect(self.open_preferences)
        quit_action = QAction("Quit", self, shortcut=QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)
        for a in (self.export_action, prefs_action, quit_action):
            menu.addAction(a)
        for i, name in enumerate(SCREENS):
            act = QAction(name, self, shortcut=QKeySequence(f"Ctrl+{i + 1}"))
            act.triggered.connect(lambda _c=False, k=i: self.nav.setCurrentRow(k))
            self.addAction(act)
        self.home_label = QLabel(f"Home: {home.root}")
        self.statusBar().addPermanentWidget(self.home_label)

        self.devices.table.model().modelReset.connect(self._sources_changed)
        self.devices.table.itemChanged.connect(lambda _i: self._sources_changed())
        self.live.recording_finished.connect(lambda _s: self.sessions.refresh())
        self.live.verdicts_ready.connect(lambda _r: self.sessions.refresh())
        self.sessions.open_episode.connect(self.open_episode)
        self.review.decided.connect(self._decided)
        self.live.robot_combo.currentTextChanged.connect(
            lambda t: self.settings.setValue("robot", "" if t == "(none)" else t)
        )

        self._sources_changed()
        self._apply_preferences()
        self.sessions.refresh()
        if not self.sessions.sessions:
            self.live.rec_light.set("info", welcome_text())
        self._restore()

    # ---------------------------------------------------------------- wiring
    def source_choices(self) -> list[SourceChoice]:
        out = [
            link_rig(self.home, r.address, r.serial, i) for i, r in enumerate(self.devices.rigs) if r.via != "virtual"
        ]
        return out + [virtual_rig(self.home)]

    def _sources_changed(self) -> None:
        self.live.set_choices(self.source_choices())
        self.calibration.set_live_choices(self.source_choices())

    def _apply_preferences(self) -> None:
        robot = str(prefs.get(self.settings, "robot"))
        if robot:
            self.live.robot_combo.setCurrentText(robot)
        op = str(prefs.get(self.settings, "operator"))
        self.live.operator_edit.setText(op)
        self.review.operator = op

    def _screen_changed(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        if SCREENS[row] == "Sessions":
            self.sessions.refresh()
            if self.sessions.episodes:
                self.sessions.rank_outliers()
        self.statusBar().showMessage(SCREENS[row], 2000)

    def show_screen(self, name: str) -> None:
        self.nav.setCurrentRow(SCREENS.index(name))

    def open_episode(self, session_id: str, index: int) -> None:
        self.settings.setValue("last/session", session_id)
        self.settings.setValue("last/episode", index)
        robot = self.live.robot
        self.review.open(session_id, index, robot)
        self.show_screen("Review")

    def _decided(self, session_id: str, index: int, action: str) -> None:
        self.statusBar().showMessage(f"{session_id} episode {index}: {action}", 4000)
        self.sessions.refresh()

    def open_export(self) -> ExportDialog:
        ids = [s["id"] for s in self.sessions.sessions]
        selected = []
        if self.review.data is not None:
            selected = [self.review.data.session.id]
        dlg = ExportDialog(self.home, self.jobs, self.settings, ids, selected, self)
        if not ids:
            dlg.message.set(
                "warn", "No session yet: record one on the Live screen (the virtual rig works without hardware)."
            )
            dlg.run_btn.setEnabled(False)
        dlg.show()
        return dlg

    def open_preferences(self) -> None:
        dlg = PreferencesDialog(self.home, self.settings, self)
        if dlg.exec():
            self._apply_preferences()

    # ----------------------------------------------------------- persistence
    def _restore(self) -> None:
        geo = self.settings.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        screen = str(self.settings.value("window/screen", ""))
        self.nav.setCurrentRow(
            SCREENS.index(screen)
            if screen in SCREENS
            else (SCREENS.index("Live") if not self.sessions.sessions else SCREENS.index("Sessions"))
        )
        sid = self.settings.value("last/session")
        if sid and (self.home.session_path(str(sid)) / "manifest.json").exists():
            self.review.open(str(sid), int(str(self.settings.value("last/episode", 0))), self.live.robot)

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/screen", SCREENS[self.nav.currentRow()])
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.live.recording:
            ans = QMessageBox.question(self, "Recording", "A recording is running. Stop it and quit?")
            if ans != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.live.stop_recording()
        if self.calibration.live_active:
            self.calibration.stop_live()
        self.save_state()
        self.jobs.wait(15000)
        self.devices.shutdown()
        event.accept()


def welcome_text() -> str:
    return (
        "No rig yet? The virtual rig is ready: press Record. It simulates a camera, IMU and gripper, so "
        "you can record, review and export within minutes."
    )


__all__ = ["MainWindow", "SCREENS", "Qt"]
