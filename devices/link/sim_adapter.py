"""The virtual firmware's view of the shared simulation model (``devices.sim``).

The firmware runs in real time for as long as it is asked to, so the scripted motion
(its IMU synthesised once per rate, with the model's noise and biases) repeats after its
duration; the motion's task spans become trigger presses (episode start/stop).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from devices.sim.clock import DeviceClock as SimDeviceClock
from devices.sim.imu import synthesize_imu
from devices.sim.motion import scripted_motion


class SimMotion:
    def __init__(self, seed: int, seconds: float = 120.0) -> None:
        self.seed = seed
        self.motion = scripted_motion("mixed", seconds, seed)
        self.period_s = float(self.motion.duration_s)
        self._imu: dict[float, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}

    def imu(self, t_s: NDArray[np.float64], rate_hz: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if rate_hz not in self._imu:
            grid = np.arange(0.0, self.period_s, 1.0 / rate_hz)
            s = synthesize_imu(self.motion, grid, seed=self.seed)
            self._imu[rate_hz] = (s.gyro, s.accel)
        gyro, accel = self._imu[rate_hz]
        i = np.round(np.asarray(t_s) * rate_hz).astype(np.int64) % len(gyro)
        return gyro[i], accel[i]

    def gripper_width(self, t_s: float) -> float:
        return float(self.motion.gripper_width(np.array([t_s % self.period_s]))[0])

    def episodes(self) -> list[tuple[float, float]]:
        """Task spans (start, stop) in seconds within one period."""
        return [(e.t0_s, e.t1_s) for e in self.motion.episodes]


def sim_clock(offset_ns: int, drift_ppm: float, jump_at_s: float | None, jump_ns: int) -> SimDeviceClock:
    jumps = ((jump_at_s, jump_ns),) if jump_at_s is not None and jump_ns else ()
    return SimDeviceClock(offset_ns=offset_ns, drift_ppm=drift_ppm, jumps=jumps)
