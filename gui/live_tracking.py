"""Live tracking for the capture screen: ``slam.vio.online.OnlineVio`` in its own process.

The recorder's writer thread hands every sample to ``LiveTracker.observe``, which only
buffers IMU arrays and, when the tracking process is idle, passes it the newest frame with
the IMU received since the last one. So the tracker takes as many frames as the CPU allows
(at most ``max_rate_hz``) and the rest are skipped for tracking only: recording never waits
for it. gtsam runs in a separate process for the reasons given in ``gui.isolated``; a fault
there stops live tracking, never the recording.

Times: host arrival stamps with the calibrated stream latency removed and the camera's
time offset added, as ``democap.model.corrected_times`` does without a clock mapping.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from democap.model import RigCalibration, TimeCorrections, corrected_times
from devices import base

log = logging.getLogger(__name__)

#: Tracking state names shown to the operator.
INITIALISING, OK, INTERPOLATED, LOST = "initialising", "ok", "interpolated", "lost"


@dataclass(frozen=True)
class TrackingSetup:
    """What the tracking process needs (picklable). ``known_tags``: T_world_tag (4, 4) by tag id."""

    rig: str
    camera: str
    calibration: RigCalibration
    tag_size_m: float = 0.08
    known_tags: dict[int, NDArray[np.float64]] = field(default_factory=dict)
    table_tag_id: int | None = None
    max_rate_hz: float = 10.0


@dataclass(frozen=True)
class TrackUpdate:
    """One tracked frame. ``T_world_imu`` (4, 4) is None while initialising (or on error)."""

    t_ns: int
    T_world_imu: NDArray[np.float64] | None
    state: str
    inliers: int
    anchor: str  # "table tag 3", "tag 5 (as world)", "first pose", "" while initialising
    cost_s: float  # processing time of this frame in the tracking process
    error: str = ""


def _corrections(cal: RigCalibration, rig: str, sensor: str) -> TimeCorrections:
    latency = int(cal.latency_ns.get(f"{rig}.{sensor}", cal.latency_ns.get(sensor, 0)))
    offset = next((int(c.time_offset_ns) for c in cal.cameras if c.name == sensor), 0)
    return TimeCorrections(None, latency, offset)


class LiveVioRunner:
    """OnlineVio over live samples (host stamps): the part that runs in the tracking process."""

    def __init__(self, setup: TrackingSetup) -> None:
        from slam.vio import backend
        from slam.vio.estimator import DEFAULT_IMU_NOISE
        from slam.vio.frontend import FrontendSettings
        from slam.vio.measurements import RigModel
        from slam.vio.online import OnlineVio

        cal = setup.calibration
        cams = [c for c in cal.cameras if c.name == setup.camera] or list(cal.cameras[:1])
        if not cams:
            from democap.errors import CalibrationError

            raise CalibrationError(f"{setup.rig} has no camera calibration: calibrate it for live tracking")
        cam = cams[0]
        self.setup = setup
        self.imu_corr = _corrections(cal, setup.rig, "imu")
        self.cam_corr = _corrections(cal, setup.rig, cam.name)
        self.R_imu_cam = cam.T_imu_cam[:3, :3]
        rig_model = RigModel(cam.T_imu_cam, cal.imu or DEFAULT_IMU_NOISE, None, setup.tag_size_m)
        # Every frame the tracker takes is a keyframe: frames arrive at <= max_rate_hz already.
        self.vio = OnlineVio(
            rig_model,
            cam.camera,
            front=FrontendSettings(tag_size_m=setup.tag_size_m),
            back=backend.BackendSettings(keyframe_every=1, batch=False),
            table_tag_id=setup.table_tag_id,
        )
        self._imu_t: collections.deque[int] = collections.deque(maxlen=2000)
        self._imu_g: collections.deque[NDArray[np.float64]] = collections.deque(maxlen=2000)
        self._t_prev: int | None = None
        self._T_world_nav_first: NDArray[np.float64] | None = None

    def add_imu(self, t_host_ns: NDArray[np.int64], gyro: NDArray[np.float64], accel: NDArray[np.float64]) -> None:
        t = corrected_times(np.asarray(t_host_ns, dtype=np.int64), None, self.imu_corr)
        for k in range(len(t)):
            self.vio.add_imu(int(t[k]), gyro[k], accel[k])
            self._imu_t.append(int(t[k]))
            self._imu_g.append(np.asarray(gyro[k], dtype=np.float64))

    def _R_cam_cur_prev(self, t0: int, t1: int) -> NDArray[np.float64] | None:
        from slam.imu import ImuSamples, gyro_rotation

        if len(self._imu_t) < 2:
            return None
        t = np.asarray(self._imu_t, dtype=np.int64)
        g = np.asarray(self._imu_g)
        R_prev_cur_imu = gyro_rotation(ImuSamples(t, g, np.zeros_like(g)), t0, t1)
        return (self.R_imu_cam.T @ R_prev_cur_imu @ self.R_imu_cam).T

    def add_frame(self, t_host_ns: int, image: NDArray[Any]) -> TrackUpdate:
        import cv2

        from democap import geometry
        from democap.model import TrackState

        c0 = time.perf_counter()
        t = int(corrected_times(np.array([t_host_ns], dtype=np.int64), None, self.cam_corr)[0])
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if gray.dtype != np.uint8:
            gray = (gray >> 8).astype(np.uint8)
        R = self._R_cam_cur_prev(self._t_prev, t) if self._t_prev is not None else None
        self._t_prev = t
        pose = self.vio.add_frame(t, gray, None, R)
        cost = time.perf_counter() - c0
        if pose is None:
            return TrackUpdate(t, None, INITIALISING, 0, "", cost)
        state = {TrackState.OK: OK, TrackState.INTERPOLATED: INTERPOLATED}.get(TrackState(pose.state), LOST)
        if pose.T_world_nav is not None:
            tag = pose.anchor_tag
            T_world_tag = self.setup.known_tags.get(tag) if tag is not None else None
            if T_world_tag is not None:
                T_world_nav, anchor = T_world_tag @ pose.T_world_nav, f"table tag {tag}"
            else:
                T_world_nav, anchor = pose.T_world_nav, f"tag {tag} (as world)"
        else:
            if self._T_world_nav_first is None:
                # As the estimator without tags: the first pose, gravity-aligned, its yaw as zero.
                T0 = pose.T_nav_imu
                T_nav_world = geometry.se3(geometry.rot_z(geometry.yaw_of(T0[:3, :3])), T0[:3, 3])
                self._T_world_nav_first = geometry.se3_inverse(T_nav_world)
            T_world_nav, anchor = self._T_world_nav_first, "first pose"
        return TrackUpdate(t, T_world_nav @ pose.T_nav_imu, state, pose.inliers, anchor, cost)


def _serve(inbox: Any, outbox: Any, parent_pid: int) -> None:
    """The tracking process: a setup message, then (imu t, gyro, accel, frame t, image) messages."""
    from gui.isolated import _watch_parent

    _watch_parent(parent_pid)
    runner: LiveVioRunner | None = None
    try:
        import slam.vio.online  # noqa: F401 - import gtsam now, while the source is still opening

        outbox.put("ready")
        while True:
            msg = inbox.get()
            if msg is None:
                return
            if isinstance(msg, TrackingSetup):
                runner = LiveVioRunner(msg)
                continue
            if runner is None:
                continue
            imu_t, gyro, accel, frame_t, image = msg
            if len(imu_t):
                runner.add_imu(imu_t, gyro, accel)
            outbox.put(runner.add_frame(frame_t, image))
    except Exception as e:  # noqa: BLE001 - reported to the screen; recording is unaffected
        log.exception("live tracking failed")
        outbox.put(TrackUpdate(0, None, LOST, 0, "", 0.0, error=f"{type(e).__name__}: {e}"))


class LiveTracker:
    """Owns the tracking process. ``observe`` on the writer thread, ``poll`` on the GUI thread."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # no forked Qt state
        self._inbox = ctx.Queue()
        self._outbox = ctx.Queue()
        self.proc = ctx.Process(
            target=_serve,
            args=(self._inbox, self._outbox, multiprocessing.current_process().pid),
            daemon=True,
            name="democap-live-tracking",
        )
        self.proc.start()
        self._lock = threading.Lock()
        self.setup: TrackingSetup | None = None
        self.ready = False
        self.failed = ""
        self.in_flight = 0
        self.frames_seen = 0
        self.frames_sent = 0
        self.frames_tracked = 0
        self._imu: list[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]] = []
        self._t_last_sent = 0
        self._frame_t: collections.deque[int] = collections.deque(maxlen=64)  # host stamps of camera frames
        self._done_t: collections.deque[float] = collections.deque(maxlen=64)  # wall time of tracked frames
        self.last: TrackUpdate | None = None
        self._closed = False

    def configure(self, setup: TrackingSetup) -> None:
        with self._lock:
            self.setup = setup
        self._inbox.put(setup)

    # ---------------------------------------------------------- writer thread
    def observe(self, s: base.Sample) -> None:
        """Cheap and never raises: buffer IMU, hand over a frame only when the tracker is idle."""
        try:
            self._observe(s)
        except Exception as e:  # noqa: BLE001 - live tracking must never disturb the recorder
            if not self.failed:
                log.exception("live tracking input failed")
                self.failed = f"{type(e).__name__}: {e}"

    def _observe(self, s: base.Sample) -> None:
        setup = self.setup
        if setup is None or self.failed:
            return
        if isinstance(s, base.ImuBatch) and s.rig == setup.rig:
            with self._lock:
                self._imu.append((s.t_host_ns, s.gyro, s.accel))
        elif isinstance(s, base.CameraFrame) and s.rig == setup.rig and s.sensor == setup.camera:
            with self._lock:
                self.frames_seen += 1
                self._frame_t.append(s.t_host_ns)
                min_gap = 1e9 / setup.max_rate_hz * 0.9
                if self._closed or not self.ready or self.in_flight > 0 or s.t_host_ns - self._t_last_sent < min_gap:
                    return
                imu, self._imu = self._imu, []
                if imu:
                    t = np.concatenate([x[0] for x in imu])
                    g = np.concatenate([x[1] for x in imu])
                    a = np.concatenate([x[2] for x in imu])
                else:
                    t, g, a = np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 3))
                # put() only appends to the queue's buffer; its feeder thread pickles and sends.
                self._inbox.put((t, g, a, s.t_host_ns, s.image))
                self.in_flight += 1
                self.frames_sent += 1
                self._t_last_sent = s.t_host_ns

    # ------------------------------------------------------------- GUI thread
    def poll(self) -> list[TrackUpdate]:
        """Results that arrived since the last call (never blocks)."""
        out: list[TrackUpdate] = []
        while not self._closed:
            try:
                msg = self._outbox.get_nowait()
            except queue.Empty:
                break
            except (EOFError, OSError, ValueError):
                break
            if msg == "ready":
                with self._lock:
                    self.ready = True
                continue
            with self._lock:
                self.in_flight = max(0, self.in_flight - 1)
            if msg.error:
                self.failed = msg.error
                continue
            self.frames_tracked += 1
            self._done_t.append(time.monotonic())
            self.last = msg
            out.append(msg)
        if not self._closed and not self.failed and not self.proc.is_alive() and self.setup is not None:
            self.failed = f"the tracking process stopped (exit code {self.proc.exitcode})"
        return out

    def rates_hz(self) -> tuple[float, float]:
        """(frames tracked per second, camera frames per second), over the last few seconds."""
        with self._lock:
            ft = list(self._frame_t)
        done = list(self._done_t)
        cam = (len(ft) - 1) / ((ft[-1] - ft[0]) * 1e-9) if len(ft) > 2 and ft[-1] > ft[0] else 0.0
        now = time.monotonic()
        recent = [t for t in done if now - t < 3.0]
        tracked = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 2 and recent[-1] > recent[0] else 0.0
        return tracked, cam

    def stop(self) -> None:
        """End the tracking process (results not yet polled are dropped). Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.setup = None  # observe() ignores samples from now on
        with contextlib.suppress(OSError, ValueError):
            self._inbox.put(None)
        self.proc.join(timeout=1.0)
        if self.proc.is_alive():
            self.proc.terminate()
        for q in (self._inbox, self._outbox):
            q.cancel_join_thread()  # a frame still queued for a dead process must not hold the app
            q.close()


def setup_for(description: base.SourceDescription, source: Any = None) -> TrackingSetup | str:
    """The tracking setup for a recording source, or why it cannot be tracked live."""
    cal = description.calibration
    cams = [c for c in description.cameras if c.pix_fmt != "gray16le"]
    if not cams:
        return "this source has no camera: tracking runs after recording from IMU only"
    if description.imu_rate_hz is None:
        return "this source has no IMU: live visual-inertial tracking needs one"
    if cal is None or not cal.cameras:
        return "no camera calibration for this rig: calibrate it (Calibration screen) for live tracking"
    names = {c.name for c in cal.cameras}
    cam = next((c.sensor for c in cams if c.sensor in names), None)
    if cam is None:
        return "the calibration does not match this rig's cameras: recalibrate for live tracking"
    workspace = getattr(source, "workspace", None)
    ws: dict[str, Any] = workspace() if callable(workspace) else {}
    return TrackingSetup(
        rig=description.rig,
        camera=cam,
        calibration=cal,
        tag_size_m=float(ws.get("tag_size_m", 0.08)),
        known_tags={int(k): np.asarray(v, dtype=np.float64) for k, v in ws.get("tags", {}).items()},
        table_tag_id=ws.get("table_tag_id"),
    )
