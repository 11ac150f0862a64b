"""Online VIO speed: can the live path keep up with a 640x480 @ 30 fps mono-inertial rig on this machine?

`python bench/bench_vio_online.py [--seconds 60] [--cameras mono-fisheye]` records the virtual rig
(pick-and-place), then feeds its IMU samples and frames, in arrival order and with the same
corrected timestamps as the export path, to ``slam.vio.online.OnlineVio`` (front end + fixed-lag
smoother, causal). Decoding the video is not timed (a live camera delivers decoded frames).
Prints frames/s, the real-time factor (recorded seconds per second of processing, wall and
CPU), per-frame latency percentiles, and the live pose error against the ground truth in the
table frame (no alignment) for frames after the world was anchored by a tag.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from capture.session import reference_poses
from capture.timebase import stream_times
from capture.virtual import record_virtual
from democap import geometry
from democap.home import Home
from democap.model import TrackState
from slam import metrics
from slam.imu import gyro_rotation, load_imu
from slam.vio.backend import BackendSettings
from slam.vio.estimator import DEFAULT_IMU_NOISE
from slam.vio.measurements import RigModel
from slam.vio.online import OnlineVio


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--cameras", default="mono-fisheye", choices=["mono-fisheye", "mono-pinhole"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="errors per 2 s")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="democap-bench-online-") as tmp:
        home = Home.resolve(Path(tmp) / "home")
        session = record_virtual(home, seconds=args.seconds, seed=args.seed, motion="pick_place", cameras=args.cameras)
        calib = session.calibration("rig0")
        assert calib is not None
        cam0 = calib.camera("cam0")
        imu = load_imu(session, "rig0")
        assert imu is not None
        t_cam = stream_times(session, "rig0.cam0", recorded=False)
        images = [img for _, img in session.frames("rig0.cam0")]
        ws = session.manifest.get("workspace", {})
        tag_size = float(ws.get("tag_size_m", 0.08))
        rig = RigModel(cam0.T_imu_cam, calib.imu or DEFAULT_IMU_NOISE, None, tag_size)
        vio = OnlineVio(rig, cam0.camera, back=BackendSettings(batch=False), table_tag_id=ws.get("table_tag_id"))
        known = {int(k): np.asarray(v) for k, v in ws.get("tags", {}).items()}
        R_imu_cam = cam0.T_imu_cam[:3, :3]

        per_frame, poses = [], []
        j = 0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for i, (t, img) in enumerate(zip(t_cam, images, strict=True)):
            f0 = time.perf_counter()
            while j < len(imu) and imu.t_ns[j] <= t:
                vio.add_imu(int(imu.t_ns[j]), imu.gyro_imu[j], imu.accel_imu[j])
                j += 1
            R_cur_prev = None
            if i > 0:
                R_prev_cur_imu = gyro_rotation(imu, int(t_cam[i - 1]), int(t))
                R_cur_prev = (R_imu_cam.T @ R_prev_cur_imu @ R_imu_cam).T
            poses.append(vio.add_frame(int(t), img, None, R_cur_prev))
            per_frame.append(time.perf_counter() - f0)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

        n = len(t_cam)
        recorded_s = (t_cam[-1] - t_cam[0]) * 1e-9
        ms = np.array(per_frame) * 1e3
        print(f"online VIO, {args.cameras} 640x480 @ 30 fps, {recorded_s:.1f} s recorded, {n} frames")
        print(f"  wall {wall:.1f} s: {n / wall:.1f} frames/s, real-time factor {recorded_s / wall:.2f}x")
        print(f"  cpu  {cpu:.1f} s: {n / cpu:.1f} frames/s, real-time factor {recorded_s / cpu:.2f}x")
        print(f"  per frame: p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, "
              f"max {ms.max():.1f} ms (budget 33.3 ms)")  # fmt: skip

        ref = reference_poses(session)
        anchored = [(k, lp) for k, lp in enumerate(poses) if lp is not None and lp.T_world_nav is not None]
        if ref is None or not anchored:
            print("  accuracy: no anchored live poses")
            return
        k_idx = np.array([k for k, _ in anchored])
        T_est = np.array([lp.T_world_nav @ lp.T_nav_imu for _, lp in anchored if lp.T_world_nav is not None])
        # The tag the live estimate is anchored to has a surveyed pose in the table frame.
        T_world_tag = {k: known[lp.anchor_tag] for k, lp in anchored if lp.anchor_tag in known}
        if len(T_world_tag) == len(anchored):
            T_est = np.array([T_world_tag[k] @ T for k, T in zip(k_idx, T_est, strict=True)])
        T_ref = geometry.interpolate_poses(ref[0], ref[1], t_cam[k_idx])
        err = np.linalg.norm(T_est[:, :3, 3] - T_ref[:, :3, 3], axis=1) * 100
        ok = np.array([lp.state == TrackState.OK for _, lp in anchored])
        aligned = metrics.ate(T_est, T_ref, "4dof")
        print(f"  live trajectory after 4-DoF alignment: ATE {100 * aligned.ate_rmse_m:.2f} cm, "
              f"{aligned.rot_rmse_deg:.2f} deg")  # fmt: skip
        if args.verbose:
            for a in range(0, len(err), 60):
                span = f"{k_idx[a]}-{k_idx[min(a + 59, len(err) - 1)]}"
                print(f"    frames {span}: err {np.median(err[a:a + 60]):.2f} cm, "
                      f"rot {np.median(aligned.per_frame_deg[a:a + 60]):.2f} deg")  # fmt: skip
        share = 100 * len(anchored) / n
        print(f"  live pose (table frame, unaligned) on {len(anchored)} anchored frames ({share:.0f} %): "
              f"median {np.median(err):.2f} cm, p95 {np.percentile(err, 95):.2f} cm; "
              f"OK frames > 2 cm: {int(np.sum(ok & (err > 2.0)))}")  # fmt: skip


if __name__ == "__main__":
    main()
