"""Calibration wizard: 1 target, 2 capture with live coverage, 3 calibrate, 4 results and save.

Views come from a live camera (the wizard keeps the views that add coverage or pose variety
and says when there are enough: ``gui.calib_live``), an image folder or the frames of a
recorded session's camera. Each view is detected as it is added, so the coverage map fills
in while the operator moves the target; ``calib.intrinsics.calibrate_intrinsics`` runs in a
job, the residuals are plotted and ``capture.calibrations.store_calibration`` saves the
result to the catalog.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from democap.home import Home
from gui import theme
from gui.calib_live import GRID, FramePump, LiveViewSelector, rough_camera
from gui.indicators import Metric, StatusLight, header
from gui.sources import SourceChoice
from gui.workers import Jobs

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".tif", ".tiff")
LIVE_DETECT_HZ = 3.0
TABLE_TAGS = 2  # index of "table tags of the live source" in the target list
STEPS = ("1  Target", "2  Capture views", "3  Calibrate", "4  Save")


def detect_folder(
    target: Any, folder: Path, on_view: Any = None, pattern: str = "*"
) -> tuple[list[Any], list[str], tuple[int, int]]:
    """Detect ``target`` in every image of ``folder``: (detections or None, names, (width, height))."""
    import cv2

    from democap.progress import Progress

    paths = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        from democap.errors import CalibrationError

        raise CalibrationError("no images (png/jpg/…) in this folder; choose the folder of target photos", folder)
    dets: list[Any] = []
    names: list[str] = []
    size = (0, 0)
    with Progress("detect target", len(paths)) as bar:
        for p in paths:
            img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            if img is None:
                dets.append(None)
            else:
                size = (img.shape[1], img.shape[0])
                dets.append(target.detect(img))
            names.append(p.name)
            if on_view:
                on_view(dets[-1], p.name, size)
            bar.advance()
    return dets, names, size


def detect_session(
    target: Any, home: Home, session_id: str, stream: str | None = None, max_views: int = 80, on_view: Any = None
) -> tuple[list[Any], list[str], tuple[int, int]]:
    """Detect ``target`` in up to ``max_views`` evenly spaced frames of a recorded camera stream."""
    from capture.session import Session
    from democap.errors import CalibrationError
    from democap.progress import Progress

    s = Session(home.session_path(session_id))
    cams = s.streams_of("video")
    stream = stream or (cams[0] if cams else None)
    if stream is None:
        raise CalibrationError("this session has no camera stream to calibrate from", s.path)
    n = len(s.columns(stream)["t_host_ns"])
    step = max(1, n // max_views)
    dets: list[Any] = []
    names: list[str] = []
    size = (0, 0)
    with Progress("detect target", (n + step - 1) // step) as bar:
        for k, img in s.frames(stream, 0, None, step):
            size = (img.shape[1], img.shape[0])
            dets.append(target.detect(img))
            names.append(f"{stream}#{k}")
            if on_view:
                on_view(dets[-1], names[-1], size)
            bar.advance()
    return dets, names, size


class CalibrationPanel(QWidget):
    view_found = Signal(object, str, object)  # detection or None, view name, (width, height); from the worker

    def __init__(self, home: Home, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.jobs = jobs
        self.detections: list[Any] = []
        self.names: list[str] = []
        self.image_size = (0, 0)
        self.result: Any = None
        self.saved_path: Path | None = None
        self.live_choices: list[SourceChoice] = []
        self.pump: FramePump | None = None
        self.selector: LiveViewSelector | None = None
        self.live_target: Any = None
        self._detecting = False
        self._opening = False
        self.live_timer = QTimer(self)
        self.live_timer.setInterval(int(1000 / LIVE_DETECT_HZ))
        self.live_timer.timeout.connect(self._live_tick)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.setSpacing(10)
        lay.addWidget(
            header(
                "Camera calibration",
                "Show the target to the camera from many angles and distances "
                "until the coverage map is filled, then calibrate.",
            )
        )
        steps = QHBoxLayout()
        self.step_labels = []
        for s in STEPS:
            lab = QLabel(s)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.step_labels.append(lab)
            steps.addWidget(lab)
        lay.addLayout(steps)

        grid = QGridLayout()
        grid.setSpacing(12)
        tbox = QGroupBox("Target and views")
        form = QFormLayout(tbox)
        self.kind = QComboBox()
        self.kind.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.kind.setMinimumContentsLength(10)
        self.kind.addItems(["chessboard", "target file (Kalibr YAML)", "table tags of the live source"])
        self.rows = QSpinBox()
        self.rows.setRange(2, 40)
        self.rows.setValue(6)
        self.cols = QSpinBox()
        self.cols.setRange(2, 40)
        self.cols.setValue(9)
        self.square = QDoubleSpinBox()
        self.square.setDecimals(4)
        self.square.setRange(0.001, 1.0)
        self.square.setValue(0.025)
        self.square.setSuffix(" m")
        self.target_file = QLineEdit()
        self.target_file.setPlaceholderText("target.yaml (for AprilGrid / ChArUco)")
        self.model = QComboBox()
        self.model.addItems(["pinhole-radtan", "fisheye-equidistant"])
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder of target photos, or session:<id> for a recording's camera")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        fl = QHBoxLayout()
        fl.addWidget(self.folder, 1)
        fl.addWidget(browse)
        self.rig_serial = QLineEdit("rig0")
        self.live_source = QComboBox()
        # Source labels are long ("Virtual rig (simulated camera + IMU + gripper)"): elide, never widen the window.
        self.live_source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.live_source.setMinimumContentsLength(8)
        self.live_btn = QPushButton("Start live")
        self.live_btn.setToolTip("Detect the target in the live camera a few times a second and keep useful views")
        ll = QHBoxLayout()
        ll.addWidget(self.live_source, 1)
        ll.addWidget(self.live_btn)
        form.addRow("Target", self.kind)
        form.addRow("Inner corners (rows)", self.rows)
        form.addRow("Inner corners (cols)", self.cols)
        form.addRow("Square size", self.square)
        form.addRow("Target file", self.target_file)
        form.addRow("Camera model", self.model)
        form.addRow("Live camera", ll)
        form.addRow("or views from", fl)
        form.addRow("Rig serial", self.rig_serial)
        btns = QHBoxLayout()
        self.detect_btn = QPushButton("Add views")
        self.calib_btn = QPushButton("Calibrate")
        self.calib_btn.setObjectName("primary")
        self.calib_btn.setEnabled(False)
        self.save_btn = QPushButton("Save to catalog")
        self.save_btn.setEnabled(False)
        for b in (self.detect_btn, self.calib_btn, self.save_btn):
            btns.addWidget(b)
        form.addRow(btns)
        self.progress = QProgressBar()
        form.addRow(self.progress)
        self.message = StatusLight("Choose a target and a folder of views.", "idle")
        form.addRow(self.message)
        grid.addWidget(tbox, 0, 0, 2, 1)

        cbox = QGroupBox("Coverage (cells of the image holding target corners)")
        cl = QVBoxLayout(cbox)
        self.coverage_plot = pg.PlotWidget()
        self.coverage_plot.setAspectLocked(True)
        self.coverage_plot.invertY(True)
        self.coverage_plot.hideAxis("left")
        self.coverage_plot.hideAxis("bottom")
        self.coverage_img = pg.ImageItem()
        self.coverage_img.setLookupTable(_coverage_lut())
        self.coverage_plot.addItem(self.coverage_img)
        self.corner_scatter = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(theme.ACCENT + "80"))
        self.coverage_plot.addItem(self.corner_scatter)
        self.live_view = QLabel("")
        self.live_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.live_view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.live_view.setMinimumSize(1, 1)  # the pixmap, scaled to the label, must not make the label grow
        self.live_view.setStyleSheet(f"background: #0d0f12; border-radius: 6px; color: {theme.MUTED};")
        self.coverage_stack = QStackedWidget()
        self.coverage_stack.addWidget(self.coverage_plot)
        self.coverage_stack.addWidget(self.live_view)
        cl.addWidget(self.coverage_stack, 1)
        self.coverage_text = QLabel("No views yet")
        self.coverage_text.setObjectName("subtitle")
        self.coverage_text.setWordWrap(True)
        cl.addWidget(self.coverage_text)
        self.hint_text = QLabel("")
        self.hint_text.setWordWrap(True)
        self.hint_text.setVisible(False)
        cl.addWidget(self.hint_text)
        cbox.setMinimumHeight(250)
        grid.addWidget(cbox, 0, 1)

        rbox = QGroupBox("Result")
        rl = QVBoxLayout(rbox)
        tiles = QHBoxLayout()
        self.m_rms = Metric("RMS reprojection")
        self.m_views = Metric("Views used")
        self.m_f = Metric("fx / fy [px]")
        self.m_c = Metric("cx / cy [px]")
        for m in (self.m_rms, self.m_views, self.m_f, self.m_c):
            tiles.addWidget(m)
        rl.addLayout(tiles)
        plots = QHBoxLayout()
        self.view_plot = theme.style_plot(pg.PlotWidget(), "view", "RMS per view [px]")
        self.resid_plot = theme.style_plot(pg.PlotWidget(), "dx [px]", "dy [px]", aspect=True)
        for p in (self.view_plot, self.resid_plot):
            plots.addWidget(p)
        rl.addLayout(plots, 1)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet(f"color: {theme.WARN};")
        rl.addWidget(self.warnings)
        grid.addWidget(rbox, 1, 1)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 3)
        lay.addLayout(grid, 1)

        self.detect_btn.clicked.connect(lambda: self.add_views())
        self.live_btn.clicked.connect(lambda: self.stop_live() if self.live_active else self.start_live())
        self.view_found.connect(self._view)
        self.calib_btn.clicked.connect(lambda: self.calibrate())
        self.save_btn.clicked.connect(lambda: self.save())
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()
        self._step(0)

    def _kind_changed(self) -> None:
        board = self.kind.currentIndex() == 0
        for w in (self.rows, self.cols, self.square):
            w.setEnabled(board)
        self.target_file.setEnabled(self.kind.currentIndex() == 1)

    def _step(self, i: int) -> None:
        for k, lab in enumerate(self.step_labels):
            colour = theme.ACCENT if k == i else (theme.OK if k < i else theme.MUTED)
            lab.setStyleSheet(f"padding: 6px; border-bottom: 3px solid {colour}; color: {colour}; font-weight: 600;")

    def _browse(self) -> None:
        p = QFileDialog.getExistingDirectory(self, "Folder of target photos", str(Path.home()))
        if p:
            self.folder.setText(p)

    def target(self, source: Any = None) -> Any:
        from calib.targets import Chessboard, load_target, target_from_dict
        from democap.errors import CalibrationError

        if self.kind.currentIndex() == 0:
            return Chessboard(self.rows.value(), self.cols.value(), self.square.value())
        if self.kind.currentIndex() == TABLE_TAGS:
            workspace = getattr(source, "workspace", None)
            if not callable(workspace):
                raise CalibrationError(
                    "table tags are known only for the virtual rig; choose a chessboard or a target file"
                )
            ws = workspace()
            return target_from_dict(
                {"target_type": "tagmap", "tags": ws["tags"], "tag_size": ws["tag_size_m"], "tag_family": "tag36h11"}
            )
        return load_target(self.target_file.text())

    # ---------------------------------------------------------- live capture
    def set_live_choices(self, choices: list[SourceChoice]) -> None:
        current = self.live_source.currentText()
        self.live_choices = choices
        self.live_source.clear()
        self.live_source.addItems([c.label for c in choices])
        if current in [c.label for c in choices]:
            self.live_source.setCurrentText(current)

    @property
    def live_active(self) -> bool:
        return self.pump is not None or self._opening

    def start_live(self) -> None:
        """Open the chosen live source in a worker, then detect the target in it a few times a second."""
        if self.live_active:
            return
        if not self.live_choices:
            self.message.set("error", "No live camera: pair a rig on the Devices screen or use the virtual rig.")
            return
        choice = self.live_choices[max(self.live_source.currentIndex(), 0)]
        self._opening = True
        self.live_btn.setText("Stop live")
        self.message.set("info", f"Opening {choice.label}…")
        self._step(1)

        def open_source() -> tuple[FramePump, Any]:
            sources = choice.make()
            for extra in sources[1:]:
                extra.stop()
            try:
                target = self.target(sources[0])
            except BaseException:
                sources[0].stop()
                raise
            return FramePump(sources[0]), target

        def failed(text: str) -> None:
            self._opening = False
            self.live_btn.setText("Start live")
            self.message.set("error", text)

        self.jobs.start(open_source, self._live_opened, failed)

    def _live_opened(self, res: tuple[FramePump, Any]) -> None:
        pump, target = res
        self._opening = False
        if not self.live_btn.text().startswith("Stop"):  # stopped while opening
            pump.stop()
            return
        desc = pump.description
        cam = next(c for c in desc.cameras if c.sensor == pump.camera)
        size = (cam.width, cam.height)
        guess = None
        if desc.calibration is not None:
            guess = next((c.camera for c in desc.calibration.cameras if c.name == pump.camera), None)
        self.pump, self.live_target = pump, target
        self.selector = LiveViewSelector(size, guess or rough_camera(*size))
        self.detections, self.names, self.image_size = [], [], size
        self.rig_serial.setText(desc.info.serial)
        self.coverage_stack.setCurrentIndex(1)
        self.hint_text.setVisible(True)
        self.live_view.setText("Waiting for the camera…")
        self.message.set("info", f"Live: {desc.info.serial} {pump.camera}. Move the target through the image.")
        self.live_timer.start()

    def stop_live(self) -> None:
        self.live_timer.stop()
        self.live_btn.setText("Start live")
        if self.pump is not None:
            self.pump.stop()
            self.pump = None
        self.coverage_stack.setCurrentIndex(0)
        self.live_view.clear()
        self.update_coverage()
        if self.selector is not None:
            self.message.set(
                "ok" if len(self.detections) >= 3 else "warn",
                f"Live capture stopped: {len(self.detections)} views kept of {self.selector.seen} looked at.",
            )

    def _live_tick(self) -> None:
        pump, selector, target = self.pump, self.selector, self.live_target
        if pump is None or selector is None or self._detecting:
            return  # the previous detection is still running: this frame is skipped, not queued
        if pump.error:
            self.stop_live()
            self.message.set("error", f"{pump.error}. Check the device and start live capture again.")
            return
        frame = pump.take()
        if frame is None:
            return
        self._detecting = True

        def detect() -> Any:
            return target.detect(frame.image)

        def done(det: Any) -> None:
            self._detecting = False
            if self.selector is not selector:
                return  # live capture restarted meanwhile
            kept, why = selector.consider(det, max(8, target.min_points()))  # calibrate_intrinsics' minimum
            if kept:
                self._view(det, f"live#{selector.seen}", selector.image_size)
            self._show_live(frame.image, det, kept)
            self.hint_text.setText(f"{selector.hint()}  ({selector.pose_summary()})")
            colour = theme.OK if selector.enough else theme.WARN
            self.hint_text.setStyleSheet(f"color: {colour}; font-weight: 600;")
            self.message.set(
                "ok" if selector.enough else "info",
                f"Live: {len(selector.kept)} views kept of {selector.seen} looked at"
                + (f" (last: {'kept, ' + why if kept else why})" if selector.seen else ""),
            )

        def failed(text: str) -> None:
            self._detecting = False
            self.message.set("error", text)

        self.jobs.start(detect, done, failed)

    def _show_live(self, image: np.ndarray, det: Any, kept: bool) -> None:
        """The camera image with the covered cells (green) and this view's corners drawn over it."""
        from gui.live_panel import to_qimage

        if self.selector is None or self.live_view.width() < 10:
            return
        pm = QPixmap.fromImage(to_qimage(image))
        w, h = pm.width(), pm.height()
        cov = self.selector.coverage()
        gx, gy = GRID
        qp = QPainter(pm)
        qp.setPen(QPen(QColor(255, 255, 255, 40), 1))
        for r in range(gy):
            for c in range(gx):
                rect = QRectF(c * w / gx, r * h / gy, w / gx, h / gy)
                n = int(cov.counts[r, c])
                if n:
                    qp.fillRect(rect, QColor(62, 207, 142, min(40 + 20 * n, 120)))
                qp.drawRect(rect)
        if det is not None:
            qp.setPen(Qt.PenStyle.NoPen)
            qp.setBrush(QColor(theme.OK if kept else theme.ACCENT))
            for x, y in det.corners_px:
                qp.drawEllipse(QPointF(x, y), 2.0, 2.0)
        qp.end()
        fast = Qt.TransformationMode.FastTransformation
        self.live_view.setPixmap(pm.scaled(self.live_view.size(), Qt.AspectRatioMode.KeepAspectRatio, fast))

    # ------------------------------------------------------------- capture
    def _view(self, det: Any, name: str, size: tuple[int, int]) -> None:
        """One more view: the coverage map fills in while detection runs."""
        self.detections.append(det)
        self.names.append(name)
        self.image_size = size
        self.update_coverage()
        found = sum(d is not None for d in self.detections)
        self.calib_btn.setEnabled(found >= 3)

    def add_views(self, folder: Path | str | None = None, on_done: Any = None, pattern: str = "*") -> None:
        """Detect the target in a folder of images or (``session:<id>``) a recorded camera stream."""
        text = str(folder) if folder is not None else self.folder.text().strip()
        if self.live_active:
            self.stop_live()
        if self.selector is not None:  # the live views were of another camera, perhaps: start afresh
            self.selector = None
            self.detections, self.names = [], []
            self.hint_text.setVisible(False)
        self.folder.setText(text)
        self.folder.setCursorPosition(0)
        session_id = text.split(":", 1)[1] if text.startswith("session:") else None
        path = Path(text).expanduser()
        try:
            target = self.target()
        except Exception as e:  # noqa: BLE001
            from gui.workers import error_text

            self.message.set("error", error_text(e))
            return
        self._step(1)
        self.message.set("info", f"Detecting the target in {session_id or path.name}…")

        def done(_res: tuple[list[Any], list[str], tuple[int, int]]) -> None:
            self.update_coverage()
            found = sum(d is not None for d in self.detections)
            self.calib_btn.setEnabled(found >= 3)
            self.message.set(
                "ok" if found >= 3 else "warn",
                f"Target found in {found} of {len(self.detections)} views."
                + ("" if found >= 3 else " At least 3 are needed."),
            )
            if on_done:
                on_done()

        def progress(_label: str, done_n: int, total: int) -> None:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done_n)

        emit = self.view_found.emit
        if session_id:
            work = lambda: detect_session(target, self.home, session_id, on_view=emit)  # noqa: E731
        else:
            work = lambda: detect_folder(target, path, on_view=emit, pattern=pattern)  # noqa: E731
        self.jobs.start(work, done, lambda t: self.message.set("error", t), progress)

    def update_coverage(self) -> None:
        from calib.intrinsics import coverage_of

        corners = [d.corners_px for d in self.detections if d is not None]
        w, h = self.image_size
        if not corners or not w:
            return
        cov = coverage_of(corners, (w, h))
        gx, gy = cov.grid
        self.coverage_img.setImage(np.minimum(cov.counts, 4).T.astype(float), levels=(0, 4))
        self.coverage_img.setRect(0, 0, w, h)
        pts = np.concatenate(corners)
        self.corner_scatter.setData(pts[:, 0], pts[:, 1])
        self.coverage_plot.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)
        status = "warn" if cov.poor else "ok"
        self.coverage_text.setText(
            f"{cov.fraction:.0%} of the {gx}×{gy} cells covered, "
            f"{cov.corners_fraction:.0%} of the image corners"
            + (" — move the target into the empty (dark) cells" if cov.poor else " — good")
        )
        self.coverage_text.setStyleSheet(f"color: {theme.status_colour(status)};")

    # ----------------------------------------------------------- calibrate
    def calibrate(self, on_done: Any = None) -> None:
        from calib.intrinsics import calibrate_intrinsics

        if self.live_active:
            self.stop_live()  # calibrate on the views kept so far

        dets, names, size = list(self.detections), list(self.names), self.image_size
        model: Any = self.model.currentText()  # one of calib's CameraModelKind names
        self._step(2)
        self.message.set("info", "Calibrating…")

        def done(res: Any) -> None:
            self.result = res
            self.show_result(res)
            self.save_btn.setEnabled(True)
            self._step(3)
            if on_done:
                on_done(res)

        self.jobs.start(
            lambda: calibrate_intrinsics(dets, size, model, names=names), done, lambda t: self.message.set("error", t)
        )

    def show_result(self, res: Any) -> None:
        c = res.camera
        self.m_rms.set(f"{res.rms_px:.3f} px", "ok" if res.rms_px < 0.5 else "warn" if res.rms_px < 1.0 else "error")
        self.m_views.set(f"{len(res.used_views)} / {len(res.views)}")
        self.m_f.set(f"{c.fx:.1f} / {c.fy:.1f}")
        self.m_c.set(f"{c.cx:.1f} / {c.cy:.1f}")
        self.view_plot.clear()
        rms = np.array([v.rms_px if v.used else 0.0 for v in res.views])
        brushes = [
            pg.mkBrush(theme.OK if v.used and v.rms_px < 1.0 else theme.WARN if v.used else theme.IDLE)
            for v in res.views
        ]
        self.view_plot.addItem(pg.BarGraphItem(x=np.arange(len(rms)), height=rms, width=0.7, brushes=brushes))
        self.resid_plot.clear()
        res_all = [v.residuals_px for v in res.used_views if v.residuals_px is not None]
        if res_all:
            r = np.concatenate(res_all)
            self.resid_plot.addItem(
                pg.ScatterPlotItem(r[:, 0], r[:, 1], size=3, pen=None, brush=pg.mkBrush(theme.ACCENT + "90"))
            )
        self.warnings.setText("\n".join(res.warnings))
        self.message.set(
            "ok", f"Calibrated {c.model} {c.width}×{c.height}: RMS {res.rms_px:.3f} px. Save it to use it in sessions."
        )

    def save(self) -> Path | None:
        from capture.calibrations import store_calibration
        from democap.model import CameraCalibration, RigCalibration

        if self.result is None:
            return None
        cam = CameraCalibration("cam0", self.result.camera, np.eye(4), 0, float(self.result.rms_px))
        calib = RigCalibration(
            self.rig_serial.text().strip() or "rig0",
            (cam,),
            notes="intrinsics from the democap GUI calibration wizard; T_imu_cam not calibrated",
        )
        try:
            self.saved_path = store_calibration(self.home, calib)
        except Exception as e:  # noqa: BLE001
            from gui.workers import error_text

            self.message.set("error", error_text(e))
            return None
        self.message.set("ok", f"Saved to the catalog as {calib.hash[:19]}… ({self.saved_path.name}).")
        return self.saved_path


def _coverage_lut() -> np.ndarray:
    """0 → dark (empty cell), 1..4 → increasingly green."""
    base = np.array([[40, 44, 52], [35, 90, 70], [45, 140, 100], [55, 180, 125], [62, 207, 142]], float)
    x = np.linspace(0, 4, 256)
    return np.stack([np.interp(x, np.arange(5), base[:, k]) for k in range(3)], 1).astype(np.uint8)
