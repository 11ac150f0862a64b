"""Sessions screen: the catalog's sessions and episodes with search, filters and outlier ranking.

Reads ``capture.catalog.Catalog`` only; opening an episode hands it to the review screen.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from capture.catalog import Catalog
from democap.home import Home
from gui import theme
from gui.indicators import header
from gui.outliers import EpisodeMetrics, episode_metrics, rank
from gui.workers import Jobs

log = logging.getLogger(__name__)

REVIEW_FILTERS = ("all", "pending", "accepted", "rejected")


def _table(columns: tuple[str, ...]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.verticalHeader().setVisible(False)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setAlternatingRowColors(True)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    return t


def load_catalog(home: Home, text: str = "", review: str = "all") -> tuple[list[dict], list[dict]]:
    """Sessions and episodes matching a search text (id, operator, task) and a review state."""
    cat = Catalog(home)
    try:
        sessions = cat.sessions()
        where, params = [], []
        if review != "all":
            where.append("review = ?")
            params.append(review)
        episodes = list(cat.db["episodes"].rows_where(" and ".join(where) or None, params, order_by="session_id, idx"))
        flag_counts = {
            (r[0], r[1]): r[2]
            for r in cat.db.execute(
                "select e.session_id, e.idx, count(f.kind) from episodes e left join flags f on f.session_id = "
                "e.session_id and f.t1_ns > e.t0_ns and f.t0_ns < e.t1_ns group by e.session_id, e.idx"
            ).fetchall()
        }
    finally:
        cat.close()
    needle = text.strip().lower()
    if needle:
        tasks = {e["session_id"] for e in episodes if needle in (e.get("task") or "").lower()}
        sessions = [
            s
            for s in sessions
            if needle in s["id"].lower() or needle in (s.get("operator") or "").lower() or s["id"] in tasks
        ]
        keep = {s["id"] for s in sessions}
        episodes = [
            e
            for e in episodes
            if e["session_id"] in keep
            and (
                needle in (e.get("task") or "").lower()
                or needle in e["session_id"].lower()
                or needle
                in (next((s.get("operator") or "" for s in sessions if s["id"] == e["session_id"]), "")).lower()
            )
        ]
    if review != "all":
        keep = {e["session_id"] for e in episodes}
        sessions = [s for s in sessions if s["id"] in keep]
    for e in episodes:
        e["n_flags"] = flag_counts.get((e["session_id"], e["idx"]), 0)
    return sessions, episodes


def outlier_metrics(
    home: Home, session_ids: list[str], verdicts: dict[tuple[str, int], str] | None = None
) -> list[EpisodeMetrics]:
    """Ranked metrics of every episode; ``verdicts`` (if given) receives each ``flags.summary`` verdict."""
    from capture.artifacts import load_trajectory, session_flags
    from capture.session import Session
    from flags.summary import episode_summary

    out = []
    for sid in session_ids:
        try:
            s = Session(home.session_path(sid))
            flags = session_flags(s)
            try:
                traj = load_trajectory(s, (s.rigs or ["rig0"])[0])
                t: Any = traj.t_ns
                p: Any = traj.T_world_body[:, :3, 3]
            except Exception:  # noqa: BLE001 - not processed yet: ranked on flags only
                t, p = None, None
            out += [episode_metrics(sid, e, t, p, flags) for e in s.episodes]
            if verdicts is not None:
                for e in s.episodes:
                    try:
                        verdicts[(sid, e.index)] = episode_summary(s, e, flags)["verdict"]
                    except Exception as ex:  # noqa: BLE001 - an unprocessed session has no verdict yet
                        log.info("verdict of %s#%d: %s", sid, e.index, ex)
        except Exception as e:  # noqa: BLE001 - one unreadable session must not hide the rest
            log.warning("outliers of %s: %s", sid, e)
    return rank(out)


class SessionsPanel(QWidget):
    open_episode = Signal(str, int)  # session id, episode index

    S_COLS = ("Session", "Recorded", "Operator", "Duration", "Episodes", "Source", "Stages")
    E_COLS = ("Session", "#", "Task", "Duration", "Verdict", "Review", "Flags", "Outlier score")

    def __init__(self, home: Home, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.jobs = jobs
        self.sessions: list[dict] = []
        self.episodes: list[dict] = []
        self.scores: dict[tuple[str, int], EpisodeMetrics] = {}
        self.verdicts: dict[tuple[str, int], str] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.setSpacing(10)
        lay.addWidget(
            header(
                "Sessions",
                "Everything recorded or imported into this home folder. Double-click an episode to review it.",
            )
        )
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search session, operator or task…")
        self.search.setClearButtonEnabled(True)
        self.review_filter = QComboBox()
        self.review_filter.addItems(REVIEW_FILTERS)
        self.rank_btn = QPushButton("Rank outliers")
        self.refresh_btn = QPushButton("Refresh")
        self.process_btn = QPushButton("Process")
        self.process_btn.setToolTip(
            "Track, retarget and flag the selected session (only stale stages run; same as `democap process`)"
        )
        #: The robot to retarget to when processing (the main window wires the live screen's choice).
        self.robot_for_processing: Any = lambda: None
        self.open_btn = QPushButton("Review episode")
        self.open_btn.setObjectName("primary")
        bar.addWidget(self.search, 3)
        bar.addWidget(QLabel("Review:"))
        bar.addWidget(self.review_filter)
        bar.addWidget(self.rank_btn)
        bar.addWidget(self.refresh_btn)
        bar.addWidget(self.process_btn)
        bar.addWidget(self.open_btn)
        lay.addLayout(bar)
        split = QSplitter(Qt.Orientation.Vertical)
        self.s_table = _table(self.S_COLS)
        self.e_table = _table(self.E_COLS)
        self.e_table.setSortingEnabled(False)
        split.addWidget(self.s_table)
        split.addWidget(self.e_table)
        for t in (self.s_table, self.e_table):
            t.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        split.setSizes([300, 400])
        lay.addWidget(split, 1)
        self.summary = QLabel("")
        self.summary.setObjectName("subtitle")
        lay.addWidget(self.summary)

        self.search.textChanged.connect(lambda _t: self.refresh())
        self.review_filter.currentTextChanged.connect(lambda _t: self.refresh())
        self.refresh_btn.clicked.connect(self.refresh)
        self.rank_btn.clicked.connect(lambda: self.rank_outliers())
        self.process_btn.clicked.connect(lambda: self.process_selected())
        self.open_btn.clicked.connect(self._open_selected)
        self.e_table.cellDoubleClicked.connect(lambda r, _c: self._open_row(r))
        self.s_table.itemSelectionChanged.connect(self._session_selected)

    def refresh(self) -> None:
        try:
            self.sessions, self.episodes = load_catalog(self.home, self.search.text(), self.review_filter.currentText())
        except Exception as e:  # noqa: BLE001 - e.g. a damaged catalog: say how to fix it
            from gui.workers import error_text

            self.summary.setText(error_text(e))
            return
        self._fill_sessions()
        self._fill_episodes(self.episodes)
        n_acc = sum(e["review"] == "accepted" for e in self.episodes)
        n_rej = sum(e["review"] == "rejected" for e in self.episodes)
        self.summary.setText(
            f"{len(self.sessions)} session(s), {len(self.episodes)} episode(s): "
            f"{n_acc} accepted, {n_rej} rejected, {len(self.episodes) - n_acc - n_rej} to review"
        )

    def _fill_sessions(self) -> None:
        t = self.s_table
        t.setRowCount(len(self.sessions))
        for i, s in enumerate(reversed(self.sessions)):
            when = dt.datetime.fromtimestamp(s["created_realtime_ns"] / 1e9).strftime("%Y-%m-%d %H:%M")
            stages = ", ".join(sorted(json.loads(s.get("stages") or "{}"))) or "not processed"
            for j, text in enumerate(
                (
                    s["id"],
                    when,
                    s.get("operator") or "–",
                    f"{s['duration_s']:.1f} s",
                    str(s["n_episodes"]),
                    s.get("source_kind") or "–",
                    stages,
                )
            ):
                t.setItem(i, j, QTableWidgetItem(text))

    def _fill_episodes(self, episodes: list[dict]) -> None:
        t = self.e_table
        t.setRowCount(len(episodes))
        for i, e in enumerate(episodes):
            key = (e["session_id"], e["idx"])
            m = self.scores.get(key)
            verdict = self.verdicts.get(key, "–")
            cells = (
                e["session_id"],
                str(e["idx"]),
                e.get("task") or "–",
                f"{e['duration_s']:.1f} s",
                verdict,
                e["review"],
                str(e.get("n_flags", 0)),
                f"{m.score:.1f}" if m else "–",
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 4:
                    item.setForeground(_qcolor(verdict))
                if j == 5:
                    item.setForeground(_qcolor(e["review"]))
                if j == 7 and m:
                    item.setToolTip(
                        f"jerk {m.jerk_m_s3:.2f} m/s³, still {m.still_share:.0%}, "
                        f"{m.n_flags} flag(s) ({m.n_error_flags} errors)"
                    )
                t.setItem(i, j, item)
        self._shown = episodes

    def _session_selected(self) -> None:
        rows = self.s_table.selectionModel().selectedRows()
        if not rows:
            return
        item = self.s_table.item(rows[0].row(), 0)
        if item is None:
            return
        sid = item.text()
        self._fill_episodes([e for e in self.episodes if e["session_id"] == sid])

    def selected_session(self) -> str | None:
        rows = self.s_table.selectionModel().selectedRows()
        item = self.s_table.item(rows[0].row(), 0) if rows else None
        return item.text() if item is not None else None

    def process_selected(self, on_done: Any = None) -> None:
        """Run the session's stale stages (trajectory, retargeting, flags) in the helper process."""
        from gui.isolated import run_isolated
        from gui.live_panel import process_session_stages

        sid = self.selected_session()
        if sid is None:
            self.summary.setText("Select a session to process.")
            return
        path, robot = self.home.sessions / sid, self.robot_for_processing()
        self.process_btn.setEnabled(False)
        self.summary.setText(f"Processing {sid}: tracking, {'retargeting to ' + robot + ', ' if robot else ''}flags…")

        def done(_ok: bool) -> None:
            self.process_btn.setEnabled(True)
            self.refresh()
            self.summary.setText(f"Processed {sid}" + (f" for {robot}" if robot else "") + ". " + self.summary.text())
            if on_done:
                on_done(sid)

        def failed(text: str) -> None:
            self.process_btn.setEnabled(True)
            self.summary.setText(f"Processing {sid} failed: {text}")

        self.jobs.start(lambda: run_isolated(process_session_stages, path, self.home, robot), done, failed)

    def rank_outliers(self, on_done: Any = None) -> None:
        ids = sorted({e["session_id"] for e in self.episodes})
        self.summary.setText("Checking verdicts and ranking episodes by jerk, stillness and flags…")

        verdicts: dict[tuple[str, int], str] = {}

        def done(metrics: list[EpisodeMetrics]) -> None:
            self.scores = {(m.session, m.episode): m for m in metrics}
            self.verdicts = verdicts
            order = {(m.session, m.episode): i for i, m in enumerate(metrics)}
            ranked = sorted(self.episodes, key=lambda e: order.get((e["session_id"], e["idx"]), 1 << 30))
            self._fill_episodes(ranked)
            redo = sum(v == "redo" for v in verdicts.values())
            self.summary.setText(f"{len(metrics)} episode(s) ranked, most unusual first; {redo} to redo.")
            if on_done:
                on_done(metrics)

        self.jobs.start(lambda: outlier_metrics(self.home, ids, verdicts), done, self.summary.setText)

    def _open_selected(self) -> None:
        rows = self.e_table.selectionModel().selectedRows()
        self._open_row(rows[0].row() if rows else 0)

    def _open_row(self, row: int) -> None:
        shown = getattr(self, "_shown", [])
        if 0 <= row < len(shown):
            self.open_episode.emit(shown[row]["session_id"], int(shown[row]["idx"]))


def _qcolor(status: str) -> Any:
    from PySide6.QtGui import QColor

    return QColor(theme.status_colour(status))
