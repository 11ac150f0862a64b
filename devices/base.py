"""What every device driver gives the recorder: device info, stream specs and samples.

A rig source (virtual rig, serial/UDP rig, RealSense, UVC camera) yields ``Sample``
records stamped with the host's ``CLOCK_MONOTONIC`` ns at arrival and, where the device
has a clock, its raw device time in ns. Sources never write files; the recorder does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from democap.model import RigCalibration

NO_DEVICE_TIME = -1  # device timestamp column value when a device has no clock


@dataclass(frozen=True)
class DeviceInfo:
    serial: str
    hardware: str
    firmware: str
    kind: str = "rig"  # rig | realsense | uvc | gopro | virtual-rig
    sensors: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "hardware": self.hardware,
            "firmware": self.firmware,
            "kind": self.kind,
            "sensors": list(self.sensors),
            "capabilities": list(self.capabilities),
        }


@dataclass(frozen=True)
class CameraStreamInfo:
    sensor: str  # cam0, cam1, depth0, head0 ...
    width: int
    height: int
    pix_fmt: str  # gray | rgb24 | gray16le
    rate_hz: float
    depth_units_m: float = 0.0  # gray16le depth: metres per count
    registered_to: str = ""  # depth: the camera whose pixels it is aligned with ("" = its own sensor)


@dataclass(frozen=True, eq=False)
class CameraFrame:
    rig: str
    sensor: str
    t_host_ns: int
    t_device_ns: int
    exposure_ns: int
    image: NDArray[Any]


@dataclass(frozen=True, eq=False)
class ImuBatch:
    """IMU samples (N,) in the IMU frame: gyro rad/s, accel m/s^2 (specific force)."""

    rig: str
    t_host_ns: NDArray[np.int64]
    t_device_ns: NDArray[np.int64]
    gyro: NDArray[np.float64]  # (N, 3)
    accel: NDArray[np.float64]  # (N, 3)


@dataclass(frozen=True)
class GripperSample:
    rig: str
    t_host_ns: int
    t_device_ns: int
    width_m: float
    raw: float = float("nan")


@dataclass(frozen=True)
class RigEvent:
    """A discrete event: ``kind`` trigger|button|episode|status|log|link; ``value`` free text.

    Episode boundaries are ``kind="episode"`` with value ``start[:task text]`` or ``stop``.
    """

    rig: str
    t_host_ns: int
    t_device_ns: int
    kind: str
    value: str = ""


@dataclass(frozen=True)
class ClockExchange:
    """One NTP-style exchange: host send, device receive/transmit, host receive (ns)."""

    rig: str
    t_host_send_ns: int
    t_device_rx_ns: int
    t_device_tx_ns: int
    t_host_recv_ns: int


@dataclass(frozen=True)
class LinkGap:
    """The link to a rig was down over [t0, t1) (host ns); recording went on."""

    rig: str
    t0_ns: int
    t1_ns: int
    reason: str


Sample = CameraFrame | ImuBatch | GripperSample | RigEvent | ClockExchange | LinkGap


@dataclass
class SourceDescription:
    """What a source will produce: the recorder creates one stream per entry."""

    rig: str
    info: DeviceInfo
    cameras: list[CameraStreamInfo] = field(default_factory=list)
    imu_rate_hz: float | None = None
    gripper: bool = False
    events: bool = True
    clocksync: bool = False
    calibration: RigCalibration | None = None


class RigSource(Protocol):
    """A device (or simulation) the recorder can pull samples from."""

    def describe(self) -> SourceDescription: ...

    def samples(self) -> Iterator[Sample]:
        """Samples in arrival order until the source ends or ``stop()`` is called."""
        ...

    def stop(self) -> None: ...
