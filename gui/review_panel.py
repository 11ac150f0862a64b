"""Episode review: video scrubber synced with a 3-D view of the rig trajectory and the retargeted
robot (Pinocchio forward kinematics of its decimated visual meshes, a stick figure when those
cannot be loaded), joint plots and the flag timeline;
accept / reject / trim / annotate from the keyboard.

Keys: Space play/pause, ←/→ one frame, A accept, R reject, I/O set trim in/out, T trim,
N note. Every decision is appended to the session (``Session.add_decision``) and the
catalog row is refreshed (``capture.catalog.refresh_session``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from capture.session import Session
from democap.home import Home
from democap.model import Decision, Episode, Flag, review_of
from gui import theme
from gui.indicators import StatusLight, header
from gui.live_panel import to_qimage
from gui.view3d import SceneView3D
from gui.workers import Jobs

log = logging.getLogger(__name__)

#: Frames decoded for scrubbing at most (longer episodes are decimated).
MAX_FRAMES = 600


@dataclass
class EpisodeData:
    """Everything the review screen draws for one episode, loaded in a worker."""

    session: Session
    episode: Episode
    frame_t_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    frames: list[np.ndarray] = field(default_factory=list)
    camera: str = ""
    traj_t_ns: np.ndarray | None = None
    traj_p: np.ndarray | None = None  # (N, 3) world positions of the rig
    T_world_imu_traj: np.ndarray | None = None  # (N, 4, 4) T_world_imu
    traj_state: np.ndarray | None = None  # (N,) TrackState
    tags: dict[int, np.ndarray] = field(default_factory=dict)  # T_world_tag (4, 4) of the table tags
    tag_size_m: float = 0.08
    robot: str = ""
    joint_names: tuple[str, ...] = ()
    joint_t_ns: np.ndarray | None = None
    joint_q: np.ndarray | None = None
    robot_points: np.ndarray | None = None  # (M, K, 3) joint origins in world, per FK sample
    joint_t_ns_fk: np.ndarray | None = None  # (M,) times of the FK samples
    robot_meshes: Any = None  # ik.meshes.RobotMeshes, None when the meshes cannot be loaded
    T_world_geom: np.ndarray | None = None  # (M, G, 4, 4) pose of each mesh per FK sample
    mesh_problem: str = ""  # why the robot is drawn as a stick figure
    flags: list[Flag] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)


def robot_skeleton(
    robot_name: str, home: Home, q: np.ndarray, T_world_base: np.ndarray, max_samples: int = MAX_FRAMES
) -> tuple[np.ndarray, np.ndarray]:
    """Joint origins in the world (M, K, 3) by Pinocchio forward kinematics, in the helper process."""
    from gui.isolated import run_isolated
    from ik.live import skeleton_points

    return run_isolated(skeleton_points, robot_name, home, np.asarray(q), np.asarray(T_world_base), max_samples)


def robot_meshes(
    robot_name: str, home: Home, q: np.ndarray, T_world_base: np.ndarray, max_samples: int = MAX_FRAMES
) -> tuple[np.ndarray, Any, np.ndarray]:
    """Decimated visual meshes (cached per home) and their poses T_world_geom (M, G, 4, 4), in the helper process.

    The samples are those of ``robot_skeleton`` for the same arguments.
    """
    from gui.isolated import run_isolated
    from ik.meshes import review_meshes

    return run_isolated(review_meshes, robot_name, home, np.asarray(q), np.asarray(T_world_base), max_samples)


def load_episode(home: Home, session_id: str, index: int, robot: str | None = None) -> EpisodeData:
    from capture.artifacts import load_trajectory, read_joints, session_flags, stage_dir
    from flags.summary import episode_summary

    s = Session(home.session_path(session_id))
    ep = next((e for e in s.episodes if e.index == index), None)
    if ep is None:
        from democap.errors import SessionFormatError

        raise SessionFormatError(f"episode {index} not found; the session has {len(s.episodes)}", s.path)
    d = EpisodeData(s, ep)
    cams = s.streams_of("video")
    if cams:
        d.camera = cams[0]
        t = s.columns(d.camera)["t_host_ns"].astype(np.int64)
        inside = np.flatnonzero((t >= ep.t0_ns) & (t < ep.t1_ns))
        if len(inside):
            step = max(1, len(inside) // MAX_FRAMES)
            start, stop = int(inside[0]), int(inside[-1]) + 1
            for _k, img in s.frames(d.camera, start, stop, step):
                d.frames.append(img)
            d.frame_t_ns = t[start:stop:step][: len(d.frames)]
    rig = (s.rigs or ["rig0"])[0]
    try:
        traj = load_trajectory(s, rig)
        sel = (traj.t_ns >= ep.t0_ns) & (traj.t_ns < ep.t1_ns)
        d.traj_t_ns, d.traj_p = traj.t_ns[sel], traj.T_world_body[sel, :3, 3]
        d.T_world_imu_traj, d.traj_state = traj.T_world_body[sel], traj.state[sel]
    except Exception as e:  # noqa: BLE001 - not processed: the view says so
        log.info("no trajectory for %s: %s", session_id, e)
    workspace = s.manifest.get("workspace", {})
    d.tags = {int(k): np.asarray(v, dtype=np.float64) for k, v in workspace.get("tags", {}).items()}
    d.tag_size_m = float(workspace.get("tag_size_m", 0.08))
    folder = stage_dir(s, "retarget")
    robots = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.exists() else []
    chosen = robot if robot in robots else (robots[0] if robots else "")
    if chosen:
        p = folder / chosen / f"{rig}.parquet"
        if p.exists():
            jt = read_joints(p)
            sel = (jt.t_ns >= ep.t0_ns) & (jt.t_ns < ep.t1_ns)
            d.robot, d.joint_names = chosen, jt.joint_names
            d.joint_t_ns, d.joint_q = jt.t_ns[sel], jt.q[sel]
            if sel.any():
                try:
                    idx, pts = robot_skeleton(chosen, home, jt.q[sel], jt.T_world_base)
                    d.robot_points = pts
                    d.joint_t_ns_fk = d.joint_t_ns[idx]
                except Exception as e:  # noqa: BLE001 - no Pinocchio model: joint plots only
                    log.info("robot FK unavailable: %s", e)
                if d.robot_points is not None:
                    try:
                        _idx, d.robot_meshes, d.T_world_geom = robot_meshes(chosen, home, jt.q[sel], jt.T_world_base)
                    except Exception as e:  # noqa: BLE001 - the stick figure stands in; the view says why
                        log.info("robot meshes unavailable: %s", e)
                        d.mesh_problem = str(e) or type(e).__name__
    d.flags = [f for f in session_flags(s) if f.t1_ns > ep.t0_ns and f.t0_ns < ep.t1_ns]
    try:
        d.verdict = episode_summary(s, ep, d.flags)
    except Exception as e:  # noqa: BLE001 - verdict is advisory
        log.info("no verdict: %s", e)
    return d


class ReviewPanel(QWidget):
    decided = Signal(str, int, str)  # session id, episode, action

    def __init__(self, home: Home, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.jobs = jobs
        self.data: EpisodeData | None = None
        self.frame_pos = 0
        self.trim_in: int | None = None
        self.trim_out: int | None = None
        self.operator = ""
        self.playing = False
        self._play_t0 = 0.0
        self._play_pos0 = 0

        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.setSpacing(10)
        top = QHBoxLayout()
        self.title = header("Review", "Open an episode from the Sessions screen.")
        top.addWidget(self.title, 1)
        self.verdict_light = StatusLight("", "idle", size=14)
        top.addWidget(self.verdict_light, 1)
        lay.addLayout(top)

        grid = QGridLayout()
        grid.setSpacing(12)
        video_box = QGroupBox("Camera")
        vl = QVBoxLayout(video_box)
        self.video = QLabel("No episode")
        self.video.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.video.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.video.setStyleSheet(f"background: #0d0f12; border-radius: 6px; color: {theme.MUTED};")
        vl.addWidget(self.video, 1)
        grid.addWidget(video_box, 0, 0)

        scene_box = QGroupBox("Rig trajectory and retargeted robot (3-D)")
        sl = QVBoxLayout(scene_box)
        self.view3d = SceneView3D()
        sl.addWidget(self.view3d, 1)
        self.scene_legend = QLabel("")
        self.scene_legend.setObjectName("subtitle")
        self.scene_legend.setWordWrap(True)
        sl.addWidget(self.scene_legend)
        grid.addWidget(scene_box, 0, 1)

        self.joint_plot = theme.style_plot(pg.PlotWidget(), "", "joint [rad]")
        self.joint_plot.getAxis("bottom").setStyle(showValues=False)
        self.joint_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.TEXT, width=1))
        self.joint_plot.addItem(self.joint_line)
        self.flag_plot = pg.PlotWidget()
        self.flag_plot.setFixedHeight(90)
        theme.style_plot(self.flag_plot, "episode time [s]")
        # Same axis width on both plots, so the time cursor lines up across them.
        from PySide6.QtGui import QFont

        small = QFont()
        small.setPointSize(8)
        self.flag_plot.getAxis("left").setStyle(tickFont=small)
        for p in (self.joint_plot, self.flag_plot):
            p.getAxis("left").setWidth(120)
        self.flag_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.TEXT, width=1))
        self.flag_plot.addItem(self.flag_line)
        self.flag_plot.setXLink(self.joint_plot)
        jb = QGroupBox("Joints and flags")
        jl = QVBoxLayout(jb)
        jl.addWidget(self.joint_plot, 2)
        jl.addWidget(self.flag_plot, 1)
        self.flag_text = QLabel("")
        self.flag_text.setObjectName("subtitle")
        self.flag_text.setWordWrap(True)
        jl.addWidget(self.flag_text)
        grid.addWidget(jb, 1, 0, 1, 2)
        video_box.setMinimumHeight(300)
        scene_box.setMinimumHeight(300)
        self.joint_plot.setMinimumHeight(90)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 3)
        # The video and the 3-D view get most of the height; the joint plot keeps its minimum.
        grid.setRowStretch(0, 5)
        grid.setRowStretch(1, 2)
        lay.addLayout(grid, 1)

        scrub = QHBoxLayout()
        self.play_btn = QPushButton("▶ Play")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.time_label = QLabel("0.00 s")
        self.time_label.setMinimumWidth(120)
        scrub.addWidget(self.play_btn)
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.time_label)
        lay.addLayout(scrub)

        actions = QHBoxLayout()
        self.accept_btn = QPushButton("Accept  (A)")
        self.accept_btn.setObjectName("primary")
        self.reject_btn = QPushButton("Reject  (R)")
        self.reject_btn.setObjectName("danger")
        self.in_btn = QPushButton("Trim in  (I)")
        self.out_btn = QPushButton("Trim out  (O)")
        self.trim_btn = QPushButton("Apply trim  (T)")
        self.note_btn = QPushButton("Note…  (N)")
        for b in (self.accept_btn, self.reject_btn, self.in_btn, self.out_btn, self.trim_btn, self.note_btn):
            actions.addWidget(b)
        actions.addStretch(1)
        self.review_label = QLabel("")
        actions.addWidget(self.review_label)
        lay.addLayout(actions)

        self.slider.valueChanged.connect(self.show_frame)
        self.play_btn.clicked.connect(self.toggle_play)
        self.accept_btn.clicked.connect(lambda: self.decide("accept"))
        self.reject_btn.clicked.connect(lambda: self.decide("reject"))
        self.in_btn.clicked.connect(self.set_trim_in)
        self.out_btn.clicked.connect(self.set_trim_out)
        self.trim_btn.clicked.connect(lambda: self.decide("trim"))
        self.note_btn.clicked.connect(self.ask_note)
        for key, fn in (
            (Qt.Key.Key_A, lambda: self.decide("accept")),
            (Qt.Key.Key_R, lambda: self.decide("reject")),
            (Qt.Key.Key_I, self.set_trim_in),
            (Qt.Key.Key_O, self.set_trim_out),
            (Qt.Key.Key_T, lambda: self.decide("trim")),
            (Qt.Key.Key_N, self.ask_note),
            (Qt.Key.Key_Space, self.toggle_play),
            (Qt.Key.Key_Right, lambda: self.step(1)),
            (Qt.Key.Key_Left, lambda: self.step(-1)),
        ):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(fn)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._advance)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for w in (
            self.accept_btn,
            self.reject_btn,
            self.in_btn,
            self.out_btn,
            self.trim_btn,
            self.note_btn,
            self.play_btn,
            self.slider,
        ):
            w.setEnabled(on)

    # ------------------------------------------------------------------ load
    def open(self, session_id: str, index: int, robot: str | None = None, on_done: Any = None) -> None:
        self.stop()
        self.video.setText("Loading…")

        def done(d: EpisodeData) -> None:
            self.set_data(d)
            if on_done:
                on_done(d)

        def failed(text: str) -> None:
            self.video.setText(text)

        self.jobs.start(lambda: load_episode(self.home, session_id, index, robot), done, failed)

    def set_data(self, d: EpisodeData) -> None:
        self.data = d
        self.trim_in = self.trim_out = None
        ep = d.episode
        title = self.title.findChild(QLabel, "title")
        sub = self.title.findChild(QLabel, "subtitle")
        assert title is not None and sub is not None
        title.setText(f"Episode {ep.index} of {d.session.id}")
        sub.setText(
            f"{ep.task or 'no task text'} · {ep.duration_s:.1f} s · "
            f"{len(d.frames)} frames from {d.camera or 'no camera'}"
            + (f" · robot {d.robot}" if d.robot else " · not retargeted")
        )
        v = d.verdict.get("verdict", "unknown")
        self.verdict_light.set(
            v, f"Verdict: {v.upper()} — " + ("; ".join(d.verdict.get("reasons", [])) or "no problem found")
        )
        t0 = ep.t0_ns
        v = self.view3d
        v.clear()
        v.set_tags(d.tags, d.tag_size_m)
        if d.robot_points is not None:
            v.set_extent(d.robot_points.reshape(-1, 3))  # the robot's reach over the episode frames the view
        v.set_robot_meshes(d.robot_meshes if d.T_world_geom is not None else None)
        messages = []
        if d.traj_p is not None and len(d.traj_p):
            v.set_trajectory(d.traj_p, d.traj_state)
        else:
            messages.append("No trajectory: this session has not been tracked yet (process it on the Sessions screen).")
        if d.robot_points is not None and d.robot_meshes is None:
            messages.append(f"Robot drawn as a stick figure: its meshes could not be loaded ({d.mesh_problem}).")
        v.set_message("\n".join(messages))
        legend = ["rig: green tracked · amber bridged · red lost"]
        if d.robot_points is None:
            legend.append("not retargeted")
        elif d.robot_meshes is not None:
            legend.append(f"grey: {d.robot} (forward kinematics)")
        else:
            legend.append(f"orange: {d.robot} (forward kinematics, stick figure)")
        self.scene_legend.setText(" · ".join(legend))
        for item in list(self.joint_plot.listDataItems()):
            self.joint_plot.removeItem(item)
        if d.joint_q is not None and d.joint_t_ns is not None and len(d.joint_q):
            ts = (d.joint_t_ns - t0) * 1e-9
            for j in range(d.joint_q.shape[1]):
                self.joint_plot.plot(
                    ts,
                    d.joint_q[:, j],
                    pen=pg.mkPen(pg.intColor(j, d.joint_q.shape[1]), width=2),
                    name=d.joint_names[j] if j < len(d.joint_names) else str(j),
                )
        for item in list(self.flag_plot.listDataItems()):
            self.flag_plot.removeItem(item)
        # One lane per flag kind, coloured by severity; each (kind, severity) is one item of segment pairs.
        lanes = sorted({f.kind for f in d.flags})
        segments: dict[tuple[str, str], list[float]] = {}
        for f in d.flags:
            a, b = (max(f.t0_ns, t0) - t0) * 1e-9, (min(f.t1_ns, ep.t1_ns) - t0) * 1e-9
            segments.setdefault((f.kind, f.severity), []).extend([a, max(b, a + 0.02)])
        for (kind, severity), xs in segments.items():
            row = lanes.index(kind)
            self.flag_plot.plot(
                xs, [row] * len(xs), connect="pairs", pen=pg.mkPen(theme.status_colour(severity), width=8)
            )
        self.flag_plot.getAxis("left").setTicks([[(i, k.split(".")[-1]) for i, k in enumerate(lanes)]])
        self.flag_plot.setYRange(-0.7, max(len(lanes), 1) - 0.3, padding=0)
        self.flag_plot.setFixedHeight(int(np.clip(40 + 16 * len(lanes), 64, 170)))
        kinds = sorted({f"{f.kind} ({f.severity})" for f in d.flags})
        self.flag_text.setText(("Flags: " + ", ".join(kinds)) if kinds else "No flags in this episode.")
        self.joint_plot.setXRange(0, ep.duration_s, padding=0.02)
        n = max(len(d.frames), 1)
        self.slider.blockSignals(True)
        self.slider.setRange(0, n - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self._set_enabled(True)
        self._show_review()
        self.show_frame(0)
        self.view3d.reset_view()  # now that the robot is posed, its meshes are framed too
        self.setFocus()

    # ------------------------------------------------------------- scrubbing
    def time_at(self, pos: int) -> int:
        d = self.data
        assert d is not None
        if len(d.frame_t_ns):
            return int(d.frame_t_ns[min(pos, len(d.frame_t_ns) - 1)])
        return d.episode.t0_ns + int(pos / max(self.slider.maximum(), 1) * (d.episode.t1_ns - d.episode.t0_ns))

    def show_frame(self, pos: int) -> None:
        d = self.data
        if d is None:
            return
        self.frame_pos = pos
        t = self.time_at(pos)
        ts = (t - d.episode.t0_ns) * 1e-9
        self.time_label.setText(f"{ts:6.2f} / {d.episode.duration_s:.2f} s")
        if d.frames and self.video.width() > 10:
            img = d.frames[min(pos, len(d.frames) - 1)]
            tm = Qt.TransformationMode
            mode = tm.FastTransformation if self.playing else tm.SmoothTransformation
            self.video.setPixmap(
                QPixmap.fromImage(to_qimage(img)).scaled(self.video.size(), Qt.AspectRatioMode.KeepAspectRatio, mode)
            )
        elif not d.frames:
            self.video.setText("This episode has no camera stream")
        if d.traj_t_ns is not None and d.T_world_imu_traj is not None and len(d.traj_t_ns):
            i = int(np.clip(np.searchsorted(d.traj_t_ns, t), 0, len(d.traj_t_ns) - 1))
            self.view3d.set_pose(d.T_world_imu_traj[i])
        if d.robot_points is not None and d.joint_t_ns_fk is not None:
            tk = d.joint_t_ns_fk
            k = int(np.clip(np.searchsorted(tk, t), 0, len(tk) - 1))
            self.view3d.set_robot(d.robot_points[k], None if d.T_world_geom is None else d.T_world_geom[k])
        self.joint_line.setValue(ts)
        self.flag_line.setValue(ts)

    def step(self, n: int) -> None:
        self.slider.setValue(int(np.clip(self.slider.value() + n, 0, self.slider.maximum())))

    def toggle_play(self) -> None:
        if self.data is None:
            return
        if self.playing:
            self.stop()
        else:
            self.playing = True
            self.play_btn.setText("❚❚ Pause")
            self._play_t0 = time.monotonic()
            self._play_pos0 = self.slider.value() if self.slider.value() < self.slider.maximum() else 0
            self.timer.start(40)  # 25 Hz redraws; frames are picked by wall time, so playback stays real time

    def stop(self) -> None:
        self.playing = False
        self.timer.stop()
        self.play_btn.setText("▶ Play")

    def _advance(self) -> None:
        """Plays in real time: the frame is chosen by elapsed wall time, skipping frames when drawing lags."""
        d = self.data
        if d is None or not len(d.frame_t_ns):
            self.stop()
            return
        t_target = d.frame_t_ns[self._play_pos0] + int((time.monotonic() - self._play_t0) * 1e9)
        pos = int(np.searchsorted(d.frame_t_ns, t_target, side="right")) - 1
        if pos >= len(d.frame_t_ns) - 1:
            self.slider.setValue(len(d.frame_t_ns) - 1)
            self.stop()
            return
        if pos != self.slider.value():
            self.slider.setValue(pos)

    # ------------------------------------------------------------- decisions
    def set_trim_in(self) -> None:
        if self.data is not None:
            self.trim_in = self.time_at(self.slider.value())
            self._show_review()

    def set_trim_out(self) -> None:
        if self.data is not None:
            self.trim_out = self.time_at(self.slider.value())
            self._show_review()

    def ask_note(self) -> None:
        if self.data is None:
            return
        text, ok = QInputDialog.getText(self, "Note", "Note for this episode:")
        if ok and text.strip():
            self.decide("note", text.strip())

    def decide(self, action: str, note: str = "") -> None:
        from capture.catalog import refresh_session

        d = self.data
        if d is None:
            return
        t0 = t1 = None
        if action == "trim":
            t0 = self.trim_in if self.trim_in is not None else d.episode.t0_ns
            t1 = self.trim_out if self.trim_out is not None else d.episode.t1_ns
            if t1 <= t0:
                self.review_label.setText("Trim out must come after trim in (set I and O).")
                return
        dec = Decision(d.episode.index, action, time.time_ns(), self.operator, t0, t1, note)  # type: ignore[arg-type]
        try:
            d.session.add_decision(dec)
            refresh_session(self.home, d.session)
        except Exception as e:  # noqa: BLE001 - shown; the decision log is append-only so a retry is safe
            from gui.workers import error_text

            self.review_label.setText(error_text(e))
            return
        self._show_review()
        self.decided.emit(d.session.id, d.episode.index, action)

    def _show_review(self) -> None:
        d = self.data
        if d is None:
            return
        r = review_of(d.session.decisions(), d.episode.index)
        parts = [r.status.upper()]
        if r.t0_ns is not None and r.t1_ns is not None:
            a, b = (r.t0_ns - d.episode.t0_ns) * 1e-9, (r.t1_ns - d.episode.t0_ns) * 1e-9
            parts.append(f"trimmed to {a:.2f}–{b:.2f} s")
        if self.trim_in is not None or self.trim_out is not None:
            a = (self.trim_in - d.episode.t0_ns) * 1e-9 if self.trim_in is not None else 0.0
            b = (self.trim_out - d.episode.t0_ns) * 1e-9 if self.trim_out is not None else d.episode.duration_s
            parts.append(f"pending trim {a:.2f}–{b:.2f} s")
        if r.notes:
            parts.append(f"{len(r.notes)} note(s)")
        self.review_label.setText(" · ".join(parts))
        self.review_label.setStyleSheet(f"color: {theme.status_colour(r.status)}; font-weight: 600;")
