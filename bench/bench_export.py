"""Export throughput: one 640x480 camera at 30 fps, LeRobot v3 incl. H.264 (yuv420p, GOP 2) encoding.

Prints the real-time factor (recorded seconds exported per wall-clock second; target >= 5x),
for LeRobot and the other formats, on a generated session (fixed seed).
Run: python bench/bench_export.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from capture.session import Session
from democap.progress import Progress


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--formats", default="lerobot,robomimic,act,umi-zarr")
    args = ap.parse_args()
    Progress.quiet = True
    import export
    from export.video import VideoSettings
    from flags.synthetic import make_session

    n = int(args.seconds * 30)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        t = time.perf_counter()
        s = Session(
            make_session(root / "s", n_frames=n, width=640, height=480, episodes=max(1, n // 300), codec="h264")
        )
        print(f"generated session: {n} frames 640x480 in {time.perf_counter() - t:.1f} s")
        for fmt in args.formats.split(","):
            t, c = time.perf_counter(), time.process_time()
            res = export.run([s], fmt, root / fmt)
            dt, dc = time.perf_counter() - t, time.process_time() - c
            size = sum(p.stat().st_size for p in (root / fmt).rglob("*") if p.is_file()) / 1e6
            # CPU time says what the export costs when the machine is shared (load from other jobs).
            print(
                f"{fmt:<10} {res.frames} frames: wall {dt:6.2f} s = {args.seconds / dt:5.1f}x real time; "
                f"CPU {dc:6.2f} s = {args.seconds / dc:5.1f}x real time per core  ({size:.1f} MB)"
            )
        t, c = time.perf_counter(), time.process_time()
        res = export.run([s], "lerobot", root / "av1", video=VideoSettings(codec="av1", crf=30))
        dt, dc = time.perf_counter() - t, time.process_time() - c
        print(
            f"lerobot-av1 {res.frames} frames: wall {dt:6.2f} s = {args.seconds / dt:5.1f}x real time; CPU {dc:6.2f} s"
        )
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
