"""Live capture: previews, IMU plots, live trajectory, feasibility light, record/stop, episodes.

The recorder writes on its own thread and hands every sample to ``LiveFeed.observe``,
which only keeps references and counters (no copies of images, no Qt calls). The screen
redraws from the feed on a timer; when a redraw or the event loop runs late, the preview
rate halves (and says so) — recording itself is never slowed by the screen.

The rig is tracked live by visual-inertial odometry (``gui.live_tracking``: OnlineVio in its
own process, fed from the same observer, taking only the frames the CPU allows). Its poses
draw the 3-D trajectory (``gui.view3d``, no OpenGL needed) and feed the feasibility light;
the simulator's truth, when the source has one, is only drawn beside it as a comparison.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from democap.home import Home
from devices import base
from gui import theme
from gui.indicators import Metric, StatusLight, header
from gui.live_tracking import INITIALISING, LiveTracker, TrackingSetup, TrackUpdate, setup_for
from gui.sources import SourceChoice, live_pose
from gui.view3d import SceneView3D
from gui.workers import Jobs

log = logging.getLogger(__name__)

IMU_WINDOW_S = 5.0
TRAIL_POINTS = 4000
STATE_CODES = {"ok": 0, "lost": 1, "interpolated": 3}  # democap.model.TrackState values


class LiveFeed:
    """What the recorder's writer thread hands over: latest frames, recent IMU, counters.

    ``observe`` runs on the writer thread: it must stay cheap and never block.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: dict[str, base.CameraFrame] = {}
        self.frame_counts: dict[str, int] = collections.Counter()
        self.dropped: dict[str, int] = collections.Counter()
        self._last_frame_ns: dict[str, int] = {}
        self.frame_period_ns: dict[str, float] = {}
        self.imu_t: collections.deque[int] = collections.deque(maxlen=4000)
        self.imu_gyro: collections.deque[np.ndarray] = collections.deque(maxlen=4000)
        self.imu_accel: collections.deque[np.ndarray] = collections.deque(maxlen=4000)
        self.gripper: collections.deque[tuple[int, float]] = collections.deque(maxlen=2000)
        self.events: collections.deque[base.RigEvent] = collections.deque(maxlen=200)
        self.gaps: list[base.LinkGap] = []
        self.clock_rtt_us: collections.deque[float] = collections.deque(maxlen=50)
        self.last_sample_ns = 0
        self.n_samples = 0
        self.tracker: LiveTracker | None = None  # live VIO takes what it can from here

    def observe(self, s: base.Sample) -> None:
        tracker = self.tracker
        if tracker is not None:
            tracker.observe(s)
        with self.lock:
            self.n_samples += 1
            if isinstance(s, base.CameraFrame):
                name = f"{s.rig}.{s.sensor}"
                self.frames[name] = s
                self.frame_counts[name] += 1
                last = self._last_frame_ns.get(name)
                period = self.frame_period_ns.get(name)
                if last is not None and period:
                    missing = int(round((s.t_host_ns - last) / period)) - 1
                    if missing > 0:
                        self.dropped[name] += missing
                self._last_frame_ns[name] = s.t_host_ns
                self.last_sample_ns = s.t_host_ns
            elif isinstance(s, base.ImuBatch):
                n = len(s.t_host_ns)
                step = max(1, n // 8)  # the plot needs ~50 Hz, not the IMU's 200-1000 Hz
                self.imu_t.extend(s.t_host_ns[::step].tolist())
                self.imu_gyro.extend(s.gyro[::step])
                self.imu_accel.extend(s.accel[::step])
                if n:
                    self.last_sample_ns = int(s.t_host_ns[-1])
            elif isinstance(s, base.GripperSample):
                self.gripper.append((s.t_host_ns, s.width_m))
            elif isinstance(s, base.RigEvent):
                if s.kind in ("episode", "status", "log"):
                    self.events.append(s)
            elif isinstance(s, base.LinkGap):
                self.gaps.append(s)
            elif isinstance(s, base.ClockExchange):
                rtt = (s.t_host_recv_ns - s.t_host_send_ns) - (s.t_device_tx_ns - s.t_device_rx_ns)
                self.clock_rtt_us.append(rtt / 1e3)

    def imu_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self.lock:
            if not self.imu_t:
                return np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3))
            return np.array(self.imu_t), np.array(self.imu_gyro), np.array(self.imu_accel)

    def take_events(self) -> list[base.RigEvent]:
        with self.lock:
            ev = list(self.events)
            self.events.clear()
            return ev


def to_qimage(image: np.ndarray) -> QImage:
    """A QImage sharing nothing with ``image`` (gray, rgb24 or gray16le frames)."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    if image.ndim == 2:
        return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_RGB888).copy()


class LivePanel(QWidget):
    recording_finished = Signal(object)  # Session
    started = Signal(object)  # Recorder, from the worker once the source is open
    verdicts_ready = Signal(object)  # list of (episode index, summary dict)

    def __init__(self, home: Home, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.jobs = jobs
        self.choices: list[SourceChoice] = []
        self.recorder: Any = None
        self.sources: list[Any] = []
        self.feed = LiveFeed()
        self.session: Any = None
        self.robot: str | None = None
        self.operator = ""
        self.preview_hz = 10.0
        self.max_preview_hz = 10.0
        self.degraded = ""
        self.in_episode = False
        self.trail: collections.deque[np.ndarray] = collections.deque(maxlen=TRAIL_POINTS)
        self.trail_t: collections.deque[int] = collections.deque(maxlen=TRAIL_POINTS)
        self.trail_T: collections.deque[np.ndarray] = collections.deque(maxlen=200)
        self.trail_state: collections.deque[int] = collections.deque(maxlen=TRAIL_POINTS)
        self.truth_trail: collections.deque[np.ndarray] = collections.deque(maxlen=TRAIL_POINTS)
        self.truth_errors_m: collections.deque[float] = collections.deque(maxlen=TRAIL_POINTS)
        self.tracker: LiveTracker | None = None
        self.tracking_note = ""
        self.track_state = ""
        self.track_anchor = ""
        self._feasibility_job: Any = None
        self._t_feasibility = 0.0
        self._t_record_start = 0.0
        self._timer_expected = 0.0
        self._active = False
        self._stop_early = False
        self._live_episodes = 0
        self._episode_start = (0, 0, 0)
        self._episode_feasibility: list = []

        root = QHBoxLayout(self)
        root.setContentsMargins(20, 16, 20, 16)
        root.setSpacing(16)

        # -------- left column: controls
        left = QVBoxLayout()
        left.setSpacing(10)
        left.addWidget(
            header("Live capture", "Record demonstrations; mark each one with the rig's trigger or the Space key.")
        )
        form_box = QGroupBox("Recording")
        form = QFormLayout(form_box)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.source_combo = QComboBox()
        self.robot_combo = QComboBox()
        self.task_edit = QLineEdit()
        self.task_edit.setPlaceholderText("e.g. pick the cup and place it on the plate")
        self.operator_edit = QLineEdit()
        form.addRow("Source", self.source_combo)
        form.addRow("Robot", self.robot_combo)
        form.addRow("Task", self.task_edit)
        form.addRow("Operator", self.operator_edit)
        left.addWidget(form_box)
        btns = QHBoxLayout()
        self.record_btn = QPushButton("● Record")
        self.record_btn.setObjectName("primary")
        self.record_btn.setMinimumHeight(36)
        self.episode_btn = QPushButton("Start episode  (Space)")
        self.episode_btn.setEnabled(False)
        self.episode_btn.setMinimumHeight(36)
        btns.addWidget(self.record_btn)
        btns.addWidget(self.episode_btn)
        left.addLayout(btns)

        health = QGroupBox("Health")
        hl = QVBoxLayout(health)
        self.rec_light = StatusLight("Not recording", "idle")
        self.frames_light = StatusLight("Frames: –", "idle")
        self.sync_light = StatusLight("Link and clock sync: –", "idle")
        self.preview_light = StatusLight("Previews at full rate", "idle")
        self.tracking_light = StatusLight("Live tracking: –", "idle")
        self.feasible_light = StatusLight("Feasibility: choose a robot", "idle", size=16)
        for w in (
            self.rec_light,
            self.frames_light,
            self.sync_light,
            self.preview_light,
            self.tracking_light,
            self.feasible_light,
        ):
            hl.addWidget(w)
        left.addWidget(health)

        verdict_box = QGroupBox("Episode verdicts")
        vl = QVBoxLayout(verdict_box)
        self.verdicts = QListWidget()
        self.verdicts.setMinimumHeight(90)
        self.verdicts.setWordWrap(True)
        self.verdicts.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        vl.addWidget(self.verdicts)
        left.addWidget(verdict_box, 1)
        lw = QWidget()
        lw.setLayout(left)
        lw.setFixedWidth(380)
        root.addWidget(lw)

        # -------- right: previews and plots
        right = QGridLayout()
        right.setSpacing(12)
        tiles = QHBoxLayout()
        self.m_time = Metric("Recorded")
        self.m_frames = Metric("Frames")
        self.m_dropped = Metric("Dropped")
        self.m_episodes = Metric("Episodes")
        for m in (self.m_time, self.m_frames, self.m_dropped, self.m_episodes):
            tiles.addWidget(m)
        right.addLayout(tiles, 0, 0, 1, 2)
        self.preview_box = QGroupBox("Cameras")
        self.preview_layout = QHBoxLayout(self.preview_box)
        self.previews: dict[str, QLabel] = {}
        self.no_camera = QLabel("No camera stream yet")
        self.no_camera.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_camera.setObjectName("subtitle")
        self.preview_layout.addWidget(self.no_camera)
        self.preview_box.setMinimumHeight(220)
        self.preview_box.setMinimumWidth(300)
        right.addWidget(self.preview_box, 1, 0)

        traj_box = QGroupBox("Rig trajectory (live tracking, 3-D)")
        tl = QVBoxLayout(traj_box)
        self.track_label = QLabel("Tracking: –")
        self.track_label.setObjectName("subtitle")
        self.track_label.setWordWrap(True)
        tl.addWidget(self.track_label)
        self.view3d = SceneView3D()
        self.view3d.setMinimumHeight(180)
        tl.addWidget(self.view3d, 1)
        right.addWidget(traj_box, 1, 1)

        imu_box = QGroupBox("IMU (last 5 s)")
        il = QHBoxLayout(imu_box)
        self.gyro_plot = pg.PlotWidget()
        self.accel_plot = pg.PlotWidget()
        theme.style_plot(self.gyro_plot, "s", "gyro [rad/s]")
        theme.style_plot(self.accel_plot, "s", "accel [m/s²]")
        colours = ("#ff6b6b", "#3ecf8e", "#4c9aff")
        self.gyro_curves = [self.gyro_plot.plot(pen=pg.mkPen(c, width=1)) for c in colours]
        self.accel_curves = [self.accel_plot.plot(pen=pg.mkPen(c, width=1)) for c in colours]
        for p in (self.gyro_plot, self.accel_plot):
            p.setMinimumHeight(140)
            il.addWidget(p)
        right.addWidget(imu_box, 2, 0, 1, 2)
        right.setRowStretch(1, 3)
        right.setRowStretch(2, 2)
        right.setColumnStretch(0, 2)
        right.setColumnStretch(1, 3)
        rw = QWidget()
        rw.setLayout(right)
        root.addWidget(rw, 1)

        self.record_btn.clicked.connect(self.toggle_recording)
        self.episode_btn.clicked.connect(self.toggle_episode)
        self.robot_combo.currentTextChanged.connect(self._robot_changed)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self).activated.connect(self.toggle_episode)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.started.connect(self._on_started)
        self._fill_robots()

    # ----------------------------------------------------------------- setup
    def set_choices(self, choices: list[SourceChoice]) -> None:
        current = self.source_combo.currentText()
        self.choices = choices
        self.source_combo.clear()
        self.source_combo.addItems([c.label for c in choices])
        if current in [c.label for c in choices]:
            self.source_combo.setCurrentText(current)

    def _fill_robots(self) -> None:
        self.robot_combo.addItem("(none)")
        try:
            from ik.profile import list_profiles

            for name, _path, _builtin in list_profiles(self.home):
                self.robot_combo.addItem(name)
        except Exception as e:  # noqa: BLE001 - no Pinocchio etc.: recording still works
            log.info("robot profiles unavailable: %s", e)

    def _robot_changed(self, name: str) -> None:
        self.robot = None if name in ("", "(none)") else name
        if self.robot:
            # Load the model now, not at the first live check while recording.
            robot = self.robot
            self.jobs.start(lambda: _warm_up(robot, self.home), None, lambda _t: None)
        self.feasible_light.set(
            "idle", f"Feasibility for {self.robot}: waiting for poses" if self.robot else "Feasibility: choose a robot"
        )

    # ------------------------------------------------------------- recording
    @property
    def recording(self) -> bool:
        return self._active

    def toggle_recording(self) -> None:
        if self.recording:
            self.stop_recording()
        else:
            self.start_recording()

    def start_recording(self, seconds: float | None = None) -> None:
        """Open the chosen source and record in a worker; opening a device (or building the simulator)
        never blocks the window."""
        from capture.recorder import Recorder

        if self._active:
            return
        if not self.choices:
            self.rec_light.set("error", "No source: start the virtual rig or pair a rig on the Devices screen.")
            return
        choice = self.choices[max(self.source_combo.currentIndex(), 0)]
        feed = self.feed = LiveFeed()
        for d in (self.trail, self.trail_t, self.trail_T, self.trail_state, self.truth_trail, self.truth_errors_m):
            d.clear()
        self.view3d.clear()
        self.view3d.set_message("")
        self.tracker = None
        self.tracking_note = ""
        self.track_state = ""
        self.track_anchor = ""
        self.tracking_light.set("idle", "Live tracking: starting…")
        self.verdicts.clear()
        self.in_episode = False
        self._live_episodes = 0
        self.degraded = ""
        self.preview_hz = self.max_preview_hz
        self._active = True
        self._stop_early = False
        operator, task, info = self.operator_edit.text(), self.task_edit.text(), dict(choice.source_info)

        def work() -> Any:
            # The tracking process imports gtsam while the source opens (the simulator builds its scene).
            tracker = LiveTracker()
            try:
                sources = choice.make()
                try:
                    rec = Recorder(
                        self.home, sources, operator=operator, task=task, source_info=info, observer=feed.observe
                    )
                except BaseException:
                    for src in sources:
                        src.stop()
                    raise
                for d in rec.descriptions:
                    for c in d.cameras:
                        feed.frame_period_ns[f"{d.rig}.{c.sensor}"] = 1e9 / c.rate_hz
                setup = setup_for(rec.descriptions[0], sources[0])
                if isinstance(setup, TrackingSetup):
                    tracker.configure(setup)
                    feed.tracker = self.tracker = tracker
                else:
                    self.tracking_note = setup
                    tracker.stop()
                self.sources = sources
                self.started.emit(rec)
                return rec.run(seconds, before_close=lambda w: _store_workspace(w, sources[0]))
            finally:
                feed.tracker = None
                tracker.stop()

        self.record_btn.setText("■ Stop")
        self.record_btn.setObjectName("danger")
        self.record_btn.setStyle(self.record_btn.style())
        self.rec_light.set("info", f"Opening {choice.label}…")
        self.jobs.start(work, self._recorded, self._record_failed)

    def _on_started(self, rec: Any) -> None:
        self.recorder = rec
        if self._stop_early:
            rec.stop()
        self._make_previews([f"{d.rig}.{c.sensor}" for d in rec.descriptions for c in d.cameras])
        if self.tracker is not None and self.tracker.setup is not None:
            self.view3d.set_tags(self.tracker.setup.known_tags, self.tracker.setup.tag_size_m)
        self._t_record_start = time.monotonic()
        self.episode_btn.setEnabled(True)
        self.rec_light.set("error", "Recording…")
        self._timer_expected = time.monotonic() + 1 / self.preview_hz
        self.timer.start(int(1000 / self.preview_hz))

    def stop_recording(self) -> None:
        if self.recorder is not None:
            if self.in_episode:
                self.toggle_episode()
            self.recorder.stop()
            self.rec_light.set("warn", "Stopping: writing the last samples…")
        elif self._active:
            self._stop_early = True  # still opening the source: stop as soon as it is open

    def toggle_episode(self) -> None:
        if self.recorder is None:
            return
        self.recorder.mark_episode(not self.in_episode, self.task_edit.text())
        self._episode_edge(not self.in_episode)

    def _episode_edge(self, starting: bool) -> None:
        """An episode started or ended (operator key or the rig's trigger): on an end, the live check."""
        if starting == self.in_episode:
            return
        self.in_episode = starting
        self.episode_btn.setText("End episode  (Space)" if starting else "Start episode  (Space)")
        self.rec_light.set("error", "Recording — in an episode" if starting else "Recording — between episodes")
        with self.feed.lock:
            snapshot = (sum(self.feed.dropped.values()), sum(self.feed.frame_counts.values()), len(self.feed.gaps))
        if starting:
            self._episode_start = snapshot
            self._episode_feasibility = []
            return
        self._live_episodes += 1
        status, reasons = live_episode_check(self._episode_start, snapshot, self._episode_feasibility)
        item = QListWidgetItem(
            f"● Episode {self._live_episodes} (live check): {status.upper()} — "
            f"{'; '.join(reasons) or 'no problem seen live'}. Full verdict after Stop."
        )
        item.setForeground(theme_qcolor(status))
        self.verdicts.addItem(item)
        self.verdicts.scrollToBottom()

    def _recorded(self, session: Any) -> None:
        self.timer.stop()
        self._tick()
        self.recorder = None
        self._active = False
        self.session = session
        self._reset_buttons()
        n = len(session.episodes)
        stopped = session.manifest.get("stopped")
        if stopped and stopped.get("reason") == "disk_full":
            # Processing would write stage outputs onto the full disk: it waits until there is room.
            self.rec_light.set(
                "error",
                f"Recording stopped after {stopped.get('after_s', 0):.1f} s: the disk is full "
                f"({stopped.get('message', '')}). Everything before it is saved in {session.id}. "
                "Free space (or choose another home in Preferences), then process it from Sessions.",
            )
            self.recording_finished.emit(session)
            self.verdicts_ready.emit([])
            return
        self.rec_light.set("info", f"Saved {session.id} ({n} episode(s)). Checking the episodes…")
        self.recording_finished.emit(session)
        self.process_session(session)

    def _record_failed(self, text: str) -> None:
        self.timer.stop()
        self.recorder = None
        self._active = False
        self._reset_buttons()
        self.rec_light.set("error", text)

    def _reset_buttons(self) -> None:
        self.record_btn.setText("● Record")
        self.record_btn.setObjectName("primary")
        self.record_btn.setStyle(self.record_btn.style())
        self.episode_btn.setEnabled(False)
        self.episode_btn.setText("Start episode  (Space)")

    def process_session(self, session: Any) -> None:
        """Run the stages (trajectory, retarget, flags), then show each episode's verdict."""
        from flags.summary import episode_summary
        from gui.isolated import run_isolated

        robot = self.robot

        def work() -> list[tuple[int, dict]]:
            # Tracking (gtsam) and retargeting (Pinocchio) run in the helper process: see gui.isolated.
            run_isolated(process_session_stages, session.path, self.home, robot)
            return [(e.index, episode_summary(session, e)) for e in session.episodes]

        def done(rows: list[tuple[int, dict]]) -> None:
            self.show_verdicts(rows)
            self.rec_light.set("ok", f"Saved {session.id}; {len(rows)} episode(s) checked.")
            self.verdicts_ready.emit(rows)

        def failed(text: str) -> None:
            self.rec_light.set("warn", f"Saved {session.id}, but checking it failed: {text}")
            self.verdicts_ready.emit([])

        self.jobs.start(work, done, failed)

    def show_verdicts(self, rows: list[tuple[int, dict]]) -> None:
        self.verdicts.clear()
        for idx, summary in rows:
            verdict = summary.get("verdict", "unknown")
            reasons = "; ".join(summary.get("reasons", [])) or "no problem found"
            item = QListWidgetItem(f"● Episode {idx}: {verdict.upper()} — {reasons}")
            item.setForeground(theme_qcolor(verdict))
            item.setToolTip(reasons)
            self.verdicts.addItem(item)

    # ---------------------------------------------------------------- redraw
    def _make_previews(self, names: list[str]) -> None:
        for lab in self.previews.values():
            lab.deleteLater()
        self.previews.clear()
        self.no_camera.setVisible(not names)
        if not names:
            self.no_camera.setText("This source has no camera stream (IMU, gripper and trigger only).")
        for n in names:
            lab = QLabel(n)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
            lab.setStyleSheet(f"background: #0d0f12; border-radius: 6px; color: {theme.MUTED};")
            self.preview_layout.addWidget(lab)
            self.previews[n] = lab

    def _tick(self) -> None:
        t_start = time.monotonic()
        late = t_start - self._timer_expected
        feed = self.feed
        with feed.lock:
            frames = dict(feed.frames)
            counts = dict(feed.frame_counts)
            dropped = sum(feed.dropped.values())
            gaps = len(feed.gaps)
            rtt = list(feed.clock_rtt_us)
        for name, f in frames.items():
            lab = self.previews.get(name)
            if lab is not None and lab.width() > 10:
                pm = QPixmap.fromImage(to_qimage(f.image)).scaled(
                    lab.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
                )
                lab.setPixmap(pm)
        t, gyro, accel = feed.imu_arrays()
        if len(t):
            sel = t >= t[-1] - IMU_WINDOW_S * 1e9
            ts = (t[sel] - t[-1]) * 1e-9
            for i in range(3):
                self.gyro_curves[i].setData(ts, gyro[sel, i])
                self.accel_curves[i].setData(ts, accel[sel, i])
        self._update_tracking()
        for ev in feed.take_events():
            if ev.kind == "episode":
                starting = ev.value.startswith("start")
                if ev.t_device_ns != base.NO_DEVICE_TIME:  # the rig's trigger, not our own mark
                    self._episode_edge(starting)
        elapsed = time.monotonic() - self._t_record_start if self.recording else 0.0
        self.m_time.set(f"{elapsed:5.1f} s")
        self.m_frames.set(str(sum(counts.values())) if counts else "–")
        self.m_dropped.set(str(dropped), "error" if dropped else "ok")
        n_ep = self._episode_count()
        self.m_episodes.set(f"{n_ep} + 1 open" if self.in_episode else str(n_ep), "info" if self.in_episode else None)
        if counts:
            self.frames_light.set(
                "error" if dropped else "ok",
                f"{dropped} frame(s) dropped by the camera"
                if dropped
                else f"All frames arriving ({len(counts)} camera(s))",
            )
        else:
            self.frames_light.set("idle", "No camera frames in this source")
        q = self.recorder.stats.queue_max if self.recorder is not None else 0
        if gaps:
            self.sync_light.set("error", f"{gaps} link gap(s): the rig went silent (recorded as gaps)")
        elif rtt:
            self.sync_light.set(
                "ok" if np.median(rtt) < 5000 else "warn",
                f"Clock sync round trip {np.median(rtt) / 1000:.1f} ms; writer queue peak {q}",
            )
        else:
            self.sync_light.set(
                "ok" if feed.n_samples else "idle",
                f"Link OK; writer queue peak {q}" if feed.n_samples else "Waiting for samples…",
            )
        self._maybe_check_feasibility()
        # Degrade the screen, never the recording: slow redraws or a late loop halve the preview rate.
        cost = time.monotonic() - t_start
        period = 1.0 / self.preview_hz
        if (cost > 0.5 * period or late > period) and self.preview_hz > 2.5:
            self.preview_hz /= 2
            self.degraded = f"Previews reduced to {self.preview_hz:.1f} Hz to keep recording safe (busy machine)"
        elif cost < 0.1 * period and late < 0.2 * period and self.preview_hz < self.max_preview_hz:
            self.preview_hz = min(self.max_preview_hz, self.preview_hz * 1.25)
            self.degraded = "" if self.preview_hz >= self.max_preview_hz else self.degraded
        self.preview_light.set(
            "degraded" if self.degraded else "ok", self.degraded or f"Previews at {self.preview_hz:.0f} Hz"
        )
        self.timer.setInterval(int(1000 / self.preview_hz))
        self._timer_expected = time.monotonic() + 1 / self.preview_hz

    def _episode_count(self) -> int:
        return self._live_episodes

    def _update_tracking(self) -> None:
        """Take the live VIO poses that arrived since the last redraw; show state, rate and (sim) error."""
        tracker = self.tracker
        if tracker is None:
            if self.recording and self.tracking_note:
                self.tracking_light.set("idle", f"Live tracking off: {self.tracking_note}")
                self.track_label.setText(f"Tracking: {self.tracking_note}")
                self.view3d.set_message("No live tracking for this source.")
            return
        updates = tracker.poll()
        if tracker.failed:
            self.tracking_light.set("warn", f"Live tracking stopped ({tracker.failed}); recording goes on")
            self.track_state = "failed"
            self.view3d.set_message("Live tracking stopped; the trajectory is computed after recording.")
        truth_source = self.sources[0] if self.sources else None
        for u in updates:
            self._add_pose(u, truth_source)
        if updates:
            p = np.array(self.trail) if self.trail else np.zeros((0, 3))
            self.view3d.set_trajectory(p, np.array(self.trail_state, np.uint8))
            self.view3d.set_pose(self.trail_T[-1] if self.trail_T and self.track_state != INITIALISING else None)
            if self.truth_trail:
                self.view3d.set_reference(np.array(self.truth_trail))
        if tracker.failed:
            return
        last = tracker.last
        tracked_hz, cam_hz = tracker.rates_hz()
        if not tracker.ready:
            self.tracking_light.set("info", "Live tracking: starting the tracker…")
            self.track_label.setText("Tracking: starting…")
            self.view3d.set_message("Starting live tracking…")
            return
        if last is None:
            self.tracking_light.set("info", "Live tracking: waiting for frames")
            return
        cap = tracker.setup.max_rate_hz if tracker.setup is not None else cam_hz
        wanted = min(cap, cam_hz) if cam_hz else cap
        reduced = tracked_hz < 0.75 * wanted
        rate = f"VIO {tracked_hz:.0f} Hz of {cam_hz:.0f} fps"
        if reduced:
            rate += " — reduced to keep recording safe (busy CPU)"
        elif cam_hz > cap * 1.1:
            rate += f" (capped at {cap:.0f} Hz)"
        state = last.state
        light = {"ok": "ok", "interpolated": "warn", "lost": "error"}.get(state, "info")
        if reduced and light == "ok":
            light = "degraded"
        if state == "lost":
            self.tracking_light.set(
                "error", f"Tracking LOST · {rate}: point the camera at the textured table or a tag; recording goes on"
            )
        else:
            self.tracking_light.set(light, f"Tracking {state.upper()} · {rate}")
        self.view3d.set_message("Initialising: move the rig gently…" if state == INITIALISING else "")
        parts = [f"Tracking: {state.upper()}"]
        if state != INITIALISING:
            parts.append(f"{last.inliers} inliers")
            parts.append(f"world: {last.anchor}")
        else:
            parts.append("move the rig gently while the tracker starts")
        if self.truth_errors_m:
            err = np.array(self.truth_errors_m)[-50:]
            parts.append(f"error vs simulator truth (dashed) {np.median(err) * 100:.1f} cm")
        self.track_label.setText(" · ".join(parts))

    def _add_pose(self, u: TrackUpdate, truth_source: Any) -> None:
        self.track_state = u.state
        if u.T_world_imu is None:
            return
        if u.anchor != self.track_anchor:
            # The world frame changed (e.g. the first table tag came into view): earlier poses are
            # in the old frame, so the trail starts again rather than jump.
            self.track_anchor = u.anchor
            for d in (self.trail, self.trail_t, self.trail_T, self.trail_state, self.truth_trail):
                d.clear()
        self.trail.append(u.T_world_imu[:3, 3].copy())
        self.trail_state.append(STATE_CODES.get(u.state, 1))
        if u.state in ("ok", "interpolated"):  # only tracked poses feed the feasibility check
            self.trail_T.append(u.T_world_imu)
            self.trail_t.append(u.t_ns)
        T_true = live_pose(truth_source, u.t_ns) if truth_source is not None else None
        if T_true is not None:
            self.truth_trail.append(T_true[:3, 3].copy())
            self.truth_errors_m.append(float(np.linalg.norm(T_true[:3, 3] - u.T_world_imu[:3, 3])))

    # ----------------------------------------------------------- feasibility
    def _maybe_check_feasibility(self) -> None:
        if not self.robot or len(self.trail) < 10:
            return
        now = time.monotonic()
        if self._feasibility_job is not None:
            return  # the previous check is still running: skip (the light degrades, not the recording)
        if now - self._t_feasibility < 2.0:
            return
        self._t_feasibility = now
        robot = self.robot
        # The last ~200 live poses, decimated to 40: enough for reach, limits and speed.
        n = len(self.trail_T)
        idx = np.linspace(0, n - 1, min(n, 40)).astype(int)
        T_world_body = np.array(self.trail_T)[idx]
        t_ns = np.array(self.trail_t, dtype=np.int64)[-n:][idx]

        calib = self.recorder.descriptions[0].calibration if self.recorder is not None else None

        def work() -> list:
            return live_feasibility(robot, self.home, t_ns, T_world_body, calib)

        def done(flags: list) -> None:
            self._feasibility_job = None
            if self.in_episode:
                self._episode_feasibility += [f for f in flags if f.severity in ("warn", "error")]
            errors = sorted({f.kind.split(".")[-1] for f in flags if f.severity == "error"})
            warns = sorted({f.kind.split(".")[-1] for f in flags if f.severity == "warn"})
            if errors:
                self.feasible_light.set("infeasible", f"{robot}: cannot follow — {', '.join(errors)}")
            elif warns:
                self.feasible_light.set("warn", f"{robot}: marginal — {', '.join(warns)}")
            else:
                self.feasible_light.set("feasible", f"{robot}: feasible over the last {len(t_ns)} poses")

        def failed(text: str) -> None:
            self._feasibility_job = None
            self.feasible_light.set("unknown", f"Feasibility unavailable: {text}")

        self._feasibility_job = self.jobs.start(work, done, failed)


def live_episode_check(
    start: tuple[int, int, int], end: tuple[int, int, int], feasibility: list
) -> tuple[str, list[str]]:
    """What recording saw during one episode, as a provisional status: (usable|check|redo, reasons).

    ``start``/``end``: (dropped frames, frames, link gaps) counters; ``feasibility``: the live
    embodiment flags (warn/error) raised while the episode ran. The verdict that counts is
    ``flags.summary``'s, computed when the session is processed.
    """
    dropped, frames, gaps = (b - a for a, b in zip(start, end, strict=True))
    reasons, status = [], "usable"
    if gaps:
        status = "redo"
        reasons.append(f"{gaps} link gap(s)")
    if frames and dropped / (frames + dropped) > 0.05:
        status = "redo"
        reasons.append(f"{dropped} frames dropped ({dropped / (frames + dropped):.0%})")
    elif dropped:
        status = "check" if status == "usable" else status
        reasons.append(f"{dropped} frame(s) dropped")
    kinds = sorted({f.kind.split(".")[-1] for f in feasibility if f.severity == "error"})
    if kinds:
        status = "redo"
        reasons.append(f"robot cannot follow: {', '.join(kinds)}")
    elif feasibility:
        status = "check" if status == "usable" else status
        reasons.append("robot marginal: " + ", ".join(sorted({f.kind.split(".")[-1] for f in feasibility})))
    return status, reasons


def live_feasibility(
    robot_name: str, home: Home, t_ns: np.ndarray, T_world_imu: np.ndarray, calibration: Any = None
) -> list:
    """Embodiment flags of ``ik`` on a decimated live window of rig IMU poses (N, 4, 4), in the helper process."""
    from gui.isolated import run_isolated
    from ik.live import feasibility_window

    return run_isolated(feasibility_window, robot_name, home, np.asarray(t_ns), np.asarray(T_world_imu), calibration)


def theme_qcolor(status: str) -> Any:
    from PySide6.QtGui import QColor

    return QColor(theme.status_colour(status))


def _warm_up(robot: str, home: Home) -> bool:
    from gui.isolated import run_isolated
    from ik.live import warm_up

    return run_isolated(warm_up, robot, home)


def _store_workspace(writer: Any, source: Any) -> None:
    """A source that knows its workspace tags (the virtual rig) records them, as ``capture.virtual`` does:
    tracking after recording then anchors to the same surveyed tags as the live view, and review draws them."""
    workspace = getattr(source, "workspace", None)
    if not callable(workspace):
        return
    ws = workspace()
    writer.update(
        workspace={
            "table_tag_id": int(ws["table_tag_id"]),
            "tag_size_m": float(ws["tag_size_m"]),
            "tag_family": "tag36h11",
            "tags": {str(k): np.asarray(v).tolist() for k, v in sorted(ws["tags"].items())},
        }
    )


def process_session_stages(session_path: Any, home: Home, robot: str | None) -> bool:
    """Runs in the helper process: the stale stages of a freshly recorded session."""
    from capture.session import Session
    from democap.pipeline import process

    process(Session(session_path), home, robot=robot)
    return True
