"""The recorder: pulls samples from rig sources and writes one session. The only path to disk.

Each source runs in its own thread and hands samples to an unbounded queue; the writer
thread (the caller's) drains it, so a slow consumer never makes a device drop data and
live observers (previews, live SLAM) only ever see what was already written. Episode
boundaries come from the rigs' triggers (``RigEvent(kind="episode")``) or from the
operator (``mark_episode``).

A full disk never costs what was recorded: the free space is watched while recording and
the recording stops (``Recorder.stopped``) when it falls below ``SpacePlan.low_water``, or
at the first write that fails for lack of space; the session then closes on the space its
writer held back (``capture.session.RESERVE``), losing at most the chunk being written.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capture.calibrations import store_calibration
from capture.catalog import refresh_session
from capture.session import RESERVE_BYTES, Session, SessionWriter, StreamSpec, imu_columns, is_no_space
from democap.errors import DiskSpaceError
from democap.home import Home
from devices.base import (
    NO_DEVICE_TIME,
    CameraFrame,
    ClockExchange,
    GripperSample,
    ImuBatch,
    LinkGap,
    RigEvent,
    RigSource,
    Sample,
    SourceDescription,
)

log = logging.getLogger(__name__)

#: Bytes per pixel-frame a stream is budgeted at (H.264 at our CRF stays well below;
#: lossless gray is about four times this).
_VIDEO_BYTES_PER_PIXEL_FRAME = 0.06
#: How much recording must fit before one starts when its length is not given.
_MIN_PLANNED_S = 60.0
#: Stop when less than this is free (or ``_LOW_WATER_S`` of recording, if more).
_LOW_WATER_BYTES = 64 * 1024**2
_LOW_WATER_S = 10.0
#: The writer holds back this much (or ``_RESERVE_S`` of recording) to close on a full disk.
_RESERVE_S = 2.0
#: How often the free space is read while recording.
_WATCH_PERIOD_S = 0.5


def bytes_per_second(descriptions: Sequence[SourceDescription], lossless: bool = False) -> float:
    """A generous estimate of the disk a recording of these sources takes per second."""
    per_s = 0.0
    for d in descriptions:
        for c in d.cameras:
            per_s += c.width * c.height * c.rate_hz * _VIDEO_BYTES_PER_PIXEL_FRAME * (4 if lossless else 1)
        per_s += (d.imu_rate_hz or 0) * 80
    return per_s


@dataclass(frozen=True)
class SpacePlan:
    """The disk a recording needs: its estimated rate, the reserve held back for closing and
    the free space below which it stops."""

    bytes_per_s: float
    reserve: int
    low_water: int

    @classmethod
    def for_sources(cls, descriptions: Sequence[SourceDescription], lossless: bool = False) -> SpacePlan:
        rate = bytes_per_second(descriptions, lossless)
        return cls(rate, max(RESERVE_BYTES, int(_RESERVE_S * rate)), max(_LOW_WATER_BYTES, int(_LOW_WATER_S * rate)))

    def needed(self, seconds: float | None) -> int:
        """Free space a recording of ``seconds`` (one minute when open-ended) must find."""
        return int(self.bytes_per_s * (seconds or _MIN_PLANNED_S)) + self.low_water

    def seconds_left(self, free: int) -> float:
        return max(free - self.low_water, 0) / max(self.bytes_per_s, 1.0)


def check_disk_space(path: Path, plan: SpacePlan, seconds: float | None) -> None:
    """Refuse to start a recording that would not fit (``seconds``, or one minute when open-ended)."""
    free = shutil.disk_usage(path).free
    need = plan.needed(seconds) + plan.reserve
    if free < need:
        planned = f"{seconds:.0f} s" if seconds else f"at least {_MIN_PLANNED_S:.0f} s"
        raise DiskSpaceError(
            f"{free / 1e6:.0f} MB free; {planned} of recording needs about {need / 1e6:.0f} MB "
            f"(incl. {plan.low_water / 1e6:.0f} MB left free); free space or choose another --home",
            path,
        )
    log.info("disk: %.0f MB free, room for about %.0f min", free / 1e6, plan.seconds_left(free - plan.reserve) / 60)


@dataclass
class RecorderStats:
    frames: dict[str, int] = field(default_factory=dict)
    imu_samples: int = 0
    gripper_samples: int = 0
    events: int = 0
    gaps: int = 0
    queue_max: int = 0
    frames_discarded: int = 0  # camera frames received after the disk filled
    first_ns: int = 0  # host time of the first sample written
    started_ns: int = 0
    ended_ns: int = 0

    @property
    def wall_s(self) -> float:
        return (self.ended_ns - self.started_ns) * 1e-9


class _Done:
    def __init__(self, rig: str, error: BaseException | None = None) -> None:
        self.rig, self.error = rig, error


class Recorder:
    """Records sources into a new session under ``home``.

    ``observer(sample)`` is called from the writer thread after each sample is queued for
    disk; keep it cheap (the GUI copies what it needs and returns).
    """

    def __init__(
        self,
        home: Home,
        sources: Sequence[RigSource],
        *,
        operator: str = "",
        task: str = "",
        codec: str = "h264",
        source_info: dict[str, Any] | None = None,
        observer: Callable[[Sample], None] | None = None,
        planned_s: float | None = None,
    ) -> None:
        self.home = home
        self.planned_s = planned_s  # how long the sources will run, when they end by themselves
        self.sources = list(sources)
        self.operator = operator
        self.task = task
        self.codec = codec
        self.observer = observer
        self.source_info = source_info or {"kind": "recording"}
        self.descriptions = [s.describe() for s in self.sources]
        self.stats = RecorderStats()
        self._stop = threading.Event()
        self._marks: list[RigEvent] = []
        self._lock = threading.Lock()
        self.writer: SessionWriter | None = None
        self._t_last = 0
        self.space = SpacePlan.for_sources(self.descriptions, codec == "ffv1")
        #: Why the recording ended before it was asked to, e.g. ``{"reason": "disk_full", ...}``.
        self.stopped: dict[str, Any] | None = None
        self._next_watch = 0.0

    # ---------------------------------------------------------------- control
    def stop(self) -> None:
        self._stop.set()
        for s in self.sources:
            s.stop()

    def mark_episode(self, start: bool, task: str = "") -> None:
        """Operator's episode start/stop (keyboard); recorded as an event of the first rig."""
        rig = self.descriptions[0].rig if self.descriptions else "rig0"
        value = f"start:{task or self.task}" if start else "stop"
        with self._lock:
            self._marks.append(RigEvent(rig, time.monotonic_ns(), NO_DEVICE_TIME, "episode", value))

    # ------------------------------------------------------------------ setup
    def _create(self, seconds: float | None) -> tuple[SessionWriter, dict[str, Any]]:
        check_disk_space(self.home.sessions, self.space, seconds or self.planned_s)
        rigs = {d.rig: {"device": d.info.to_dict()} for d in self.descriptions}
        w = SessionWriter(
            self.home.sessions,
            source=self.source_info,
            operator=self.operator,
            rigs=rigs,
            reserve_bytes=self.space.reserve,
        )
        streams: dict[str, Any] = {}
        for d in self.descriptions:
            if d.calibration is not None:
                store_calibration(self.home, d.calibration)
                w.add_calibration(d.rig, d.calibration)
            for c in d.cameras:
                spec = StreamSpec(f"{d.rig}.{c.sensor}", "video", d.rig, c.sensor, c.rate_hz)
                if c.depth_units_m:
                    spec.extra["depth_units_m"] = c.depth_units_m
                if c.registered_to:
                    spec.extra["registered_to"] = c.registered_to
                streams[f"{d.rig}.{c.sensor}"] = w.add_video(
                    spec,
                    c.width,
                    c.height,
                    c.pix_fmt,
                    "ffv1" if c.pix_fmt == "gray16le" else self.codec,
                )
            if d.imu_rate_hz:
                streams[f"{d.rig}.imu"] = w.add_table(StreamSpec(f"{d.rig}.imu", "imu", d.rig, "imu", d.imu_rate_hz))
            if d.gripper:
                streams[f"{d.rig}.gripper"] = w.add_table(StreamSpec(f"{d.rig}.gripper", "gripper", d.rig, "gripper"))
            streams[f"{d.rig}.events"] = w.add_table(StreamSpec(f"{d.rig}.events", "events", d.rig, "events"))
            if d.clocksync:
                streams[f"{d.rig}.clocksync"] = w.add_table(
                    StreamSpec(f"{d.rig}.clocksync", "clocksync", d.rig, "clocksync")
                )
        return w, streams

    # -------------------------------------------------------------------- run
    def run(self, seconds: float | None = None, before_close: Callable[[SessionWriter], None] | None = None) -> Session:
        """Record until ``seconds`` of host time pass, every source ends, or ``stop()``."""
        w, streams = self._create(seconds)
        self.writer = w
        q: queue.Queue[Sample | _Done] = queue.Queue()

        def pump(src: RigSource, rig: str) -> None:
            try:
                for s in src.samples():
                    q.put(s)
                    if self._stop.is_set():
                        break
                q.put(_Done(rig))
            except BaseException as e:  # noqa: BLE001 - reported to the writer thread, recording goes on
                q.put(_Done(rig, e))

        threads = [
            threading.Thread(target=pump, args=(s, d.rig), daemon=True, name=f"source-{d.rig}")
            for s, d in zip(self.sources, self.descriptions, strict=True)
        ]
        self.stats.started_ns = time.monotonic_ns()
        for t in threads:
            t.start()
        running = len(threads)
        t_first: int | None = None
        errors: list[str] = []
        try:
            while running:
                self._watch_space(w)
                with self._lock:
                    marks, self._marks = self._marks, []
                for m in marks:
                    self._keep(m, streams)
                try:
                    item = q.get(timeout=0.1)
                except queue.Empty:
                    continue
                self.stats.queue_max = max(self.stats.queue_max, q.qsize())
                if isinstance(item, _Done):
                    running -= 1
                    if item.error is not None:
                        errors.append(f"{item.rig}: {item.error}")
                        log.error("source %s failed: %s", item.rig, item.error)
                    continue
                t_item = _sample_time(item)
                if t_first is None and t_item is not None:
                    t_first = t_item
                if (
                    seconds is not None
                    and t_first is not None
                    and t_item is not None
                    and t_item - t_first >= seconds * 1e9
                ):
                    self.stop()
                    continue  # drain what the sources already produced, but past the end is not kept
                self._keep(item, streams)
                if self.observer is not None:
                    self.observer(item)
        except KeyboardInterrupt:
            log.warning("recording interrupted; closing the session with what was received")
            self.stop()
        finally:
            for t in threads:
                t.join(timeout=2.0)
        # Samples still queued after every source ended were received: keep them.
        while True:
            try:
                item = q.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, _Done) and not (
                seconds is not None and t_first is not None and (_sample_time(item) or 0) - t_first >= seconds * 1e9
            ):
                self._keep(item, streams)
        with self._lock:
            for m in self._marks:
                self._keep(m, streams)
        if errors:
            w.update(source_errors=errors)
        if before_close is not None:
            try:
                before_close(w)
            except Exception as e:
                if not is_no_space(e):
                    raise
                self._disk_full(f"a write failed: {e}")
                w.write_errors.append(f"before close: {e}")
        try:
            if self.stopped is not None:
                w.update(stopped={**self.stopped, "frames_discarded": self.stats.frames_discarded})
            path = w.close()  # episodes from the trigger/operator events as written (the file is the truth)
        except Exception as e:
            if not is_no_space(e):
                raise
            raise DiskSpaceError(
                "the disk is full, so the session could not be marked complete; every chunk written before is kept "
                f"and it is recovered the next time it is opened (free space, then `democap sessions show {w.id}`)",
                w.path,
            ) from e
        self.stats.ended_ns = time.monotonic_ns()
        session = Session(path)
        try:
            refresh_session(self.home, session)
        except Exception as e:
            if not is_no_space(e):
                raise
            log.error("catalog not updated (%s); after freeing space run `democap catalog rebuild`", e)
        return session

    def _watch_space(self, w: SessionWriter) -> None:
        """Stop (and say why) before the disk is full, while the session can still close."""
        now = time.monotonic()
        if self.stopped is not None or now < self._next_watch:
            return
        self._next_watch = now + _WATCH_PERIOD_S
        free = shutil.disk_usage(w.path).free
        if free < self.space.low_water:
            low = self.space.low_water / 1e6
            self._disk_full(f"only {free / 1e6:.0f} MB left free on the disk (recording stops below {low:.0f} MB)")

    def _disk_full(self, why: str) -> None:
        assert self.writer is not None
        if self.stopped is None:
            t = (self._t_last - self.stats.first_ns) * 1e-9 if self.stats.first_ns else 0.0
            self.stopped = {"reason": "disk_full", "message": why, "after_s": round(t, 2)}
            log.error("recording stopped after %.1f s: %s; closing the session with what is on disk", t, why)
            self.stop()
        self.writer.release_reserve()

    def _keep(self, s: Sample, streams: dict[str, Any]) -> None:
        """Write a sample; on a full disk stop the recording instead of failing it.

        Once the disk is full, camera frames still arriving are counted and dropped; the
        small table samples (IMU, gripper, events such as an episode's end) are still kept.
        """
        if self.stopped is not None and self.stopped["reason"] == "disk_full" and isinstance(s, CameraFrame):
            self.stats.frames_discarded += 1
            return
        try:
            self._write(s, streams)
        except Exception as e:
            if not is_no_space(e):
                raise
            self._disk_full(f"a write failed: {e}")

    def _write(self, s: Sample, streams: dict[str, Any]) -> None:
        t = _sample_time(s)
        if t is not None and t > self._t_last:
            self._t_last = t
            self.stats.first_ns = self.stats.first_ns or t
        if isinstance(s, CameraFrame):
            name = f"{s.rig}.{s.sensor}"
            streams[name].append(s.image, s.t_host_ns, s.t_device_ns, s.exposure_ns)
            self.stats.frames[name] = self.stats.frames.get(name, 0) + 1
        elif isinstance(s, ImuBatch):
            streams[f"{s.rig}.imu"].append_many(imu_columns(s.t_host_ns, s.t_device_ns, s.gyro, s.accel))
            self.stats.imu_samples += len(s.t_host_ns)
        elif isinstance(s, GripperSample):
            streams[f"{s.rig}.gripper"].append(
                t_host_ns=s.t_host_ns, t_device_ns=s.t_device_ns, width_m=s.width_m, raw=s.raw
            )
            self.stats.gripper_samples += 1
        elif isinstance(s, RigEvent):
            streams[f"{s.rig}.events"].append(
                t_host_ns=s.t_host_ns, t_device_ns=s.t_device_ns, kind=s.kind, value=s.value
            )
            self.stats.events += 1
        elif isinstance(s, ClockExchange):
            if f"{s.rig}.clocksync" in streams:
                streams[f"{s.rig}.clocksync"].append(
                    t_host_send_ns=s.t_host_send_ns,
                    t_device_rx_ns=s.t_device_rx_ns,
                    t_device_tx_ns=s.t_device_tx_ns,
                    t_host_recv_ns=s.t_host_recv_ns,
                )
        elif isinstance(s, LinkGap):
            assert self.writer is not None
            self.writer.add_gap(s.rig, s.t0_ns, s.t1_ns, s.reason)
            self.stats.gaps += 1


def _sample_time(s: Sample) -> int | None:
    if isinstance(s, ImuBatch):
        return int(s.t_host_ns[-1]) if len(s.t_host_ns) else None
    if isinstance(s, LinkGap):
        return s.t1_ns
    if isinstance(s, ClockExchange):
        return s.t_host_recv_ns
    return int(s.t_host_ns)
