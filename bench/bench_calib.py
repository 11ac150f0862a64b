"""Calibration speed (issue 5 targets: intrinsics from 30 views <= 5 s; camera-IMU on a 60 s
sequence <= 60 s) and AprilGrid detection rate at 640x480 and 1280x720.

* intrinsics: the 30 real yac D435i AprilGrid images (if the shared data is present; else 30
  rendered views): detection and the robust solve timed separately.
* camera-IMU: a seeded 60 s synthetic sequence (30 Hz poses, 200 Hz IMU), the solve on
  arrays; plus the per-frame cost of tracking the target (detection + PnP) on rendered
  frames, extrapolated to 60 s at 30 fps (that part dominates a real run).
* detection: rendered AprilGrid views (6x6 tags, 0.088 m) at both resolutions, exhaustive
  ArUco + grid completion + refinement, and the ``fast`` ArUco3 path.

Run: ``python bench/bench_calib.py`` (prints one line per figure).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from calib.camera_imu import calibrate_camera_imu
from calib.intrinsics import calibrate_intrinsics
from calib.synthetic import camera_imu_sequence, render_aprilgrid_view
from calib.target_poses import track_target
from calib.targets import AprilGrid
from democap import geometry
from democap.model import CameraModel

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GRID = AprilGrid(6, 6, 0.088, 0.3)


def views(camera: CameraModel, n: int, seed: int = 0) -> list[np.ndarray]:
    seq = camera_imu_sequence(seed=seed, duration_s=max(2.0, n / 30 + 1))
    return [render_aprilgrid_view(GRID, camera, geometry.se3_inverse(T)) for T in seq.T_target_cam_true[:n]]


def bench_intrinsics() -> None:
    root = DATA / "yac_d435i_mocap_aprilgrid" / "cam0" / "data"
    if root.is_dir():
        imgs = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(root.glob("*.jpg"))[:30]]
        what = "yac D435i real images"
    else:
        imgs = views(CameraModel("pinhole-radtan", 640, 480, 500, 500, 320, 240), 30)
        what = "rendered views"
    c0 = time.process_time()
    t0 = time.perf_counter()
    dets = [GRID.detect(i) for i in imgs]
    t1 = time.perf_counter()
    res = calibrate_intrinsics(dets, (imgs[0].shape[1], imgs[0].shape[0]), n_dist=4)
    t2 = time.perf_counter()
    print(
        f"intrinsics, {len(imgs)} views ({what}): detection {t1 - t0:.2f} s, solve {t2 - t1:.2f} s, "
        f"total {t2 - t0:.2f} s wall, {time.process_time() - c0:.2f} s CPU (target <= 5 s); "
        f"RMS {res.rms_px:.3f} px, fx {res.camera.fx:.1f}"
    )


def bench_camera_imu() -> None:
    seq = camera_imu_sequence(seed=1, duration_s=60.0)
    t0 = time.perf_counter()
    res = calibrate_camera_imu(seq.t_cam_ns, seq.T_target_cam_meas, seq.t_imu_ns, seq.gyro, seq.accel)
    t_solve = time.perf_counter() - t0
    cam = CameraModel("pinhole-radtan", 640, 480, 500, 500, 320, 240)
    frames = [(int(t), render_aprilgrid_view(GRID, cam, geometry.se3_inverse(T)))
              for t, T in zip(seq.t_cam_ns[:60], seq.T_target_cam_true[:60], strict=True)]  # fmt: skip
    t0, c0 = time.perf_counter(), time.process_time()
    track_target(frames, GRID, cam, fast=True)
    per_frame = (time.perf_counter() - t0) / len(frames)
    cpu_per_frame = (time.process_time() - c0) / len(frames)
    n = len(seq.t_cam_ns)
    err_t = np.linalg.norm(res.T_imu_cam[:3, 3] - seq.T_imu_cam[:3, 3]) * 1e3
    print(
        f"camera-IMU, 60 s ({n} frames, {len(seq.t_imu_ns)} IMU samples): solve {t_solve:.2f} s; "
        f"tracking {per_frame * 1e3:.1f} ms/frame (CPU {cpu_per_frame * 1e3:.1f} ms) -> {per_frame * n:.1f} s; "
        f"total {t_solve + per_frame * n:.1f} s "
        f"(target <= 60 s); lever-arm error {err_t:.2f} mm, offset error "
        f"{abs(res.time_offset_ns - seq.time_offset_ns) * 1e-6:.3f} ms"
    )


def bench_detection() -> None:
    for w, h in ((640, 480), (1280, 720)):
        cam = CameraModel("pinhole-radtan", w, h, 0.8 * w, 0.8 * w, w / 2, h / 2)
        imgs = views(cam, 40, seed=2)
        for fast in (False, True):
            t0, c0 = time.perf_counter(), time.process_time()
            found = [GRID.detect(i, fast=fast) for i in imgs]
            dt = (time.perf_counter() - t0) / len(imgs)
            cpu = (time.process_time() - c0) / len(imgs)
            corners = np.mean([len(d) if d is not None else 0 for d in found])
            print(
                f"AprilGrid detection {w}x{h}{' fast' if fast else ''}: {1 / dt:.1f} frames/s "
                f"({dt * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU), {corners:.0f} corners/frame"
            )


if __name__ == "__main__":
    bench_intrinsics()
    bench_camera_imu()
    bench_detection()
