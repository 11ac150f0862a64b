"""RealSense recordings (.db3 / .bag) through librealsense: write with a software device, read by playback.

``SoftwareRecorder`` builds a recording from arrays (a ``rs.software_device`` with depth,
color and motion sensors, recorded by ``rs.recorder``): synthetic fixtures, or converting
another source into the format RealSense tools open. ``read_recording`` replays a file
with ``ctx.load_device`` in non-real-time mode, copying every frame out in per-sensor
callbacks (librealsense's frame pool is small: holding frames drops later ones).

Times: RealSense timestamps are ms (float) in the device's hardware clock domain; they
become ``t_device_ns``. librealsense needs libusb-1.0 at import time even for files.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from democap.errors import ImportFormatError


def _rs() -> Any:
    try:
        import pyrealsense2 as rs
    except ImportError as e:  # missing wheel or missing libusb-1.0
        raise ImportFormatError(f"pyrealsense2 unavailable: {e}") from e
    return rs


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    model: str = "brown_conrady"
    coeffs: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)


class SoftwareRecorder:
    """Write a RealSense recording: ``color``/``depth`` images and ``gyro``/``accel`` samples, times in ms."""

    def __init__(
        self,
        path: Path,
        intr: Intrinsics,
        fps: int = 30,
        imu_hz: int = 200,
        serial: str = "SW-0000",
        name: str = "democap software device",
        depth_units_m: float = 0.001,
    ) -> None:
        rs = _rs()
        self.rs = rs
        self.dev = rs.software_device()
        self.dev.register_info(rs.camera_info.serial_number, serial)
        self.dev.register_info(rs.camera_info.name, name)
        ri = rs.intrinsics()
        ri.width, ri.height, ri.fx, ri.fy, ri.ppx, ri.ppy = intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy
        ri.model = rs.distortion.brown_conrady
        ri.coeffs = list(intr.coeffs)
        self.w, self.h = intr.width, intr.height
        self.sensors: dict[str, Any] = {}
        self.profiles: dict[str, Any] = {}
        uid = 0
        for name_, stype, fmt, bpp in (
            ("depth", rs.stream.depth, rs.format.z16, 2),
            ("color", rs.stream.color, rs.format.rgb8, 3),
        ):
            s = self.dev.add_sensor(name_.capitalize())
            vs = rs.video_stream()
            vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt, vs.intrinsics = (
                stype,
                0,
                uid,
                intr.width,
                intr.height,
                fps,
                bpp,
                fmt,
                ri,
            )
            uid += 1
            self.profiles[name_] = s.add_video_stream(vs)
            self.sensors[name_] = s
        self.sensors["depth"].add_read_only_option(rs.option.depth_units, depth_units_m)
        motion = self.dev.add_sensor("Motion Module")
        for name_, stype in (("gyro", rs.stream.gyro), ("accel", rs.stream.accel)):
            ms = rs.motion_stream()
            ms.type, ms.index, ms.uid, ms.fps, ms.fmt = stype, 0, uid, imu_hz, rs.format.motion_xyz32f
            ms.intrinsics = rs.motion_device_intrinsic()
            uid += 1
            self.profiles[name_] = motion.add_motion_stream(ms)
            self.sensors[name_] = motion
        self.recorder = rs.recorder(str(path), self.dev)
        for name_ in ("depth", "color"):
            self.sensors[name_].open(self.profiles[name_])
        motion.open([self.profiles["gyro"], self.profiles["accel"]])
        for s in {id(s): s for s in self.sensors.values()}.values():
            s.start(lambda f: None)
        self._n: dict[str, int] = {}

    def _video(self, name: str, img: NDArray[Any], t_ms: float, bpp: int) -> None:
        rs = self.rs
        f = rs.software_video_frame()
        f.pixels = np.ascontiguousarray(img)
        f.bpp, f.stride = bpp, bpp * self.w
        f.timestamp, f.domain = float(t_ms), rs.timestamp_domain.hardware_clock
        f.frame_number = self._n.setdefault(name, 0)
        self._n[name] += 1
        f.profile = self.profiles[name].as_video_stream_profile()
        self.sensors[name].on_video_frame(f)

    def depth(self, depth_raw: NDArray[np.uint16], t_ms: float) -> None:
        """depth_raw: (H, W) uint16 in depth units."""
        self._video("depth", depth_raw.astype(np.uint16), t_ms, 2)

    def color(self, rgb: NDArray[np.uint8], t_ms: float) -> None:
        """rgb: (H, W, 3) uint8."""
        self._video("color", rgb.astype(np.uint8), t_ms, 3)

    def _motion(self, name: str, xyz: NDArray[np.float64], t_ms: float) -> None:
        rs = self.rs
        m = rs.software_motion_frame()
        v = rs.vector()
        v.x, v.y, v.z = (float(a) for a in xyz)
        m.data = v
        m.timestamp, m.domain = float(t_ms), rs.timestamp_domain.hardware_clock
        m.frame_number = self._n.setdefault(name, 0)
        self._n[name] += 1
        m.profile = self.profiles[name].as_motion_stream_profile()
        self.sensors[name].on_motion_frame(m)

    def gyro(self, xyz_rad_s: NDArray[np.float64], t_ms: float) -> None:
        self._motion("gyro", xyz_rad_s, t_ms)

    def accel(self, xyz_m_s2: NDArray[np.float64], t_ms: float) -> None:
        self._motion("accel", xyz_m_s2, t_ms)

    def close(self) -> None:
        for s in {id(s): s for s in self.sensors.values()}.values():
            s.stop()
            s.close()
        del self.recorder  # flushes and closes the file
        self.recorder = None


@dataclass
class StreamData:
    kind: str  # depth | color | gyro | accel | infrared ...
    t_ms: list[float] = field(default_factory=list)
    frame_number: list[int] = field(default_factory=list)
    data: list[Any] = field(default_factory=list)  # images (H, W[, 3]) or (3,) motion vectors
    intrinsics: Intrinsics | None = None
    fps: int = 0

    def times_ns(self) -> NDArray[np.int64]:
        return np.round(np.asarray(self.t_ms, dtype=np.float64) * 1e6).astype(np.int64)


@dataclass
class RealSenseRecording:
    serial: str
    name: str
    depth_units_m: float
    streams: dict[str, StreamData]


def read_recording(path: Path, timeout_s: float = 120.0) -> RealSenseRecording:
    """Every frame of a RealSense recording, in per-stream lists sorted by time."""
    rs = _rs()
    path = Path(path)
    if not path.is_file():
        raise ImportFormatError("no such RealSense recording", path)
    ctx = rs.context()
    try:
        dev = ctx.load_device(str(path))
    except RuntimeError as e:
        raise ImportFormatError(f"librealsense cannot open the recording: {e}", path) from e
    pb = dev.as_playback()
    pb.set_real_time(False)
    streams: dict[str, StreamData] = {}
    lock = threading.Lock()
    depth_units = 0.001

    def on_frame(f: Any) -> None:
        p = f.profile
        key = f"{p.stream_name() or p.stream_type().name}"
        if f.is_motion_frame():
            d = f.as_motion_frame().get_motion_data()
            value: Any = np.array([d.x, d.y, d.z])
        else:
            value = np.asanyarray(f.get_data()).copy()
        with lock:
            sd = streams.get(key)
            if sd is None:
                sd = streams[key] = StreamData(str(p.stream_type()).split(".")[-1], fps=p.fps())
                if p.is_video_stream_profile():
                    i = p.as_video_stream_profile().get_intrinsics()
                    sd.intrinsics = Intrinsics(
                        i.width, i.height, i.fx, i.fy, i.ppx, i.ppy, str(i.model).split(".")[-1], tuple(i.coeffs)
                    )
            sd.t_ms.append(f.get_timestamp())
            sd.frame_number.append(f.get_frame_number())
            sd.data.append(value)

    sensors = dev.query_sensors()
    pb.pause()  # playback starts with the first sensor; hold it until every sensor listens
    for s in sensors:
        if s.supports(rs.option.depth_units):
            depth_units = float(s.get_option(rs.option.depth_units))
        s.open(s.get_stream_profiles())
        s.start(on_frame)
    pb.resume()
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout_s:
            time.sleep(0.02)
            if pb.current_status() == rs.playback_status.stopped and (streams or time.monotonic() - t0 > 2.0):
                break
        else:
            raise ImportFormatError(f"playback did not finish within {timeout_s:.0f} s", path)
    finally:
        for s in sensors:
            s.stop()
            s.close()
    for sd in streams.values():
        order = np.argsort(np.asarray(sd.t_ms), kind="stable")
        sd.t_ms = [sd.t_ms[i] for i in order]
        sd.frame_number = [sd.frame_number[i] for i in order]
        sd.data = [sd.data[i] for i in order]
    info = dev.get_info
    return RealSenseRecording(info(rs.camera_info.serial_number), info(rs.camera_info.name), depth_units, streams)


# ------------------------------------------------------------------------------------------- live source

_VIDEO_SENSORS = {"color": ("cam0", "rgb24"), "depth": ("depth0", "gray16le"), "infrared": ("ir0", "gray")}


class RealSenseSource:
    """A ``devices.base.RigSource`` for a RealSense camera (or a recording replayed as one).

    Frames are copied out in per-sensor callbacks and stamped with the host's
    ``CLOCK_MONOTONIC`` on arrival; the RealSense hardware timestamp is the device time.
    Gyro samples become ``ImuBatch`` rows with the latest accelerometer reading held
    (the two run at different rates). ``target`` is a serial number, a recording path,
    or ``None`` for the first connected camera.
    """

    def __init__(
        self,
        target: str | Path | None = None,
        rig: str = "rig0",
        color: tuple[int, int, int] = (640, 480, 30),
        depth: tuple[int, int, int] = (640, 480, 30),
    ) -> None:
        import queue

        rs = _rs()
        self.rs, self.rig = rs, rig
        self.ctx = rs.context()
        self.playback = target is not None and Path(str(target)).is_file()
        if self.playback:
            self.dev = self.ctx.load_device(str(target))
            self.dev.as_playback().set_real_time(False)
        else:
            devices = list(self.ctx.query_devices())
            match = [d for d in devices if target is None or d.get_info(rs.camera_info.serial_number) == str(target)]
            if not match:
                raise ImportFormatError(f"no RealSense camera {target or ''} connected".strip())
            self.dev = match[0]
        self.want = {"color": color, "depth": depth}
        self.q: queue.Queue[Any] = queue.Queue()
        self._stop = False
        self._profiles: dict[Any, list[Any]] = {}
        for s in self.dev.query_sensors():
            chosen = [p for p in s.get_stream_profiles() if self._wanted(p)]
            if chosen:
                self._profiles[s] = chosen

    def _wanted(self, p: Any) -> bool:
        if self.playback:
            return True
        kind = str(p.stream_type()).split(".")[-1]
        if kind in ("gyro", "accel"):
            return True
        if kind not in self.want or not p.is_video_stream_profile():
            return False
        v = p.as_video_stream_profile()
        w, h, fps = self.want[kind]
        fmt = self.rs.format.rgb8 if kind == "color" else self.rs.format.z16
        return (v.width(), v.height(), p.fps(), p.format()) == (w, h, fps, fmt)

    def describe(self) -> Any:
        from devices import base

        rs = self.rs
        cams, imu_rate = [], None
        for profiles in self._profiles.values():
            for p in profiles:
                kind = str(p.stream_type()).split(".")[-1]
                if kind in _VIDEO_SENSORS and p.is_video_stream_profile():
                    v = p.as_video_stream_profile()
                    sensor, fmt = _VIDEO_SENSORS[kind]
                    cams.append(base.CameraStreamInfo(sensor, v.width(), v.height(), fmt, float(p.fps())))
                elif kind == "gyro":
                    imu_rate = float(p.fps())
        info = base.DeviceInfo(
            self.dev.get_info(rs.camera_info.serial_number),
            self.dev.get_info(rs.camera_info.name),
            self.dev.get_info(rs.camera_info.firmware_version)
            if self.dev.supports(rs.camera_info.firmware_version)
            else "unknown",
            "realsense",
            tuple(c.sensor for c in cams) + (("imu",) if imu_rate else ()),
        )
        return base.SourceDescription(self.rig, info, cams, imu_rate, gripper=False, events=False)

    def stop(self) -> None:
        self._stop = True

    def _on_frame(self, f: Any) -> None:
        t_host = time.monotonic_ns()
        kind = str(f.profile.stream_type()).split(".")[-1]
        t_dev = int(round(f.get_timestamp() * 1e6))
        if f.is_motion_frame():
            d = f.as_motion_frame().get_motion_data()
            self.q.put((kind, t_host, t_dev, np.array([d.x, d.y, d.z]), 0))
        else:
            exp = 0
            if f.supports_frame_metadata(self.rs.frame_metadata_value.actual_exposure):
                exp = int(f.get_frame_metadata(self.rs.frame_metadata_value.actual_exposure)) * 1000  # us -> ns
            self.q.put((kind, t_host, t_dev, np.asanyarray(f.get_data()).copy(), exp))

    def samples(self) -> Any:
        import queue

        from devices import base

        pb = self.dev.as_playback() if self.playback else None
        if pb is not None:
            pb.pause()
        for s, profiles in self._profiles.items():
            s.open(profiles)
            s.start(self._on_frame)
        if pb is not None:
            pb.resume()
        accel = np.array([np.nan, np.nan, np.nan])
        gyro_rows: list[tuple[int, int, Any]] = []
        t_flush = time.monotonic()
        try:
            while not self._stop:
                try:
                    kind, t_host, t_dev, value, exp = self.q.get(timeout=0.05)
                except queue.Empty:
                    if pb is not None and pb.current_status() == self.rs.playback_status.stopped:
                        break
                    continue
                if kind == "accel":
                    accel = value
                elif kind == "gyro":
                    if np.all(np.isfinite(accel)):
                        gyro_rows.append((t_host, t_dev, np.concatenate([value, accel])))
                elif kind in _VIDEO_SENSORS:
                    yield base.CameraFrame(self.rig, _VIDEO_SENSORS[kind][0], t_host, t_dev, exp, value)
                if gyro_rows and (time.monotonic() - t_flush > 0.02 or len(gyro_rows) >= 64):
                    yield self._batch(gyro_rows)
                    gyro_rows, t_flush = [], time.monotonic()
            if gyro_rows:
                yield self._batch(gyro_rows)
        finally:
            for s in self._profiles:
                s.stop()
                s.close()

    def _batch(self, rows: list[tuple[int, int, Any]]) -> Any:
        from devices import base

        v = np.array([r[2] for r in rows])
        t_host = np.array([r[0] for r in rows], dtype=np.int64)
        t_host = np.maximum.accumulate(t_host + np.arange(len(t_host)))  # strictly increasing
        return base.ImuBatch(self.rig, t_host, np.array([r[1] for r in rows], dtype=np.int64), v[:, :3], v[:, 3:])
