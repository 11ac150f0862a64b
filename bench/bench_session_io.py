"""Importer and session-read throughput.

Imports the shared EuRoC clip (lossless and H.264) and a generated 60 s session, then
reads them back: decoded frames/s, table rows/s. Reference: raw PNG decoding of the same
images with OpenCV in the same process, so the ratio says what the session format costs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from capture.importers.euroc import import_euroc  # noqa: E402
from capture.session import Session, SessionWriter, StreamSpec  # noqa: E402
from democap.home import Home  # noqa: E402
from democap.progress import Progress  # noqa: E402


def main() -> None:
    Progress.quiet = True
    data = Path(os.environ.get("DEMOCAP_TEST_DATA", ROOT.parent / "shared" / "data")) / "euroc_v1_01_easy_micro"
    home = Home.resolve(tempfile.mkdtemp(prefix="democap-bench-"))
    pngs = sorted((data / "mav0" / "cam0" / "data").glob("*.png")) + sorted(
        (data / "mav0" / "cam1" / "data").glob("*.png")
    )
    t = time.perf_counter()
    for p in pngs:
        cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
    png_fps = len(pngs) / (time.perf_counter() - t)
    print(f"reference: PNG decode {png_fps:8.1f} frames/s (752x480 gray, OpenCV)")
    for lossless in (True, False):
        t = time.perf_counter()
        s = import_euroc(data, home, lossless=lossless)
        dt = time.perf_counter() - t
        size = sum(f.stat().st_size for f in s.path.rglob("*") if f.is_file())
        print(
            f"import euroc ({'ffv1' if lossless else 'h264'}): {len(pngs) / dt:8.1f} frames/s "
            f"({dt:.2f} s, {size / 1e6:.1f} MB on disk)"
        )
        t = time.perf_counter()
        n = sum(1 for _ in s.frames("rig0.cam0")) + sum(1 for _ in s.frames("rig0.cam1"))
        dt = time.perf_counter() - t
        print(
            f"read frames ({'ffv1' if lossless else 'h264'}): {n / dt:8.1f} frames/s "
            f"(ratio to PNG decode {n / dt / png_fps:.2f})"
        )
    # A 60 s recording-shaped session: 640x480 at 30 fps + IMU at 400 Hz.
    w = SessionWriter(home.sessions, source={"kind": "bench"})
    v = w.add_video(StreamSpec("rig0.cam0", "video", "rig0", "cam0", 30.0), 640, 480, "gray", "h264")
    imu = w.add_table(StreamSpec("rig0.imu", "imu", "rig0", "imu", 400.0))
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, (60, 80), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_CUBIC)
    t = time.perf_counter()
    for i in range(1800):
        v.append(np.roll(base, i, axis=1), i * 33_333_333)
    for k in range(60):
        tt = k * 1_000_000_000 + np.arange(400) * 2_500_000
        z = np.zeros(400)
        imu.append_many(
            {
                "t_host_ns": tt,
                "t_device_ns": tt,
                "gyro_x": z,
                "gyro_y": z,
                "gyro_z": z,
                "accel_x": z,
                "accel_y": z,
                "accel_z": z + 9.81,
            }
        )
    s = Session(w.close())
    dt = time.perf_counter() - t
    print(f"write 60 s session (640x480@30 h264 + IMU 400 Hz): {1800 / dt:8.1f} frames/s ({60 / dt:.1f}x real time)")
    t = time.perf_counter()
    n = sum(1 for _ in s.frames("rig0.cam0"))
    dt = time.perf_counter() - t
    print(f"read 60 s session frames: {n / dt:8.1f} frames/s")
    t = time.perf_counter()
    rows = s.table("rig0.imu").num_rows
    dt = time.perf_counter() - t
    chunks = len(list((s.path / "streams" / "rig0.imu").glob("*.parquet")))
    print(f"read IMU table: {rows / dt:12.0f} rows/s ({rows} rows in {chunks} chunks)")

    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
