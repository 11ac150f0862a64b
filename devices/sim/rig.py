"""The virtual rig: motion, IMU, clocks, cameras, gripper and trigger as one deterministic device.

``SimRig`` holds the whole simulated recording (everything but the images is computed
up front; images are rendered on demand) with its true calibration and ground truth.
``VirtualRigSource`` plays it to the recorder as a ``devices.base.RigSource``.

Time: sim time ``t_s`` is true time from the start. The host clock reads
``host_start_ns + t_s * 1e9``; the device clock has an offset, drift and optional jumps
(``devices.sim.clock``). IMU, camera and gripper sample on the device's crystal. A camera
frame's device stamp is the middle of its first row's exposure minus the camera-to-IMU
offset: ``t_imu = t_cam + time_offset_ns``, as in ``CameraCalibration``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.model import (
    CameraCalibration,
    CameraModel,
    ClockMapping,
    GripperCalibration,
    ImuNoise,
    RigCalibration,
    TrackState,
    Trajectory,
)
from devices.base import (
    CameraFrame,
    CameraStreamInfo,
    ClockExchange,
    DeviceInfo,
    GripperSample,
    ImuBatch,
    LinkGap,
    RigEvent,
    Sample,
    SourceDescription,
)
from devices.sim import body
from devices.sim.clock import DeviceClock, HostClock, true_clock_mapping
from devices.sim.imu import EUROC_NOISE, ImuSamples, synthesize_imu
from devices.sim.motion import MOTION_KINDS, Motion, replay_motion, scripted_motion

if TYPE_CHECKING:  # rendering is imported lazily: the model alone needs no scene
    from devices.sim.render import RenderedFrame, Renderer
    from devices.sim.scene import Scene

log = logging.getLogger(__name__)

CameraSetup = Literal["mono-pinhole", "stereo-pinhole", "mono-fisheye", "stereo-fisheye"]
CAMERA_SETUPS: tuple[str, ...] = ("mono-pinhole", "stereo-pinhole", "mono-fisheye", "stereo-fisheye")
ENCODER_TICKS = 4095
MAX_EXPOSURE_S = 0.020
MIN_EXPOSURE_S = 0.0005
MAX_GAIN = 8.0
# Transport latencies (host arrival after the sample is complete) and their jitter scales.
CAMERA_LATENCY_S, CAMERA_JITTER_S = 0.006, 0.001
IMU_LATENCY_S, IMU_JITTER_S = 0.0008, 0.0002
GRIPPER_LATENCY_S, EVENT_LATENCY_S = 0.002, 0.002


@dataclass(frozen=True)
class SimRigConfig:
    """What to simulate. ``motion``: a scripted kind (pick_place, pour, wipe, mixed) or the
    path of a TUM / EuRoC ground-truth file to replay (moved onto the tabletop).

    Faults: ``dropped_frame_rate`` (share of camera frames lost), ``link_gaps_s`` ((t0, t1)
    sim-time spans when nothing arrives), ``clock_jumps`` ((t_s, step ns) of the device clock).
    ``host_start_ns`` None: the host clock starts at ``time.monotonic_ns()`` when the rig is made.
    ``screen``: a monitor on the table shows the host clock as a QR code, redrawn at
    ``display_hz`` with no display lag; ``motion="screen_clip"`` films it (and implies it).
    ``start_s``: the recording starts this far into the motion (mid-move rather than at rest).
    """

    seconds: float = 20.0
    seed: int = 0
    motion: str = "mixed"
    cameras: CameraSetup = "stereo-pinhole"
    fps: float = 30.0
    imu_rate_hz: float = 200.0
    gripper_rate_hz: float = 30.0
    width: int = 640
    height: int = 480
    gray: bool = True
    depth: bool = False
    rolling_shutter_s: float = 0.0
    camera_time_offset_s: float = 0.0025
    imu_noise: ImuNoise | None = EUROC_NOISE
    clock_offset_ns: int | None = None
    clock_drift_ppm: float = 20.0
    clock_jumps: tuple[tuple[float, int], ...] = ()
    clock_sync_hz: float = 2.0
    auto_exposure: bool = True
    exposure_s: float = 0.008
    lighting_changes: bool = True
    motion_blur: bool = True
    sensor_noise: bool = True
    fingers: bool = True
    photos: bool = True
    texture_root: str | None = None
    host_start_ns: int | None = None
    rig: str = "rig0"
    serial: str = ""
    dropped_frame_rate: float = 0.0
    link_gaps_s: tuple[tuple[float, float], ...] = ()
    screen: bool = False
    display_hz: float = 60.0
    start_s: float = 0.0

    def __post_init__(self) -> None:
        if self.cameras not in CAMERA_SETUPS:
            raise ValueError(f"unknown camera setup {self.cameras!r}; expected one of {', '.join(CAMERA_SETUPS)}")
        if self.motion not in MOTION_KINDS and not Path(self.motion).is_file():
            raise ValueError(f"motion {self.motion!r} is neither one of {MOTION_KINDS} nor a ground-truth file")
        if self.seconds <= 0 or self.fps <= 0 or self.imu_rate_hz <= 0:
            raise ValueError("seconds, fps and imu_rate_hz must be positive")


def camera_setup(
    setup: CameraSetup, width: int = 640, height: int = 480, readout_s: float = 0.0
) -> list[tuple[str, CameraModel, NDArray[np.float64]]]:
    """(name, intrinsics, T_cam0_cam) of each camera; intrinsics scale with the image size."""
    W, H = width, height
    fisheye = setup.endswith("fisheye")
    if fisheye:
        cam0 = CameraModel(
            "fisheye-equidistant",
            W,
            H,
            0.36 * W,
            0.36 * W,
            W / 2 - 0.5 + 0.004 * W,
            H / 2 - 0.5 - 0.005 * H,
            (0.015, -0.004, 0.0008, -0.0001),
            readout_s,
        )
        cam1 = CameraModel(
            "fisheye-equidistant",
            W,
            H,
            0.361 * W,
            0.3605 * W,
            W / 2 - 0.5 - 0.003 * W,
            H / 2 - 0.5 + 0.004 * H,
            (0.013, -0.003, 0.0006, -0.0001),
            readout_s,
        )
    else:
        cam0 = CameraModel(
            "pinhole-radtan",
            W,
            H,
            0.6 * W,
            0.6 * W,
            W / 2 - 0.5 + 0.004 * W,
            H / 2 - 0.5 - 0.006 * H,
            (-0.06, 0.02, 3e-4, -2e-4, 0.0),
            readout_s,
        )
        cam1 = CameraModel(
            "pinhole-radtan",
            W,
            H,
            0.602 * W,
            0.601 * W,
            W / 2 - 0.5 - 0.003 * W,
            H / 2 - 0.5 + 0.004 * H,
            (-0.058, 0.019, -2e-4, 1e-4, 0.0),
            readout_s,
        )
    out = [("cam0", cam0, np.eye(4))]
    if setup.startswith("stereo"):
        T_cam0_cam1 = geometry.se3(geometry.so3_exp([0.002, -0.004, 0.001]), [body.STEREO_BASELINE_M, 0.0004, -0.0008])
        out.append(("cam1", cam1, T_cam0_cam1))
    return out


@dataclass(frozen=True, eq=False)
class SimGroundTruth:
    """The truth behind a simulated recording.

    IMU-rate series at true times t_s (N,): host-clock times t_host_ns (the session
    timeline), T_world_imu (N, 4, 4), gripper width, the IMU's true biases (N, 3).
    Per camera frame (F,): true mid-exposure time of the first row (s and host ns), the
    device stamp, exposure and gain. World z is up with the table top at z = 0; tag poses
    use the OpenCV marker convention (``devices.sim.scene``).
    """

    t_s: NDArray[np.float64]
    t_host_ns: NDArray[np.int64]
    T_world_imu: NDArray[np.float64]
    gripper_width_m: NDArray[np.float64]
    gyro_bias: NDArray[np.float64]
    accel_bias: NDArray[np.float64]
    frame_t_s: NDArray[np.float64]
    frame_t_host_ns: NDArray[np.int64]
    frame_t_device_ns: NDArray[np.int64]
    frame_exposure_s: NDArray[np.float64]
    frame_gain: NDArray[np.float64]
    T_imu_cam: dict[str, NDArray[np.float64]]
    T_cam0_tcp: NDArray[np.float64]
    camera_time_offset_ns: int
    clock: DeviceClock
    clock_mapping: ClockMapping  # device -> host, valid until the first clock jump
    tags: dict[int, NDArray[np.float64]]
    tag_size_m: float
    tag_family: str
    episodes: tuple[tuple[int, int, str], ...]  # (t0 host ns, t1 host ns, task)

    def trajectory(self) -> Trajectory:
        """The true T_world_imu on the host timeline (world anchored to the table tags)."""
        n = len(self.t_host_ns)
        return Trajectory(
            self.t_host_ns,
            self.T_world_imu,
            np.full(n, TrackState.OK, np.uint8),
            np.ones(n, np.float32),
            np.zeros(n, np.float32),
            body="imu",
            world_anchor="tag",
        )


@functools.lru_cache(maxsize=2)
def _tabletop(seed: int, texture_root: str | None, photos: bool, screen: bool = False) -> Scene:
    """Scenes are read-only once built: rigs of the same seed share one (textures take ~2 s)."""
    from devices.sim.scene import Scene

    return Scene.tabletop(seed, texture_root, photos=photos, screen=screen)


class SimRig:
    """A simulated recording of one rig. Same config (and host_start_ns), same data."""

    def __init__(self, config: SimRigConfig = SimRigConfig()) -> None:
        self.config = c = config
        self.serial = c.serial or f"SIM-{c.seed:04d}"
        rng = np.random.default_rng([c.seed, 7010])
        if c.motion in MOTION_KINDS:
            self.motion: Motion = scripted_motion(c.motion, c.seconds + c.start_s, c.seed)  # type: ignore[arg-type]
        else:
            self.motion = replay_motion(c.motion, tabletop=True, seconds=c.seconds + c.start_s)
        if c.start_s > 0:
            self.motion = self.motion.cropped(c.start_s)
        self.seconds = min(c.seconds, self.motion.duration_s)
        offset = c.clock_offset_ns if c.clock_offset_ns is not None else int(rng.integers(10, 10_000)) * 1_000_000_007
        self.clock = DeviceClock(offset, c.clock_drift_ppm, tuple(c.clock_jumps))
        self._scene: Scene | None = None
        self._renderers: dict[str, Renderer] = {}
        self._pose_memo: dict[tuple[int, bytes], NDArray[np.float64]] = {}
        if c.host_start_ns is None:
            # A live rig: build what rendering needs first, so the clock starts when frames can flow.
            self.scene()
        start = c.host_start_ns if c.host_start_ns is not None else time.monotonic_ns()
        self.host = HostClock(start)
        self.camera_offset_ns = int(round(c.camera_time_offset_s * 1e9))
        self.cameras = camera_setup(c.cameras, c.width, c.height, c.rolling_shutter_s)
        self.T_imu_cam = {name: body.T_IMU_CAM0 @ T for name, _, T in self.cameras}
        crystal = 1.0 + c.clock_drift_ppm * 1e-6  # sensors tick on the device crystal

        self.imu_noise = replace(c.imu_noise, rate_hz=c.imu_rate_hz) if c.imu_noise is not None else None
        t_imu = np.arange(0, int(self.seconds * c.imu_rate_hz * crystal)) / (c.imu_rate_hz * crystal)
        self.imu: ImuSamples = synthesize_imu(self.motion, t_imu, self.imu_noise, c.seed)
        self.imu_device_ns = self.clock.device_ns(t_imu)

        period = 1.0 / (c.fps * crystal)
        self.frame_t_s = np.arange(0.5 * period, self.seconds - 0.5 * MAX_EXPOSURE_S, period)
        # Stamped as the device clock read camera_time_offset before the true mid-exposure.
        self.frame_device_ns = self.clock.device_ns(self.frame_t_s - self.camera_offset_ns * 1e-9)
        self.illumination = self._illumination(rng)
        self.frame_exposure_s, self.frame_gain = self._auto_exposure()
        self.frame_dropped = rng.random(len(self.frame_t_s)) < c.dropped_frame_rate

        g_period = 1.0 / (c.gripper_rate_hz * crystal)
        self.gripper_t_s = np.arange(0.3 * g_period, self.seconds, g_period)
        width = self.motion.gripper_width(self.gripper_t_s)
        scale = body.GRIPPER_MAX_WIDTH_M / ENCODER_TICKS
        self.gripper_raw = np.clip(np.round(width / scale + rng.normal(0, 0.7, len(width))), 0, ENCODER_TICKS)
        self.gripper_scale = scale
        self.events = [(e.t0_s, "episode", f"start:{e.task}") for e in self.motion.episodes if e.t0_s < self.seconds]
        self.events += [
            (min(e.t1_s, self.seconds - 0.05), "episode", "stop") for e in self.motion.episodes if e.t0_s < self.seconds
        ]
        self.events.sort()

    # ------------------------------------------------------------------ lighting

    def _illumination(self, rng: np.random.Generator) -> NDArray[np.float64]:
        """Scene light level at each frame (1 = textures as stored at 10 ms, gain 1)."""
        t = self.frame_t_s
        light = 1.4 * (1.0 + 0.05 * np.sin(2 * np.pi * t / 7.0 + rng.uniform(0, 2 * np.pi)))
        if self.config.lighting_changes and self.seconds > 6.0:
            t_dim = rng.uniform(0.35, 0.6) * self.seconds
            hold = rng.uniform(1.5, 3.0)
            down = np.clip((t - t_dim) / 0.4, 0, 1)
            up = np.clip((t - t_dim - 0.4 - hold) / 0.6, 0, 1)
            light *= 1.0 - 0.6 * (down - up)  # lights dim to 40 % and come back
        return light

    def _auto_exposure(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Exposure and gain per frame: a lagging controller (one frame late, 35 % per frame)."""
        c = self.config
        n = len(self.frame_t_s)
        if not c.auto_exposure:
            return np.full(n, c.exposure_s), np.ones(n)
        from devices.sim.render import REFERENCE_EXPOSURE_S

        total = np.empty(n)  # exposure x gain
        e = REFERENCE_EXPOSURE_S / self.illumination[0]
        for i in range(n):
            total[i] = e
            wanted = REFERENCE_EXPOSURE_S / self.illumination[i]
            e = float(np.exp(np.log(e) + 0.35 * (np.log(wanted) - np.log(e))))
            e = min(max(e, MIN_EXPOSURE_S), MAX_EXPOSURE_S * MAX_GAIN)
        exposure = np.clip(total, MIN_EXPOSURE_S, MAX_EXPOSURE_S)
        return exposure, np.clip(total / exposure, 1.0, MAX_GAIN)

    def frame_brightness(self, i: int) -> float:
        from devices.sim.render import REFERENCE_EXPOSURE_S

        return float(self.illumination[i] * self.frame_exposure_s[i] * self.frame_gain[i] / REFERENCE_EXPOSURE_S)

    # --------------------------------------------------------------- description

    def calibration(self) -> RigCalibration:
        """The rig's true calibration (what a perfect calibration procedure would find)."""
        c = self.config
        cams = tuple(
            CameraCalibration(name, model, self.T_imu_cam[name], self.camera_offset_ns)
            for name, model, _ in self.cameras
        )
        # Mid-exposure (first row) to host arrival: half the exposure, the readout, the transport
        # and its mean jitter. Auto exposure varies the first; the median frame stands for all.
        half_exposure_s = 0.5 * float(np.median(self.frame_exposure_s))
        camera_s = half_exposure_s + c.rolling_shutter_s + CAMERA_LATENCY_S + CAMERA_JITTER_S
        latency = {name: int(round(camera_s * 1e9)) for name, _, _ in self.cameras}
        latency.update(imu=int(IMU_LATENCY_S * 1e9), gripper=int(GRIPPER_LATENCY_S * 1e9))
        return RigCalibration(
            rig_serial=self.serial,
            cameras=cams,
            imu=self.imu_noise,
            T_cam_tcp=body.T_CAM0_TCP.copy(),
            gripper=GripperCalibration(
                "encoder", self.gripper_scale, 0.0, body.GRIPPER_MIN_WIDTH_M, body.GRIPPER_MAX_WIDTH_M
            ),
            latency_ns=latency,
            notes=f"virtual rig {self.serial}: true values of the simulation",
        )

    def ground_truth(self) -> SimGroundTruth:
        from devices.sim.scene import TAG_FAMILY, TAG_SIZE_M, table_tag_poses

        t = self.imu.t_s
        episodes = []
        starts = [ev for ev in self.events if ev[2].startswith("start")]
        stops = [ev for ev in self.events if ev[2] == "stop"]
        for (t0, _, value), (t1, _, _) in zip(starts, stops, strict=False):
            episodes.append((int(self.host.host_ns(t0)[0]), int(self.host.host_ns(t1)[0]), value.partition(":")[2]))
        return SimGroundTruth(
            t_s=t,
            t_host_ns=self.host.host_ns(t),
            T_world_imu=self.motion.pose(t),
            gripper_width_m=self.motion.gripper_width(t),
            gyro_bias=self.imu.gyro_bias,
            accel_bias=self.imu.accel_bias,
            frame_t_s=self.frame_t_s,
            frame_t_host_ns=self.host.host_ns(self.frame_t_s),
            frame_t_device_ns=self.frame_device_ns,
            frame_exposure_s=self.frame_exposure_s,
            frame_gain=self.frame_gain,
            T_imu_cam={k: v.copy() for k, v in self.T_imu_cam.items()},
            T_cam0_tcp=body.T_CAM0_TCP.copy(),
            camera_time_offset_ns=self.camera_offset_ns,
            clock=self.clock,
            clock_mapping=true_clock_mapping(self.clock, self.host),
            tags=table_tag_poses(),
            tag_size_m=TAG_SIZE_M,
            tag_family=TAG_FAMILY,
            episodes=tuple(episodes),
        )

    def describe(self) -> SourceDescription:
        c = self.config
        names = [name for name, _, _ in self.cameras]
        streams = [CameraStreamInfo(n, c.width, c.height, "gray" if c.gray else "rgb24", c.fps) for n in names]
        if c.depth:
            streams.append(CameraStreamInfo("depth0", c.width, c.height, "gray16le", c.fps, 0.001, "cam0"))
        sensors = tuple(names + (["depth0"] if c.depth else []) + ["imu", "gripper"])
        info = DeviceInfo(
            self.serial,
            "democap virtual rig",
            "sim-1",
            kind="virtual-rig",
            sensors=sensors,
            capabilities=("imu", "gripper", "trigger", "clock-sync", "ground-truth"),
        )
        return SourceDescription(
            rig=c.rig,
            info=info,
            cameras=streams,
            imu_rate_hz=c.imu_rate_hz,
            gripper=True,
            events=True,
            clocksync=c.clock_sync_hz > 0,
            calibration=self.calibration(),
        )

    # ----------------------------------------------------------------- rendering

    def scene(self) -> Scene:
        """The rendered world, built on first use (a couple of seconds; shared by rigs of the same seed)."""
        if self._scene is None:
            c = self.config
            self._scene = _tabletop(c.seed, c.texture_root, c.photos, self.has_screen)
        return self._scene

    def renderer(self, camera: str) -> Renderer:
        if camera not in self._renderers:
            from devices.sim.render import Renderer, SensorNoise

            c = self.config
            ((name, model, T_cam0_cam),) = [x for x in self.cameras if x[0] == camera]
            self._renderers[camera] = Renderer(
                self.scene(),
                model,
                gray=c.gray,
                T_cam0_cam=T_cam0_cam,
                fingers=c.fingers,
                noise=SensorNoise() if c.sensor_noise else None,
            )
        return self._renderers[camera]

    def render_frame(self, i: int, camera: str = "cam0", depth: bool = False) -> RenderedFrame:
        """Render frame i of a camera as the rig saw it (blur, exposure, noise, fingers)."""
        c = self.config
        t = float(self.frame_t_s[i])
        T_imu_cam = self.T_imu_cam[camera]

        def pose_at(dt: NDArray[np.float64]) -> NDArray[np.float64]:
            # Stereo cameras ask for the same instants: evaluate the splines once per frame.
            key = (i, np.asarray(dt, dtype=np.float64).tobytes())
            if key not in self._pose_memo:
                if len(self._pose_memo) > 16:
                    self._pose_memo.clear()
                self._pose_memo[key] = self.motion.pose(t + np.asarray(dt))
            return self._pose_memo[key] @ T_imu_cam

        cam_index = [x[0] for x in self.cameras].index(camera)
        exposure = float(self.frame_exposure_s[i])
        return self.renderer(camera).render(
            pose_at,
            exposure_s=float(self.frame_exposure_s[i]) if c.motion_blur else 0.0,
            brightness=self.frame_brightness(i),
            gripper_width_m=float(self.motion.gripper_width(t)[0]),
            depth=depth,
            noise_seed=(c.seed * 16 + cam_index) * 1_000_003 + i if c.sensor_noise else None,
            screen=self.screen_content(t - 0.5 * exposure, t + 0.5 * exposure) if self.has_screen else None,
        )

    @property
    def has_screen(self) -> bool:
        return self.config.screen or self.config.motion == "screen_clip"

    def screen_content(self, t0_s: float, t1_s: float) -> NDArray[np.uint8]:
        """What the clock monitor shows to an exposure from sim time t0_s to t1_s (gray, screen texels).

        At each refresh (phase seeded) the monitor draws the host time of that refresh; an
        exposure spanning refreshes sees the codes blended by how long each was shown.
        """
        from democap.formats.clock_code import encode_time
        from devices.sim.scene import SCREEN_PX_PER_M, SCREEN_SIZE_M

        c = self.config
        period = 1.0 / c.display_hz
        phase = float(np.random.default_rng([c.seed, 7012]).uniform(0.0, period))
        t1_s = max(t1_s, t0_s + 1e-6)
        k0, k1 = int(np.floor((t0_s - phase) / period)), int(np.floor((t1_s - phase) / period))
        h, w = round(SCREEN_SIZE_M[1] * SCREEN_PX_PER_M), round(SCREEN_SIZE_M[0] * SCREEN_PX_PER_M)
        acc = np.zeros((h, w), np.float32)
        for k in range(k0, k1 + 1):
            a, b = max(t0_s, phase + k * period), min(t1_s, phase + (k + 1) * period)
            if b <= a:
                continue
            qr = encode_time(int(self.host.host_ns(phase + k * period)[0]), module_px=1)
            m = max(1, int(0.92 * h) // qr.shape[0])
            qr = cv2.resize(qr, None, fx=m, fy=m, interpolation=cv2.INTER_NEAREST)
            canvas = np.full((h, w), 255, np.float32)
            canvas[:, :8], canvas[:, -8:], canvas[:8], canvas[-8:] = 25, 25, 25, 25  # the bezel
            y, x = (h - qr.shape[0]) // 2, (w - qr.shape[1]) // 2
            canvas[y : y + qr.shape[0], x : x + qr.shape[1]] = qr
            acc += canvas * np.float32((b - a) / (t1_s - t0_s))
        return np.clip(acc + 0.5, 0, 255).astype(np.uint8)

    def warm_up(self) -> None:
        """Build the scene and every camera's renderer now rather than at the first frame.

        A rig made with ``host_start_ns=None`` builds its scene before reading the host clock;
        with an explicit start, a real-time source that warms up late delivers its first
        samples in a burst.
        """
        for name, _, _ in self.cameras:
            self.renderer(name)

    def source(self, realtime: bool = False) -> VirtualRigSource:
        return VirtualRigSource(self, realtime)


class VirtualRigSource:
    """Plays a ``SimRig`` as a ``RigSource``: samples in host-arrival order.

    Host stamps follow the simulated host clock; without ``realtime`` nothing sleeps, so a
    20 s recording is produced as fast as frames render.
    """

    def __init__(self, rig: SimRig, realtime: bool = False) -> None:
        self.rig = rig
        self.realtime = realtime
        self._stopped = False

    def describe(self) -> SourceDescription:
        return self.rig.describe()

    def stop(self) -> None:
        self._stopped = True

    def _schedule(self) -> list[tuple[int, int, str, int]]:
        """(arrival host ns, tie-break, kind, index) of everything the rig sends."""
        r, c = self.rig, self.rig.config
        rng = np.random.default_rng([c.seed, 7011])
        host = r.host.host_ns
        items: list[tuple[int, int, str, int]] = []
        batch = max(1, int(round(c.imu_rate_hz / 100.0)))  # IMU packets at ~100 Hz
        n_imu = len(r.imu)
        self._imu_batches = [(a, min(a + batch, n_imu)) for a in range(0, n_imu, batch)]
        jitter = rng.exponential(IMU_JITTER_S, len(self._imu_batches))
        self._imu_host = np.empty(n_imu, np.int64)
        for b, (a, z) in enumerate(self._imu_batches):
            arrival = int(host(r.imu.t_s[z - 1] + IMU_LATENCY_S + jitter[b])[0])
            self._imu_host[a:z] = host(r.imu.t_s[a:z] + IMU_LATENCY_S + jitter[b])
            items.append((arrival, 1, "imu", b))
        self._imu_host = np.maximum.accumulate(self._imu_host)
        cam_jitter = rng.exponential(CAMERA_JITTER_S, len(r.frame_t_s))
        done = r.frame_t_s + 0.5 * r.frame_exposure_s + c.rolling_shutter_s + CAMERA_LATENCY_S + cam_jitter
        self._frame_host = host(done)
        items += [(int(self._frame_host[i]), 2, "frame", i) for i in range(len(done)) if not r.frame_dropped[i]]
        self._gripper_host = host(r.gripper_t_s + GRIPPER_LATENCY_S + rng.exponential(0.0005, len(r.gripper_t_s)))
        items += [(int(h), 3, "gripper", i) for i, h in enumerate(self._gripper_host)]
        self._event_host = [int(host(t + EVENT_LATENCY_S)[0]) for t, _, _ in r.events]
        items += [(h, 4, "event", i) for i, h in enumerate(self._event_host)]
        self._exchanges: list[ClockExchange] = []
        if c.clock_sync_hz > 0:
            for k, t in enumerate(np.arange(0.25, r.seconds, 1.0 / c.clock_sync_hz)):
                d1, d2 = 0.0004 + rng.exponential(0.0003, 2)
                rx = int(r.clock.device_ns(t + d1)[0])
                ex = ClockExchange(c.rig, int(host(t)[0]), rx, rx + 30_000, int(host(t + d1 + 30e-6 + d2)[0]))
                self._exchanges.append(ex)
                items.append((ex.t_host_recv_ns, 0, "clock", k))
        gaps = [(int(host(a)[0]), int(host(b)[0])) for a, b in c.link_gaps_s]
        if gaps:
            items = [it for it in items if not any(g0 <= it[0] < g1 for g0, g1 in gaps)]
            items += [(g1, 5, "gap", k) for k, (_, g1) in enumerate(gaps)]
        items.sort()
        return items

    def samples(self) -> Iterator[Sample]:
        r, c = self.rig, self.rig.config
        if self.realtime:
            r.warm_up()  # textures and rays before the first frame is due, not while it is
        items = self._schedule()
        if self.realtime and items and time.monotonic_ns() - items[0][0] > 100_000_000:
            log.warning(
                "virtual rig %s starts %.1f s behind its host clock; early samples arrive in a burst",
                r.serial,
                (time.monotonic_ns() - items[0][0]) * 1e-9,
            )
        names = [name for name, _, _ in r.cameras]
        for arrival, _, kind, i in items:
            if self._stopped:
                return
            if self.realtime:
                wait = arrival - time.monotonic_ns()
                if wait > 0:
                    time.sleep(wait * 1e-9)
            if kind == "imu":
                a, z = self._imu_batches[i]
                yield ImuBatch(
                    c.rig,
                    self._imu_host[a:z].copy(),
                    r.imu_device_ns[a:z].copy(),
                    r.imu.gyro[a:z].copy(),
                    r.imu.accel[a:z].copy(),
                )
            elif kind == "frame":
                exposure_ns = int(round(r.frame_exposure_s[i] * 1e9))
                for name in names:
                    want_depth = c.depth and name == "cam0"
                    frame = r.render_frame(i, name, depth=want_depth)
                    yield CameraFrame(
                        c.rig, name, int(self._frame_host[i]), int(r.frame_device_ns[i]), exposure_ns, frame.image
                    )
                    if want_depth and frame.depth_mm is not None:
                        yield CameraFrame(
                            c.rig,
                            "depth0",
                            int(self._frame_host[i]),
                            int(r.frame_device_ns[i]),
                            exposure_ns,
                            frame.depth_mm,
                        )
            elif kind == "gripper":
                raw = float(r.gripper_raw[i])
                yield GripperSample(
                    c.rig,
                    int(self._gripper_host[i]),
                    int(r.clock.device_ns(r.gripper_t_s[i])[0]),
                    raw * r.gripper_scale,
                    raw,
                )
            elif kind == "event":
                t, ev_kind, value = r.events[i]
                yield RigEvent(c.rig, self._event_host[i], int(r.clock.device_ns(t)[0]), ev_kind, value)
            elif kind == "clock":
                yield self._exchanges[i]
            elif kind == "gap":
                g0, g1 = [(int(r.host.host_ns(a)[0]), int(r.host.host_ns(b)[0])) for a, b in c.link_gaps_s][i]
                yield LinkGap(c.rig, g0, g1, "simulated link drop")
