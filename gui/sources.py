"""What the live screen can record from: the virtual rig, or rigs found on the Devices screen.

The virtual rig prefers the full simulator (``devices.sim.rig``: cameras, IMU, gripper,
ground truth); while that is not installed it runs the virtual firmware process and
records it through ``RigLinkSource`` (IMU, gripper, trigger, no camera images).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from democap.home import Home
from devices import base

log = logging.getLogger(__name__)


@dataclass
class SourceChoice:
    label: str
    make: Callable[[], list[Any]]  # -> RigSource list (opened when recording starts)
    source_info: dict[str, Any] = field(default_factory=dict)


def _sim_available() -> bool:
    try:
        importlib.import_module("devices.sim.rig")
        return True
    except ImportError:
        return False


class SimulatedRigSource:
    """``devices.sim.rig.VirtualRigSource`` in real time, plus its true pose for the live view.

    The simulator knows where the rig is: the live screen tracks the rig with live VIO like
    any other and shows the truth only beside it, as the error of the live estimate.
    """

    def __init__(
        self,
        seed: int = 0,
        seconds: float = 120.0,
        small: bool = True,
        dropped_frame_rate: float = 0.0,
        link_gaps_s: tuple[tuple[float, float], ...] = (),
    ) -> None:
        import time

        from devices.sim.rig import SimRig, SimRigConfig

        size: dict[str, Any] = {"width": 320, "height": 240, "fps": 15.0, "motion_blur": False} if small else {}
        cfg = SimRigConfig(
            seconds=seconds,
            seed=seed,
            cameras="mono-pinhole",
            host_start_ns=time.monotonic_ns(),
            dropped_frame_rate=dropped_frame_rate,
            link_gaps_s=link_gaps_s,
            **size,
        )
        self.rig = SimRig(cfg)
        self.inner = self.rig.source(realtime=True)

    def describe(self) -> base.SourceDescription:
        return self.inner.describe()

    def samples(self) -> Iterator[base.Sample]:
        return self.inner.samples()

    def stop(self) -> None:
        self.inner.stop()

    def workspace(self) -> dict[str, Any]:
        """The table tags as drawn (T_world_tag (4, 4) by id), their size and the table tag's id."""
        from devices.sim.scene import TAG_SIZE_M, table_tag_poses

        tags = table_tag_poses()
        return {"tags": tags, "tag_size_m": TAG_SIZE_M, "table_tag_id": min(tags)}

    def pose_at_host_ns(self, t_host_ns: int) -> NDArray[np.float64]:
        """True T_world_imu (4, 4) at a host time."""
        t_s = (t_host_ns - self.rig.host.start_ns) * 1e-9
        return np.asarray(self.rig.motion.pose(np.array([min(max(t_s, 0.0), self.rig.seconds)]))[0])


class FirmwareRigSource:
    """The virtual firmware process recorded over its pty; the process ends with the source."""

    def __init__(self, home: Home, seed: int = 0, episode_every_s: float | None = 8.0) -> None:
        from devices.link.client import RigLink, RigLinkSource
        from devices.link.transport import SerialTransport
        from devices.link.virtual_firmware import spawn

        args = ["--pty", "--seed", str(seed)]
        if episode_every_s:
            args += ["--episode-every", str(episode_every_s)]
        self.proc = spawn(*args)
        port = self.proc.port
        self.inner = RigLinkSource(lambda: RigLink(SerialTransport(port)), rig="rig0")

    def describe(self) -> base.SourceDescription:
        d = self.inner.describe()
        d.info = base.DeviceInfo(
            d.info.serial, d.info.hardware, d.info.firmware, "virtual-rig", d.info.sensors, d.info.capabilities
        )
        return d

    def samples(self) -> Iterator[base.Sample]:
        try:
            yield from self.inner.samples()
        finally:
            self.proc.stop()

    def stop(self) -> None:
        self.inner.stop()


def virtual_rig(home: Home, seed: int = 0, small: bool = True, seconds: float = 120.0) -> SourceChoice:
    """The virtual rig: the simulator when installed, else the virtual firmware (no cameras)."""
    if _sim_available():
        return SourceChoice(
            "Virtual rig (simulated camera + IMU + gripper)",
            lambda: [SimulatedRigSource(seed, seconds, small)],
            {"kind": "virtual-rig", "seed": seed},
        )
    return SourceChoice(
        "Virtual rig (firmware: IMU + gripper, no camera)",
        lambda: [FirmwareRigSource(home, seed)],
        {"kind": "virtual-rig", "seed": seed, "cameras": False},
    )


def link_rig(home: Home, address: str, serial: str, index: int = 0) -> SourceChoice:
    from devices.link.client import RigLinkSource
    from gui.devices_panel import connect_to

    return SourceChoice(
        f"{serial} ({address})",
        lambda: [RigLinkSource(connect_to(address, home), rig=f"rig{index}")],  # type: ignore[arg-type]
        {"kind": "recording", "rigs": [address]},
    )


def live_pose(source: Any, t_host_ns: int) -> NDArray[np.float64] | None:
    """T_world_body (4, 4) at ``t_host_ns`` if the source knows its pose live (the simulator's truth)."""
    for name in ("pose_at_host_ns", "true_pose", "pose_at"):
        fn = getattr(source, name, None)
        if callable(fn):
            try:
                return np.asarray(fn(t_host_ns), dtype=np.float64)
            except Exception:  # noqa: BLE001 - a source that cannot say simply shows no live pose
                return None
    return None
