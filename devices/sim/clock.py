"""Simulated clocks: a device clock with offset, drift and jumps, and the host's clock.

Sim time ``t_s`` (float seconds from the start of the simulation) is the true time.
The device clock reads ``offset_ns + t_s * 1e9 * (1 + drift_ppm * 1e-6)`` plus any jumps
that happened before ``t_s`` (a firmware reset, an NTP step); the simulated host
``CLOCK_MONOTONIC`` reads ``start_ns + t_s * 1e9``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from democap.model import ClockMapping


@dataclass(frozen=True)
class DeviceClock:
    """offset_ns: reading at t_s = 0; drift_ppm: positive runs fast; jumps: (t_s, step ns) sorted by time."""

    offset_ns: int = 0
    drift_ppm: float = 0.0
    jumps: tuple[tuple[float, int], ...] = ()

    def _jump_ns(self, t: NDArray[np.float64]) -> NDArray[np.int64]:
        out = np.zeros(t.shape, dtype=np.int64)
        for t_jump, step in self.jumps:
            out += np.where(t >= t_jump, np.int64(step), np.int64(0))
        return out

    def device_ns(self, t_s: ArrayLike) -> NDArray[np.int64]:
        """Device clock readings (N,) int64 at sim times t_s."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        ticks = np.round(t * 1e9 * (1.0 + self.drift_ppm * 1e-6)).astype(np.int64)
        return np.int64(self.offset_ns) + ticks + self._jump_ns(t)

    def sim_time_s(self, device_ns: ArrayLike) -> NDArray[np.float64]:
        """Sim times (N,) at which the device clock read device_ns (readings after the last jump win)."""
        d = np.atleast_1d(np.asarray(device_ns, dtype=np.int64))
        scale = 1e9 * (1.0 + self.drift_ppm * 1e-6)
        t = (d - np.int64(self.offset_ns)).astype(np.float64) / scale
        total = 0
        for t_jump, step in sorted(self.jumps):  # undo the jumps the reading must already include
            total += step
            ticks_after = d - np.int64(self.offset_ns) - np.int64(total)
            after = ticks_after >= np.int64(round(t_jump * scale))  # compare in ticks: exact at the jump
            t = np.where(after, ticks_after.astype(np.float64) / scale, t)
        return t

    def period_ns(self, rate_hz: float) -> float:
        """Device ticks between samples of a sensor clocked by this device at rate_hz (true)."""
        return 1e9 / rate_hz * (1.0 + self.drift_ppm * 1e-6)


@dataclass(frozen=True)
class HostClock:
    """The simulated host CLOCK_MONOTONIC: start_ns at sim time 0, no drift (it is the reference)."""

    start_ns: int

    def host_ns(self, t_s: ArrayLike) -> NDArray[np.int64]:
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        return np.int64(self.start_ns) + np.round(t * 1e9).astype(np.int64)


def true_clock_mapping(device: DeviceClock, host: HostClock, at_s: float = 0.0) -> ClockMapping:
    """The exact device-to-host ``ClockMapping`` valid from at_s to the next jump."""
    d = device.drift_ppm * 1e-6
    return ClockMapping(
        device_ref_ns=int(device.device_ns(at_s)[0]),
        host_ref_ns=int(host.host_ns(at_s)[0]),
        drift_ppm=(1.0 / (1.0 + d) - 1.0) * 1e6,
        uncertainty_ns=0.0,
        method="simulation-truth",
    )
