"""A rig's IMU samples on the session timeline, and gyro integration between two times.

Both trajectory estimators read the IMU through here, so they see the same corrected
timestamps (``capture.timebase``: the after-the-fact clock mapping when the rig logged
clock sync) and the same ordering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from capture.session import Session
from capture.timebase import stream_times
from democap import geometry


@dataclass(frozen=True, eq=False)
class ImuSamples:
    """t_ns: (N,) int64 on the IMU clock (host ns); gyro_imu (N, 3) rad/s; accel_imu (N, 3) m/s^2."""

    t_ns: NDArray[np.int64]
    gyro_imu: NDArray[np.float64]
    accel_imu: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.t_ns)


def load_imu(session: Session, rig: str) -> ImuSamples | None:
    """The rig's IMU with corrected, strictly increasing times (the tracking stage's own timeline)."""
    name = f"{rig}.imu"
    if name not in session.streams:
        return None
    c = session.columns(name)
    t = stream_times(session, name, c, recorded=False)
    order = np.argsort(t, kind="stable")
    o = order[np.concatenate([[True], np.diff(t[order]) > 0])]
    return ImuSamples(
        t[o],
        np.stack([c["gyro_x"], c["gyro_y"], c["gyro_z"]], 1)[o],
        np.stack([c["accel_x"], c["accel_y"], c["accel_z"]], 1)[o],
    )


def gyro_rotation(imu: ImuSamples, t0: int, t1: int) -> NDArray[np.float64]:
    """R_imu(t0)_imu(t1) by integrating the gyro (bias not removed: only a tracking prior)."""
    sel = (imu.t_ns > t0) & (imu.t_ns < t1)
    ts = np.concatenate([[t0], imu.t_ns[sel], [t1]])
    g = np.array([np.interp(0.5 * (ts[:-1] + ts[1:]), imu.t_ns, imu.gyro_imu[:, k]) for k in range(3)]).T
    R = np.eye(3)
    for k in range(len(ts) - 1):
        R = R @ geometry.so3_exp(g[k] * (ts[k + 1] - ts[k]) * 1e-9)
    return R
