"""Workspace maps on the virtual rig: build time and size, relocalisation success, error and speed.

Per camera setup: a map is built from a 'wipe' session of one tabletop scene (its trajectory
stage run first), then every ``--step``-th frame of a 'pick_place' session of the same scene
is relocalised and compared with the ground truth; frames of another scene (seed + 1) and
mirrored images must not relocalise. Finally the trajectory stage runs on the demo with tags
ignored and the map given, and its OK / RELOCALISED frames are scored.

    python bench/bench_maps.py [--seconds 20] [--cameras stereo-pinhole,mono-fisheye] [--step 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from capture.artifacts import load_trajectory
from capture.virtual import record_virtual
from democap import geometry
from democap.home import Home
from democap.model import TrackState
from democap.progress import Progress
from slam import metrics, stage
from slam.maps import load_map, save_map
from slam.maps.build import build_map
from slam.maps.relocalise import relocalise_session


def reference(session, t_ns):  # type: ignore[no-untyped-def]
    c = session.columns("reference.pose")
    q = np.stack([c["qw"], c["qx"], c["qy"], c["qz"]], 1)  # qw,qx,qy,qz
    T_ref = geometry.se3(geometry.quat_wxyz_to_matrix(q), np.stack([c["x"], c["y"], c["z"]], 1))
    return metrics.match_reference(t_ns, c["t_host_ns"], T_ref)


def errors(T_est: np.ndarray, T_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dp = np.linalg.norm(T_est[:, :3, 3] - T_ref[:, :3, 3], axis=1) * 100
    dR = np.einsum("nji,njk->nik", T_est[:, :3, :3], T_ref[:, :3, :3])
    return dp, np.degrees(geometry.rotation_angle(dR))


def bench(home: Home, cameras: str, seconds: float, step: int, seed: int) -> None:
    print(f"\n== {cameras}, {seconds:.0f} s sessions, scene seed {seed}")
    t = time.perf_counter()
    src = record_virtual(home, seconds=seconds, seed=seed, motion="wipe", cameras=cameras)
    stage.run(src)
    print(f"map session recorded + trajectory in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    m, stats = build_map(src, f"bench-{cameras}", "rig0")
    build_s = time.perf_counter() - t
    path = save_map(home, m, force=True)
    size_mb = sum(p.stat().st_size for p in path.iterdir() if p.is_file()) / 1e6
    print(
        f"map: build {build_s:.1f} s, {m.n_keyframes} keyframes, {m.n_landmarks} landmarks, "
        f"{len(m.obs_keyframe)} observations, {size_mb:.2f} MB on disk"
    )
    m = load_map(home, m.name)
    demo = record_virtual(home, seconds=seconds, seed=seed, motion="pick_place", cameras=cameras)
    r = relocalise_session(demo, "rig0", m, step=step)
    valid, T_ref = reference(demo, r.t_ns)
    ok = r.ok & valid
    dp, dr = errors(r.T_map_imu[ok], T_ref[ok])
    print(
        f"relocalise same scene: {ok.sum()}/{len(r.ok)} frames ({ok.mean():.0%}), "
        f"{np.median(r.ms):.0f} ms median / {np.percentile(r.ms, 95):.0f} ms p95 per frame, "
        f"median {np.median(r.inliers[ok]):.0f} inliers"
    )
    if ok.any():
        print(
            f"  error: position median {np.median(dp):.2f} cm, p95 {np.percentile(dp, 95):.2f}, max {dp.max():.2f}; "
            f"rotation median {np.median(dr):.2f} deg, max {dr.max():.2f}; frames > 2 cm: {(dp > 2).sum()}"
        )
    mirrored = relocalise_session(demo, "rig0", m, step=3 * step, transform=lambda img: cv2.flip(img, 1))
    other = record_virtual(home, seconds=min(seconds, 10.0), seed=seed + 1, motion="pick_place", cameras=cameras)
    wrong = relocalise_session(other, "rig0", m, step=step)
    print(
        f"wrong scene (seed {seed + 1}): {wrong.ok.sum()}/{len(wrong.ok)} accepted; "
        f"mirrored images: {mirrored.ok.sum()}/{len(mirrored.ok)} accepted"
    )
    t = time.perf_counter()
    rec = stage.run(demo, {"tags": False, "map": m.name}, method="vio", force=True)
    info = rec.summary["rig0"]
    traj = load_trajectory(demo, "rig0")
    valid, T_ref = reference(demo, traj.t_ns)
    print(
        f"trajectory stage, tags ignored, map given: {time.perf_counter() - t:.1f} s "
        f"(map part {info['map'].get('map_s', 0):.1f} s), world {info['world_anchor']}"
        f"{' from map' if info['map'].get('world_from_map') else ''}"
    )
    for st in (TrackState.OK, TrackState.RELOCALISED, TrackState.INTERPOLATED, TrackState.LOST):
        sel = valid & (traj.state == st)
        if sel.any():
            e, _ = errors(traj.T_world_body[sel], T_ref[sel])
            print(f"  {st.label:<13} {sel.sum():4d} frames, error median {np.median(e):.2f} cm, max {e.max():.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--cameras", default="stereo-pinhole,mono-fisheye")
    ap.add_argument("--step", type=int, default=3)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--home", help="keep the sessions and maps here (default: a temporary folder)")
    args = ap.parse_args()
    Progress.quiet = True
    with tempfile.TemporaryDirectory() as tmp:
        home = Home.resolve(Path(args.home) if args.home else Path(tmp) / "home")
        for cams in args.cameras.split(","):
            bench(home, cams, args.seconds, args.step, args.seed)


if __name__ == "__main__":
    main()
