"""The shared data model: time, trajectories, cameras, calibrations, episodes, flags.

Every stage imports its records from here; nothing else defines poses, timestamps,
flags or camera models. ``docs/conventions.md`` explains the conventions:

* Time: host timestamps are ``CLOCK_MONOTONIC`` int nanoseconds (``int64``).
  Device timestamps are kept raw beside them and never rewritten.
* Frames: ``T_a_b`` maps points in frame b to frame a. A rig's trajectory is
  ``T_world_imu`` at camera timestamps; world z is up.
* Quaternion order is named wherever one crosses a file boundary.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.errors import PolicyError

SCHEMA_VERSION = 1

Nanoseconds = int
Severity = Literal["info", "warn", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warn", "error")
WorldAnchor = Literal["tag", "first_pose"]


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces) used for content hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default).encode()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def content_hash(obj: Any) -> str:
    """``sha256:<hex>`` of an object's canonical JSON."""
    return "sha256:" + hashlib.sha256(canonical_json(obj)).hexdigest()


# --------------------------------------------------------------------------- time


@dataclass(frozen=True)
class ClockPair:
    """One simultaneous reading of the host's monotonic and realtime clocks (ns)."""

    monotonic_ns: int
    realtime_ns: int

    def to_realtime(self, monotonic_ns: int) -> int:
        return self.realtime_ns + (monotonic_ns - self.monotonic_ns)


@dataclass(frozen=True)
class ClockMapping:
    """Affine map from a device clock to the host clock.

    ``t_host = host_ref_ns + (t_device - device_ref_ns) * (1 + drift_ppm * 1e-6)``.
    ``uncertainty_ns`` is a 1-sigma bound of the mapping error.
    """

    device_ref_ns: int
    host_ref_ns: int
    drift_ppm: float = 0.0
    uncertainty_ns: float = 0.0
    method: str = "identity"

    def to_host(self, t_device_ns: NDArray[np.int64]) -> NDArray[np.int64]:
        d = np.asarray(t_device_ns, dtype=np.int64) - self.device_ref_ns
        # Integer part plus drift correction in float: exact to well below 1 ns for hours.
        return self.host_ref_ns + d + np.round(d.astype(np.float64) * self.drift_ppm * 1e-6).astype(np.int64)


@dataclass(frozen=True)
class TimeCorrections:
    """Corrections applied to one stream's timestamps, recorded in every stage output.

    ``latency_ns`` is subtracted (the sample happened before it arrived);
    ``offset_ns`` is added (for a camera: the camera-to-IMU time offset, so that
    ``t_imu = t_cam + offset_ns``).
    """

    clock: ClockMapping | None = None
    latency_ns: int = 0
    offset_ns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": asdict(self.clock) if self.clock else None,
            "latency_ns": self.latency_ns,
            "offset_ns": self.offset_ns,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TimeCorrections:
        clock = ClockMapping(**d["clock"]) if d.get("clock") else None
        return cls(clock=clock, latency_ns=int(d.get("latency_ns", 0)), offset_ns=int(d.get("offset_ns", 0)))


def corrected_times(
    t_host_ns: NDArray[np.int64], t_device_ns: NDArray[np.int64] | None, corrections: TimeCorrections
) -> NDArray[np.int64]:
    """The one place where timestamps are corrected.

    With a clock mapping and device timestamps, the device's own stamp (taken when the
    sample happened) is mapped to the host clock: that removes transport latency and
    jitter at once, so ``latency_ns`` is not applied. Otherwise the host arrival time is
    used and the stream's measured latency removed. The sensor offset is added in both
    cases. Raw columns are never modified; callers store ``corrections.to_dict()``.
    """
    if corrections.clock is not None and t_device_ns is not None:
        t = corrections.clock.to_host(np.asarray(t_device_ns, dtype=np.int64))
    else:
        t = np.asarray(t_host_ns, dtype=np.int64) - np.int64(corrections.latency_ns)
    return t + np.int64(corrections.offset_ns)


# --------------------------------------------------------------------- trajectory


class TrackState(enum.IntEnum):
    """Per-sample tracking state of a trajectory."""

    OK = 0
    LOST = 1
    RELOCALISED = 2
    INTERPOLATED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A rig's pose over time.

    t_ns: (N,) int64 host ns, increasing. T_world_body: (N, 4, 4) maps body points
    (``body`` names the frame, normally ``imu``) to the world frame. state: (N,) uint8
    of ``TrackState``. quality: (N,) float32 in [0, 1] (1 = best). position_sigma_m:
    (N,) float32 1-sigma position uncertainty, NaN where unknown.
    """

    t_ns: NDArray[np.int64]
    T_world_body: NDArray[np.float64]
    state: NDArray[np.uint8]
    quality: NDArray[np.float32]
    position_sigma_m: NDArray[np.float32] | None = None
    body: str = "imu"
    world_anchor: WorldAnchor = "first_pose"

    def __post_init__(self) -> None:
        n = len(self.t_ns)
        if self.T_world_body.shape != (n, 4, 4) or self.state.shape != (n,) or self.quality.shape != (n,):
            raise ValueError(
                f"trajectory arrays disagree: t {self.t_ns.shape}, T {self.T_world_body.shape}, "
                f"state {self.state.shape}, quality {self.quality.shape}"
            )
        if n > 1 and np.any(np.diff(self.t_ns) <= 0):
            raise ValueError("trajectory timestamps must be strictly increasing")

    def __len__(self) -> int:
        return len(self.t_ns)

    @property
    def positions(self) -> NDArray[np.float64]:
        return self.T_world_body[:, :3, 3]

    def sigma(self) -> NDArray[np.float32]:
        if self.position_sigma_m is None:
            return np.full(len(self), np.nan, dtype=np.float32)
        return self.position_sigma_m

    def share_ok(self) -> float:
        return float(np.mean(self.state == TrackState.OK)) if len(self) else 0.0

    def at(self, t_query_ns: NDArray[np.int64]) -> NDArray[np.float64]:
        """Poses (M, 4, 4) at the query times (SLERP; clamped at the ends)."""
        return geometry.interpolate_poses(self.t_ns, self.T_world_body, t_query_ns)

    def with_body(self, T_body_new: NDArray[np.float64], name: str) -> Trajectory:
        """The same trajectory for another rigidly attached frame (T_world_new = T_world_body T_body_new)."""
        return Trajectory(
            self.t_ns,
            self.T_world_body @ T_body_new,
            self.state,
            self.quality,
            self.position_sigma_m,
            body=name,
            world_anchor=self.world_anchor,
        )

    def slice(self, t0_ns: int, t1_ns: int) -> Trajectory:
        sel = (self.t_ns >= t0_ns) & (self.t_ns < t1_ns)
        return Trajectory(
            self.t_ns[sel],
            self.T_world_body[sel],
            self.state[sel],
            self.quality[sel],
            None if self.position_sigma_m is None else self.position_sigma_m[sel],
            body=self.body,
            world_anchor=self.world_anchor,
        )


# ------------------------------------------------------------------------ cameras

CameraModelKind = Literal["pinhole-radtan", "fisheye-equidistant"]


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera.

    ``pinhole-radtan``: distortion (k1, k2, p1, p2[, k3]) as OpenCV.
    ``fisheye-equidistant``: Kannala-Brandt (k1, k2, k3, k4) as ``cv2.fisheye``.
    ``readout_s``: rolling-shutter readout time top to bottom (0 = global shutter).
    """

    model: CameraModelKind
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...] = ()
    readout_s: float = 0.0

    def __post_init__(self) -> None:
        if self.model not in ("pinhole-radtan", "fisheye-equidistant"):
            raise ValueError(f"unknown camera model {self.model!r}; expected pinhole-radtan or fisheye-equidistant")

    @property
    def K(self) -> NDArray[np.float64]:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def D(self) -> NDArray[np.float64]:
        n = 4 if self.model == "fisheye-equidistant" else max(4, len(self.distortion))
        d = np.zeros(n)
        d[: len(self.distortion)] = self.distortion
        return d

    def horizontal_fov_deg(self) -> float:
        rays = self.unproject(np.array([[0.0, self.cy], [self.width - 1.0, self.cy]]))
        return float(np.degrees(np.arccos(np.clip(rays[0] @ rays[1], -1, 1))))

    def _distort(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        d = self.D
        if self.model == "fisheye-equidistant":
            r = np.sqrt(x * x + y * y)
            th = np.arctan(r)
            th2 = th * th
            thd = th * (1 + th2 * (d[0] + th2 * (d[1] + th2 * (d[2] + th2 * d[3]))))
            s = np.where(r > 1e-12, thd / np.where(r > 1e-12, r, 1.0), 1.0)
            return x * s, y * s
        k1, k2, p1, p2 = d[:4]
        k3 = d[4] if len(d) > 4 else 0.0
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return xd, yd

    def project(self, points_cam: NDArray[np.float64]) -> NDArray[np.float64]:
        """Pixels (N, 2) of points (N, 3) in the camera frame (z forward). Points behind give NaN."""
        p = np.asarray(points_cam, dtype=np.float64)
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.model == "fisheye-equidistant":
                # Equidistant works past 90 degrees: use the angle from the axis directly.
                r = np.hypot(p[:, 0], p[:, 1])
                th = np.arctan2(r, z)
                d = self.D
                th2 = th * th
                thd = th * (1 + th2 * (d[0] + th2 * (d[1] + th2 * (d[2] + th2 * d[3]))))
                s = np.where(r > 1e-12, thd / np.where(r > 1e-12, r, 1.0), 0.0)
                u = self.fx * p[:, 0] * s + self.cx
                v = self.fy * p[:, 1] * s + self.cy
                bad = th > np.radians(100)
            else:
                xd, yd = self._distort(p[:, 0] / z, p[:, 1] / z)
                u = self.fx * xd + self.cx
                v = self.fy * yd + self.cy
                bad = z <= 1e-9
        uv = np.stack([u, v], axis=1)
        uv[bad] = np.nan
        return uv

    def unproject(self, pixels: NDArray[np.float64]) -> NDArray[np.float64]:
        """Unit bearing vectors (N, 3) in the camera frame for pixels (N, 2)."""
        px = np.asarray(pixels, dtype=np.float64)
        xd = (px[:, 0] - self.cx) / self.fx
        yd = (px[:, 1] - self.cy) / self.fy
        if self.model == "fisheye-equidistant":
            thd = np.hypot(xd, yd)
            d = self.D
            th = thd.copy()
            for _ in range(20):  # Newton on theta_d(theta) = thd
                th2 = th * th
                f = th * (1 + th2 * (d[0] + th2 * (d[1] + th2 * (d[2] + th2 * d[3])))) - thd
                df = 1 + th2 * (3 * d[0] + th2 * (5 * d[1] + th2 * (7 * d[2] + 9 * th2 * d[3])))
                th = th - f / df
            s = np.where(thd > 1e-12, np.sin(th) / np.where(thd > 1e-12, thd, 1.0), 1.0)
            rays = np.stack([xd * s, yd * s, np.cos(th)], axis=1)
        else:
            d = self.D
            k1, k2, p1, p2 = d[:4]
            k3 = d[4] if len(d) > 4 else 0.0
            x, y = xd.copy(), yd.copy()
            for _ in range(20):  # OpenCV's undistortPoints iteration
                r2 = x * x + y * y
                icdist = 1.0 / (1 + r2 * (k1 + r2 * (k2 + r2 * k3)))
                dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
                dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
                x = (xd - dx) * icdist
                y = (yd - dy) * icdist
            rays = np.stack([x, y, np.ones_like(x)], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        # Explicit types, so that 300 and 300.0 hash the same.
        return {
            "model": self.model,
            "width": int(self.width),
            "height": int(self.height),
            "fx": float(self.fx),
            "fy": float(self.fy),
            "cx": float(self.cx),
            "cy": float(self.cy),
            "distortion": [float(v) for v in self.distortion],
            "readout_s": float(self.readout_s),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CameraModel:
        return cls(
            model=d["model"],
            width=int(d["width"]),
            height=int(d["height"]),
            fx=float(d["fx"]),
            fy=float(d["fy"]),
            cx=float(d["cx"]),
            cy=float(d["cy"]),
            distortion=tuple(float(v) for v in d.get("distortion", ())),
            readout_s=float(d.get("readout_s", 0.0)),
        )


# ------------------------------------------------------------------- calibration


def _pose_list(T: NDArray[np.float64]) -> list[list[float]]:
    return [[float(v) for v in row] for row in np.asarray(T)]


@dataclass(frozen=True, eq=False)
class CameraCalibration:
    """One camera of a rig: intrinsics, extrinsic to the IMU and time offset.

    ``T_imu_cam`` maps camera points to the IMU frame. ``time_offset_ns``: a sample
    stamped ``t_cam`` happened at IMU time ``t_cam + time_offset_ns``.
    """

    name: str
    camera: CameraModel
    T_imu_cam: NDArray[np.float64]
    time_offset_ns: int = 0
    rms_px: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "camera": self.camera.to_dict(),
            "T_imu_cam": _pose_list(self.T_imu_cam),
            "time_offset_ns": int(self.time_offset_ns),
            "rms_px": self.rms_px,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CameraCalibration:
        return cls(
            name=d["name"],
            camera=CameraModel.from_dict(d["camera"]),
            T_imu_cam=np.asarray(d["T_imu_cam"], dtype=np.float64),
            time_offset_ns=int(d.get("time_offset_ns", 0)),
            rms_px=d.get("rms_px"),
        )


@dataclass(frozen=True)
class ImuNoise:
    """Continuous-time IMU noise densities (Kalibr convention) and limits."""

    gyro_noise_density: float  # rad/s/sqrt(Hz)
    gyro_random_walk: float  # rad/s^2/sqrt(Hz)
    accel_noise_density: float  # m/s^2/sqrt(Hz)
    accel_random_walk: float  # m/s^3/sqrt(Hz)
    rate_hz: float
    gyro_range_rad_s: float = 34.9  # +-2000 deg/s
    accel_range_m_s2: float = 156.9  # +-16 g


@dataclass(frozen=True)
class GripperCalibration:
    """Maps the rig's raw gripper signal to finger width: ``width_m = a * raw + b``."""

    source: Literal["encoder", "fiducials"]
    scale: float
    offset_m: float
    min_width_m: float
    max_width_m: float


@dataclass(frozen=True, eq=False)
class RigCalibration:
    """Everything a session needs to interpret one rig's data. Identified by its content hash."""

    rig_serial: str
    cameras: tuple[CameraCalibration, ...]
    imu: ImuNoise | None = None
    T_cam_tcp: NDArray[np.float64] | None = None  # first camera to fingertip centre
    gripper: GripperCalibration | None = None
    latency_ns: Mapping[str, int] = field(default_factory=dict)  # per stream, camera-to-host
    T_cam0_cams: Mapping[str, Any] = field(default_factory=dict)  # derived; kept for readers
    notes: str = ""

    def camera(self, name: str) -> CameraCalibration:
        for c in self.cameras:
            if c.name == name:
                return c
        raise KeyError(f"calibration of rig {self.rig_serial} has no camera {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "democap.calibration",
            "schema_version": SCHEMA_VERSION,
            "rig_serial": self.rig_serial,
            "cameras": [c.to_dict() for c in self.cameras],
            "imu": asdict(self.imu) if self.imu else None,
            "T_cam_tcp": _pose_list(self.T_cam_tcp) if self.T_cam_tcp is not None else None,
            "gripper": asdict(self.gripper) if self.gripper else None,
            "latency_ns": {k: int(v) for k, v in self.latency_ns.items()},
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RigCalibration:
        return cls(
            rig_serial=d["rig_serial"],
            cameras=tuple(CameraCalibration.from_dict(c) for c in d["cameras"]),
            imu=ImuNoise(**d["imu"]) if d.get("imu") else None,
            T_cam_tcp=np.asarray(d["T_cam_tcp"], dtype=np.float64) if d.get("T_cam_tcp") else None,
            gripper=GripperCalibration(**d["gripper"]) if d.get("gripper") else None,
            latency_ns={k: int(v) for k, v in d.get("latency_ns", {}).items()},
            notes=d.get("notes", ""),
        )

    @property
    def hash(self) -> str:
        return content_hash(self.to_dict())


# ----------------------------------------------------------------------- episodes

EpisodeSource = Literal["trigger", "operator", "import", "whole"]


@dataclass(frozen=True)
class Episode:
    """A span ``[t0_ns, t1_ns)`` of a session that is one demonstration."""

    index: int
    t0_ns: int
    t1_ns: int
    source: EpisodeSource = "whole"
    task: str = ""

    @property
    def duration_s(self) -> float:
        return (self.t1_ns - self.t0_ns) * 1e-9

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Episode:
        return cls(int(d["index"]), int(d["t0_ns"]), int(d["t1_ns"]), d.get("source", "whole"), d.get("task", ""))


DecisionAction = Literal["accept", "reject", "trim", "note"]


@dataclass(frozen=True)
class Decision:
    """An operator's review decision about one episode (append-only; the last one wins)."""

    episode: int
    action: DecisionAction
    realtime_ns: int
    operator: str = ""
    t0_ns: int | None = None  # for trim
    t1_ns: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        if d.get("action") not in ("accept", "reject", "trim", "note"):
            raise ValueError(f"unknown decision action {d.get('action')!r}")
        return cls(
            int(d["episode"]),
            d["action"],
            int(d["realtime_ns"]),
            operator=d.get("operator", ""),
            t0_ns=d.get("t0_ns"),
            t1_ns=d.get("t1_ns"),
            note=d.get("note", ""),
        )


@dataclass(frozen=True)
class EpisodeReview:
    """The combined effect of all decisions on one episode."""

    status: Literal["pending", "accepted", "rejected"] = "pending"
    t0_ns: int | None = None
    t1_ns: int | None = None
    notes: tuple[str, ...] = ()


def review_of(decisions: Iterable[Decision], episode: int) -> EpisodeReview:
    """Fold an episode's decisions in order: accept/reject set the status, trims narrow, notes add."""
    status: Literal["pending", "accepted", "rejected"] = "pending"
    t0 = t1 = None
    notes: list[str] = []
    for d in decisions:
        if d.episode != episode:
            continue
        if d.action == "accept":
            status = "accepted"
        elif d.action == "reject":
            status = "rejected"
        elif d.action == "trim":
            t0, t1 = d.t0_ns, d.t1_ns
        if d.note:
            notes.append(d.note)
    return EpisodeReview(status, t0, t1, tuple(notes))


# -------------------------------------------------------------------------- flags


@dataclass(frozen=True)
class FlagKind:
    name: str
    description: str
    default_severity: Severity


def _kinds(*entries: tuple[str, str, Severity]) -> dict[str, FlagKind]:
    return {n: FlagKind(n, d, s) for n, d, s in entries}


#: The one registry of flag kinds. Observation gaps: what a policy would see wrongly.
#: Embodiment gaps: what a given robot cannot do. Keep names stable: exports use them.
FLAG_KINDS: dict[str, FlagKind] = _kinds(
    ("observation.blur", "motion blur in the camera image", "warn"),
    ("observation.underexposed", "image too dark", "warn"),
    ("observation.overexposed", "image saturated", "warn"),
    ("observation.tracking_lost", "no trusted pose for these frames", "error"),
    ("observation.tracking_degraded", "pose interpolated, relocalised or of low quality", "warn"),
    ("observation.fiducials_hidden", "finger fiducials not seen: gripper width unknown", "warn"),
    ("observation.hand_in_view", "a human hand or arm is in view", "warn"),
    ("observation.camera_mismatch", "rig camera differs from the robot's camera", "warn"),
    ("observation.imu_saturation", "IMU reading at its range limit", "warn"),
    ("observation.clock_sync", "clock-sync uncertainty above threshold", "warn"),
    ("observation.dropped_frames", "camera frames missing", "warn"),
    ("embodiment.unreachable", "pose outside the robot's reach within tolerance", "error"),
    ("embodiment.joint_limit", "joint closer to its limit than the margin", "warn"),
    ("embodiment.joint_velocity", "joint velocity above the robot's limit", "error"),
    ("embodiment.joint_acceleration", "joint acceleration above the robot's limit", "warn"),
    ("embodiment.self_collision", "robot links in collision", "error"),
    ("embodiment.table_collision", "robot in collision with the table", "error"),
    ("embodiment.singularity", "near-singular configuration (low manipulability)", "warn"),
    ("embodiment.gripper_range", "gripper width outside the robot gripper's range", "warn"),
)


@dataclass(frozen=True)
class Flag:
    """One gap over the half-open span ``[t0_ns, t1_ns)`` with its evidence."""

    kind: str
    severity: Severity
    t0_ns: int
    t1_ns: int
    rig: str = "rig0"
    robot: str | None = None
    evidence: Mapping[str, float] = field(default_factory=dict)
    message: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FLAG_KINDS:
            raise ValueError(f"unknown flag kind {self.kind!r}; known: {', '.join(sorted(FLAG_KINDS))}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}; expected one of {SEVERITIES}")
        if self.t1_ns <= self.t0_ns:
            raise ValueError(f"flag span [{self.t0_ns}, {self.t1_ns}) is empty")
        if self.kind.startswith("embodiment.") and not self.robot:
            raise ValueError(f"embodiment flag {self.kind} needs a robot id")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = {k: float(v) for k, v in self.evidence.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Flag:
        return cls(
            kind=d["kind"],
            severity=d["severity"],
            t0_ns=int(d["t0_ns"]),
            t1_ns=int(d["t1_ns"]),
            rig=d.get("rig", "rig0"),
            robot=d.get("robot"),
            evidence={k: float(v) for k, v in (d.get("evidence") or {}).items()},
            message=d.get("message", ""),
        )


def flag_mask(
    flags: Iterable[Flag],
    t_ns: NDArray[np.int64],
    kinds: Iterable[str] | None = None,
    min_severity: Severity = "info",
    rig: str | None = None,
) -> NDArray[np.bool_]:
    """The one rule turning spans into per-frame masks: frame i is flagged iff t0 <= t_i < t1.

    ``kinds`` may hold glob patterns (``observation.*``).
    """
    t = np.asarray(t_ns, dtype=np.int64)
    mask = np.zeros(len(t), dtype=bool)
    pats = list(kinds) if kinds is not None else None
    floor = SEVERITIES.index(min_severity)
    for f in flags:
        if SEVERITIES.index(f.severity) < floor or (rig is not None and f.rig != rig):
            continue
        if pats is not None and not any(fnmatch.fnmatchcase(f.kind, p) for p in pats):
            continue
        lo, hi = np.searchsorted(t, [f.t0_ns, f.t1_ns], side="left")
        mask[lo:hi] = True
    return mask


def spans_from_mask(t_ns: NDArray[np.int64], mask: NDArray[np.bool_]) -> list[tuple[int, int, slice]]:
    """Contiguous flagged runs as half-open time spans.

    A run of frames i..j gives ``[t_i, t_{j+1})``; at the end of the series the span
    closes one median frame period after the last frame. Returns (t0, t1, frame slice).
    """
    t = np.asarray(t_ns, dtype=np.int64)
    m = np.asarray(mask, dtype=bool)
    if len(t) == 0 or not m.any():
        return []
    period = int(np.median(np.diff(t))) if len(t) > 1 else 1
    edges = np.flatnonzero(np.diff(np.concatenate([[0], m.astype(np.int8), [0]])))
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        t1 = int(t[b]) if b < len(t) else int(t[-1]) + max(period, 1)
        out.append((int(t[a]), t1, slice(int(a), int(b))))
    return out


# ------------------------------------------------------------------ export policy

PolicyAction = Literal["exclude_episode", "trim", "mask", "keep"]
POLICY_ACTIONS: tuple[PolicyAction, ...] = ("exclude_episode", "trim", "mask", "keep")


@dataclass(frozen=True)
class PolicyRule:
    kind: str  # exact kind or glob pattern
    action: PolicyAction
    min_severity: Severity = "info"


@dataclass(frozen=True)
class ExportPolicy:
    """Per flag kind and severity: exclude the episode, trim it, mask frames or keep.

    The first matching rule wins; ``default`` applies when none matches. Schema in
    ``docs/session-format.md`` (section "Export policy").
    """

    rules: tuple[PolicyRule, ...] = ()
    default: PolicyAction = "keep"
    respect_rejections: bool = True

    def action_for(self, flag: Flag) -> PolicyAction:
        for r in self.rules:
            if fnmatch.fnmatchcase(flag.kind, r.kind) and SEVERITIES.index(flag.severity) >= SEVERITIES.index(
                r.min_severity
            ):
                return r.action
        return self.default

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "<policy>") -> ExportPolicy:
        if not isinstance(d, Mapping):
            raise PolicyError("expected a mapping with 'version' and 'rules'", source)
        if d.get("version", 1) != 1:
            raise PolicyError(f"policy version {d.get('version')!r} is not supported (expected 1)", source)
        unknown = set(d) - {"version", "default", "rules", "respect_rejections"}
        if unknown:
            raise PolicyError(f"unknown keys {sorted(unknown)}; expected version, default, rules", source)
        default = d.get("default", "keep")
        if default not in POLICY_ACTIONS:
            raise PolicyError(f"default {default!r} is not one of {POLICY_ACTIONS}", source)
        rules = []
        for i, r in enumerate(d.get("rules") or []):
            if not isinstance(r, Mapping) or "kind" not in r or "action" not in r:
                raise PolicyError(f"rule {i} needs 'kind' and 'action'", source)
            if r["action"] not in POLICY_ACTIONS:
                raise PolicyError(f"rule {i}: action {r['action']!r} is not one of {POLICY_ACTIONS}", source)
            sev = r.get("severity", "info")
            if sev not in SEVERITIES:
                raise PolicyError(f"rule {i}: severity {sev!r} is not one of {SEVERITIES}", source)
            if not any(fnmatch.fnmatchcase(k, r["kind"]) for k in FLAG_KINDS):
                raise PolicyError(f"rule {i}: kind {r['kind']!r} matches no known flag kind", source)
            rules.append(PolicyRule(r["kind"], r["action"], sev))
        return cls(tuple(rules), default, bool(d.get("respect_rejections", True)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "default": self.default,
            "respect_rejections": self.respect_rejections,
            "rules": [{"kind": r.kind, "action": r.action, "severity": r.min_severity} for r in self.rules],
        }


#: What an export does when no policy file is given: lost tracking and unreachable
#: poses exclude frames from training, other errors mask, warnings are kept as columns.
DEFAULT_POLICY = ExportPolicy(
    rules=(
        PolicyRule("observation.tracking_lost", "trim", "error"),
        PolicyRule("embodiment.unreachable", "exclude_episode", "error"),
        PolicyRule("*", "mask", "error"),
    ),
    default="keep",
)


@dataclass(frozen=True)
class EpisodeSelection:
    """What an export takes of one episode after review decisions and the policy."""

    excluded: bool
    reason: str
    t0_ns: int
    t1_ns: int
    frame_keep: NDArray[np.bool_]  # (N,) frames of the episode kept in the export
    frame_mask: NDArray[np.bool_]  # (N,) frames kept but marked invalid


def select_frames(
    episode: Episode,
    t_ns: NDArray[np.int64],
    flags: Sequence[Flag],
    policy: ExportPolicy,
    review: EpisodeReview | None = None,
) -> EpisodeSelection:
    """Apply the operator's review and the policy to an episode's frames (t_ns inside the episode)."""
    t = np.asarray(t_ns, dtype=np.int64)
    t0, t1 = episode.t0_ns, episode.t1_ns
    if review is not None:
        if review.status == "rejected" and policy.respect_rejections:
            return EpisodeSelection(
                True, "rejected by operator", t0, t1, np.zeros(len(t), bool), np.zeros(len(t), bool)
            )
        if review.t0_ns is not None:
            t0 = max(t0, review.t0_ns)
        if review.t1_ns is not None:
            t1 = min(t1, review.t1_ns)
    keep = (t >= t0) & (t < t1)
    masked = np.zeros(len(t), dtype=bool)
    for f in flags:
        if f.t1_ns <= t0 or f.t0_ns >= t1:
            continue
        action = policy.action_for(f)
        if action == "exclude_episode":
            return EpisodeSelection(True, f"{f.kind} ({f.severity})", t0, t1, np.zeros(len(t), bool), masked)
        hit = flag_mask([f], t)
        if action == "trim":
            keep &= ~hit
        elif action == "mask":
            masked |= hit
    # A trim must leave one contiguous piece: keep the longest unflagged run.
    if keep.any() and not np.all(keep[np.flatnonzero(keep)[0] : np.flatnonzero(keep)[-1] + 1]):
        runs = spans_from_mask(t, keep)
        a, b, sl = max(runs, key=lambda r: r[2].stop - r[2].start)
        keep = np.zeros(len(t), bool)
        keep[sl] = True
    if not keep.any():
        return EpisodeSelection(True, "nothing left after trimming", t0, t1, keep, masked)
    kept_t = t[keep]
    return EpisodeSelection(False, "", int(kept_t[0]), int(kept_t[-1]) + 1, keep, masked & keep)
