"""Virtual rig rendering speed at 640x480 (issue target: >= 20 frames/s, one thread per render).

For pinhole and fisheye, mono and stereo: frames/s of the whole frame as the rig sends it
(motion blur from the auto-exposed exposure time, sensor noise, fingers, atlas lookups)
along a scripted pick-and-place, and of clean frames (no blur, no noise). A stereo frame
is both images. The load average is printed because the figures scale with a busy CPU.
Run: ``python bench/bench_render.py [--frames N]``.
"""

from __future__ import annotations

import argparse
import os
import time

from devices.sim.rig import SimRig, SimRigConfig


def frames_per_second(cameras: str, n: int, realistic: bool) -> float:
    rig = SimRig(SimRigConfig(seconds=max(6.0, n / 30 + 2), seed=1, motion="pick_place", cameras=cameras,  # type: ignore[arg-type]
                              motion_blur=realistic, sensor_noise=realistic, photos=True, host_start_ns=0))
    names = [name for name, _, _ in rig.cameras]
    for name in names:  # scene, atlas and per-camera rays are built once per rig, not per frame
        rig.render_frame(0, name)
    first = 30  # skip the still first second
    t0 = time.perf_counter()
    for i in range(first, first + n):
        for name in names:
            rig.render_frame(i, name)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'cameras':16s} {'frames/s (blur+noise)':>22s} {'frames/s (clean)':>18s}")
    for cameras in ("mono-pinhole", "mono-fisheye", "stereo-pinhole", "stereo-fisheye"):
        real = frames_per_second(cameras, args.frames, True)
        clean = frames_per_second(cameras, args.frames, False)
        print(f"{cameras:16s} {real:22.1f} {clean:18.1f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
