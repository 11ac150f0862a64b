"""Virtual rig model speed without rendering: motion building, IMU synthesis, sample stream.

Prints IMU samples synthesised per second (noise, bias walk, saturation), the time to build
a scripted motion and a replayed one, and how fast a whole rig streams everything but images.
Run: ``python bench/bench_sim.py``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from devices.sim.imu import EUROC_NOISE, synthesize_imu
from devices.sim.motion import scripted_motion
from devices.sim.rig import SimRig, SimRigConfig


def main() -> None:
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    seconds = 600.0
    t0 = time.perf_counter()
    motion = scripted_motion("mixed", seconds, seed=0)
    print(f"scripted motion, {seconds:.0f} s: built in {time.perf_counter() - t0:.2f} s")
    for rate in (200.0, 400.0):
        t = np.arange(0.0, seconds, 1.0 / rate)
        t0 = time.perf_counter()
        synthesize_imu(motion, t, EUROC_NOISE, seed=1)
        dt = time.perf_counter() - t0
        print(f"IMU synthesis at {rate:.0f} Hz: {len(t) / dt / 1e3:.0f} k samples/s ({seconds / dt:.0f}x real time)")
    t0 = time.perf_counter()
    rig = SimRig(SimRigConfig(seconds=60.0, seed=2, cameras="mono-pinhole", host_start_ns=0, fps=30.0))
    built = time.perf_counter() - t0
    src = rig.source()
    src.rig.frame_dropped[:] = True  # stream everything but images
    t0 = time.perf_counter()
    n = sum(1 for _ in src.samples())
    dt = time.perf_counter() - t0
    print(
        f"SimRig 60 s: built in {built:.2f} s; {n} samples without images streamed in {dt:.2f} s "
        f"({60.0 / dt:.0f}x real time)"
    )


if __name__ == "__main__":
    main()
