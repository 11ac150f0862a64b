"""Export dialog (format, robot, policy, split, progress, cancel) and preferences.

Calls ``export.run`` in a background job; its ``Progress`` reaches the bar and the Cancel
button reaches the export through ``Progress.cancel_requested``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from democap.home import Home
from gui import settings as prefs
from gui.indicators import StatusLight
from gui.workers import Job, Jobs

log = logging.getLogger(__name__)


def _robots(home: Home) -> list[str]:
    try:
        from ik.profile import list_profiles

        return [n for n, _p, _b in list_profiles(home)]
    except Exception:  # noqa: BLE001 - robot profiles need Pinocchio; export works without a robot
        return []


def load_policy(path: str) -> Any:
    """The export policy in ``path`` (JSON/YAML) or the default; read by the export CLI's reader."""
    from export.cli import _policy

    return _policy(path or None)


def describe_policy(policy: Any) -> str:
    lines = [f"{r.kind:<32} {r.min_severity:>5}+  → {r.action}" for r in policy.rules]
    lines.append(f"{'anything else':<32} {'':>6}  → {policy.default}")
    lines.append(f"rejected episodes: {'excluded' if policy.respect_rejections else 'kept'}")
    return "\n".join(lines)


class ExportDialog(QDialog):
    def __init__(
        self,
        home: Home,
        jobs: Jobs,
        settings: QSettings,
        session_ids: list[str],
        selected_ids: list[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export dataset")
        self.setMinimumWidth(620)
        self.home, self.jobs, self.settings = home, jobs, settings
        self.all_ids, self.selected_ids = session_ids, selected_ids or []
        self.job: Job | None = None
        self.result: Any = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.setSpacing(10)
        from gui.indicators import header

        lay.addWidget(
            header(
                "Export dataset",
                "Accepted and pending episodes go through the policy; rejected "
                "ones stay out. A datasheet is written beside the data.",
            )
        )
        form = QFormLayout()
        form.setSpacing(8)
        self.scope_all = QRadioButton(f"All sessions ({len(session_ids)})")
        self.scope_sel = QRadioButton(f"Selected session ({len(self.selected_ids)})")
        self.scope_sel.setEnabled(bool(self.selected_ids))
        self.scope_all.setChecked(True)
        scope = QHBoxLayout()
        scope.addWidget(self.scope_all)
        scope.addWidget(self.scope_sel)
        form.addRow("Sessions", scope)
        from export import FORMATS

        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.format.setCurrentText(str(prefs.get(settings, "export/format")))
        form.addRow("Format", self.format)
        self.robot = QComboBox()
        self.robot.addItem("(TCP pose + gripper)")
        self.robot.addItems(_robots(home))
        r = str(prefs.get(settings, "robot"))
        if r:
            self.robot.setCurrentText(r)
        form.addRow("Robot", self.robot)
        pol = QHBoxLayout()
        self.policy_path = QLineEdit(str(prefs.get(settings, "export/policy")))
        self.policy_path.setPlaceholderText("default policy")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_policy)
        pol.addWidget(self.policy_path, 1)
        pol.addWidget(browse)
        form.addRow("Policy", pol)
        self.policy_view = QPlainTextEdit()
        self.policy_view.setReadOnly(True)
        self.policy_view.setMaximumHeight(110)
        self.policy_view.setStyleSheet("font-family: monospace; font-size: 9pt;")
        form.addRow("", self.policy_view)
        self.split = QDoubleSpinBox()
        self.split.setRange(0.0, 0.5)
        self.split.setSingleStep(0.05)
        self.split.setValue(float(prefs.get(settings, "export/split_val")))  # type: ignore[arg-type]
        form.addRow("Validation share", self.split)
        out = QHBoxLayout()
        self.out_dir = QLineEdit(str(home.exports / "dataset"))
        ob = QPushButton("Browse…")
        ob.clicked.connect(self._browse_out)
        out.addWidget(self.out_dir, 1)
        out.addWidget(ob)
        form.addRow("Output folder", out)
        lay.addLayout(form)
        self.progress = QProgressBar()
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        self.message = StatusLight("Ready.", "idle")
        lay.addWidget(self.message)
        self.buttons = QDialogButtonBox()
        self.run_btn = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.run_btn.setObjectName("primary")
        self.cancel_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.cancel)
        lay.addWidget(self.buttons)
        self.policy_path.textChanged.connect(self._show_policy)
        self._show_policy()

    def _browse_policy(self) -> None:
        p, _ = QFileDialog.getOpenFileName(self, "Export policy", str(self.home.root), "Policy (*.json *.yaml *.yml)")
        if p:
            self.policy_path.setText(p)

    def _browse_out(self) -> None:
        p = QFileDialog.getExistingDirectory(self, "Output folder", str(self.home.exports))
        if p:
            self.out_dir.setText(p)

    def _show_policy(self) -> None:
        try:
            self.policy_view.setPlainText(describe_policy(load_policy(self.policy_path.text().strip())))
            self.run_btn.setEnabled(True)
        except Exception as e:  # noqa: BLE001 - a bad policy file is a message, and Export waits
            from gui.workers import error_text

            self.policy_view.setPlainText(error_text(e))
            self.run_btn.setEnabled(False)

    def start(self) -> None:
        from capture.session import Session
        from export import run

        ids = self.selected_ids if self.scope_sel.isChecked() else self.all_ids
        fmt = self.format.currentText()
        robot = None if self.robot.currentIndex() == 0 else self.robot.currentText()
        split = {"val": self.split.value()} if self.split.value() > 0 else None
        out = Path(self.out_dir.text()).expanduser()
        try:
            policy = load_policy(self.policy_path.text().strip())
        except Exception as e:  # noqa: BLE001
            from gui.workers import error_text

            self.message.set("error", error_text(e))
            return
        self.settings.setValue("export/format", fmt)
        self.settings.setValue("export/policy", self.policy_path.text().strip())
        home = self.home

        def work() -> Any:
            sessions = [Session(home.session_path(i)) for i in ids]
            return run(sessions, fmt, out, policy, robot=robot, split=split)

        self.run_btn.setEnabled(False)
        self.cancel_btn.setText("Cancel export")
        self.message.set("info", f"Exporting {len(ids)} session(s) as {fmt}…")
        self.job = self.jobs.start(work, self._done, self._failed, self._progress)

    def _progress(self, label: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{label}: %p%")

    def _done(self, res: Any) -> None:
        self.job = None
        self.result = res
        self.progress.setValue(self.progress.maximum())
        self.message.set(
            "ok",
            f"Exported {res.episodes} episode(s), {res.frames} frames to {res.out_dir} "
            f"({len(res.excluded)} excluded; see DATASHEET.md).",
        )
        self.cancel_btn.setText("Close")
        self.run_btn.setEnabled(True)

    def _failed(self, text: str) -> None:
        self.job = None
        self.message.set(
            "error" if text != "Cancelled." else "warn",
            text if text != "Cancelled." else "Export cancelled; the partial output can be deleted.",
        )
        self.cancel_btn.setText("Close")
        self.run_btn.setEnabled(True)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.message.set("warn", "Cancelling…")
            return
        self.reject()


class PreferencesDialog(QDialog):
    """Home folder (takes effect on restart), default robot, operator and export format."""

    def __init__(self, home: Home, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(520)
        self.settings = settings
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        form = QFormLayout()
        self.home_edit = QLineEdit(str(home.root))
        form.addRow("Home folder", self.home_edit)
        note = QLabel("A new home folder is used from the next start (or set DEMOCAP_HOME).")
        note.setObjectName("subtitle")
        form.addRow("", note)
        self.robot = QComboBox()
        self.robot.addItem("")
        self.robot.addItems(_robots(home))
        self.robot.setCurrentText(str(prefs.get(settings, "robot")))
        form.addRow("Robot profile", self.robot)
        robots_dir = QLabel(f"Your own profiles (YAML) go in {home.robots}")
        robots_dir.setObjectName("subtitle")
        form.addRow("", robots_dir)
        self.operator = QLineEdit(str(prefs.get(settings, "operator")))
        form.addRow("Operator", self.operator)
        from export import FORMATS

        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.format.setCurrentText(str(prefs.get(settings, "export/format")))
        form.addRow("Default export format", self.format)
        lay.addLayout(form)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.save)
        bb.rejected.connect(self.reject)
        lay.addWidget(bb)

    def save(self) -> None:
        s = self.settings
        s.setValue("robot", self.robot.currentText())
        s.setValue("operator", self.operator.text())
        s.setValue("export/format", self.format.currentText())
        # The chosen home is remembered in the user's global settings (the home's own file lives in it).
        QSettings("democap", "democap").setValue("home", self.home_edit.text())
        self.accept()
