"""Virtual rig rendering speed at 640x480 (issue target: >= 20 frames/s, one thread per render).

For pinhole and fisheye, mono and stereo: frames/s of the whole frame as the rig sends it
(motion blur from the auto-exposed exposure time, sensor noise, fingers, atlas lookups)
along a scripted pick-and-place, and of clean frames (no blur, no noise). A stereo frame
is both images. Wall-clock frames/s depend on how busy the machine is (the load average is
printed); frames per CPU-second of this process approximate an idle machine.
Run: ``python bench/bench_render.py [--frames N]``.
"""

from __future__ import annotations

import argparse
import os
import time

from devices.sim.rig import SimRig, SimRigConfig


def frames_per_second(cameras: str, n: int, realistic: bool) -> tuple[float, float]:
    """(frames per wall-clock second, frames per CPU second) of n frames."""
    rig = SimRig(
        SimRigConfig(
            seconds=max(6.0, n / 30 + 2),
            seed=1,
            motion="pick_place",
            cameras=cameras,  # type: ignore[arg-type]
            motion_blur=realistic,
            sensor_noise=realistic,
            photos=True,
            host_start_ns=0,
        )
    )
    names = [name for name, _, _ in rig.cameras]
    for name in names:  # scene, atlas and per-camera rays are built once per rig, not per frame
        rig.render_frame(0, name)
    first = 30  # skip the still first second
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(first, first + n):
        for name in names:
            rig.render_frame(i, name)
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    head = ("640x480", "blur+noise: frames/s", "per CPU-s", "clean: frames/s", "per CPU-s")
    print(f"{head[0]:16s} {head[1]:>22s} {head[2]:>10s} {head[3]:>16s} {head[4]:>10s}")
    for cameras in ("mono-pinhole", "mono-fisheye", "stereo-pinhole", "stereo-fisheye"):
        real, real_cpu = frames_per_second(cameras, args.frames, True)
        clean, clean_cpu = frames_per_second(cameras, args.frames, False)
        print(f"{cameras:16s} {real:22.1f} {real_cpu:10.1f} {clean:16.1f} {clean_cpu:10.1f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
