"""Recording throughput of the virtual rig through the real recorder, and demo time per recorded second.

Figures: frames/s written (stereo 640x480 rendered + H.264 + IMU/gripper tables), the same
in x real time, and `democap demo` wall time per recorded second, split by step.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from capture.virtual import record_virtual  # noqa: E402
from democap.demo import run_demo  # noqa: E402
from democap.home import Home  # noqa: E402
from democap.progress import Progress  # noqa: E402

SECONDS = float(os.environ.get("DEMOCAP_BENCH_SECONDS", "10"))


def main() -> None:
    Progress.quiet = True
    home = Home.resolve(tempfile.mkdtemp(prefix="democap-bench-demo-"))
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    s = record_virtual(home, seconds=SECONDS, seed=5)
    dt = time.perf_counter() - t
    frames = sum(v["count"] for v in s.streams.values() if v["kind"] == "video")
    print(
        f"recording (virtual rig, stereo 640x480@30 rendered + H.264): {frames / dt:.1f} frames/s written, "
        f"{SECONDS / dt:.2f}x real time ({frames} frames in {dt:.1f} s)"
    )
    r = run_demo(home, seconds=SECONDS, seed=6)
    total = sum(r.timings.values())
    print(
        f"demo: {total / SECONDS:.2f} s per recorded second ("
        + ", ".join(f"{k} {v / SECONDS:.2f}" for k, v in r.timings.items())
        + ")"
    )
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process): {peak_mb:.0f} MB")
    print(f"load average during the run: {load0:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
