"""Build a map from a session whose trajectory stage has run (``democap map build``).

Keyframes are the tracked (``ok``) frames picked whenever the camera moved or turned
enough; their poses ``T_world_cam`` come from the trajectory stage output and the rig's
calibration and are held fixed. Each keyframe's ORB features are matched to those of its
next few keyframes; a match is kept when the two rays, triangulated with the known poses,
meet in front of both cameras within ``max_reproj_px`` and with some parallax. Matches chain
into tracks (connected components), and each track with enough views becomes a landmark:
the least-squares intersection of its rays, kept when every remaining view reprojects
within ``max_reproj_px``. Its descriptor is the medoid of its observations' descriptors.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from capture.artifacts import load_trajectory, read_stage, trajectory_path
from capture.session import Session
from capture.timebase import stream_times
from democap import geometry
from democap.model import CameraModel, TrackState, Trajectory
from democap.progress import Progress
from slam.maps.features import Features, OrbSettings, detect, hamming, ratio_matches
from slam.maps.store import Map, MapError, check_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildSettings:
    orb: OrbSettings = OrbSettings()
    min_move_m: float = 0.03  # a new keyframe when the camera moved this far ...
    min_turn_deg: float = 5.0  # ... or turned this much since the last one
    max_gap_s: float = 1.0  # ... or this long passed
    neighbours: int = 3  # each keyframe is matched to this many following keyframes
    match_ratio: float = 0.8
    max_hamming: int = 64
    max_reproj_px: float = 2.0
    min_parallax_deg: float = 1.0
    min_views: int = 3
    max_depth_m: float = 8.0


def camera_poses(session: Session, rig: str, traj: Trajectory) -> tuple[CameraModel, NDArray[np.int64], NDArray]:
    """cam0 model, its frame times (N,) and T_world_cam0 (N, 4, 4) from a trajectory of ``T_world_imu``."""
    calib = session.calibration(rig)
    if calib is None or not calib.cameras:
        raise MapError(f"session {session.id} has no camera calibration for {rig}", session.path)
    cam = calib.cameras[0]
    stream = f"{rig}.{cam.name}"
    if stream not in session.streams:
        raise MapError(f"session {session.id} has no stream {stream}", session.path)
    t = stream_times(session, stream, recorded=False).astype(np.int64)
    if traj.body != "imu":
        raise MapError(f"trajectory body is {traj.body!r}, expected 'imu'", trajectory_path(session, rig))
    T_world_imu = traj.T_world_body if len(traj) == len(t) and np.array_equal(traj.t_ns, t) else traj.at(t)
    return cam.camera, t, T_world_imu @ cam.T_imu_cam


def select_keyframes(
    T_world_cam: NDArray[np.float64], t_ns: NDArray[np.int64], usable: NDArray[np.bool_], s: BuildSettings
) -> list[int]:
    """Frame indices where the camera moved, turned or waited enough since the last keyframe."""
    out: list[int] = []
    for i in np.flatnonzero(usable):
        if out:
            last = out[-1]
            moved = np.linalg.norm(T_world_cam[i, :3, 3] - T_world_cam[last, :3, 3])
            turned = np.degrees(geometry.rotation_angle(T_world_cam[last, :3, :3].T @ T_world_cam[i, :3, :3]))
            waited = (t_ns[i] - t_ns[last]) * 1e-9
            if moved < s.min_move_m and turned < s.min_turn_deg and waited < s.max_gap_s:
                continue
        out.append(int(i))
    return out


def build_map(
    session: Session, name: str, rig: str = "rig0", settings: BuildSettings = BuildSettings()
) -> tuple[Map, dict[str, Any]]:
    """A map of the scene ``session`` saw, in the world of its trajectory stage output."""
    check_name(name)
    t0 = time.perf_counter()
    if not trajectory_path(session, rig).exists():
        raise MapError(
            f"session {session.id} has no trajectory for {rig}; run `democap process {session.id}` first",
            session.path,
        )
    traj = load_trajectory(session, rig)
    camera, t_ns, T_world_cam = camera_poses(session, rig, traj)
    state = traj.state if len(traj) == len(t_ns) else np.full(len(t_ns), TrackState.LOST, np.uint8)
    if len(traj) != len(t_ns):
        # Poses at other times than the frames: trust only frames inside the tracked span.
        ok_t = traj.t_ns[traj.state == TrackState.OK]
        if len(ok_t):
            state = np.where((t_ns >= ok_t[0]) & (t_ns <= ok_t[-1]), TrackState.OK, TrackState.LOST).astype(np.uint8)
    kf = select_keyframes(T_world_cam, t_ns, state == TrackState.OK, settings)
    if len(kf) < settings.min_views:
        raise MapError(
            f"only {len(kf)} tracked keyframes in {session.id} {rig} (share ok {traj.share_ok():.0%}); "
            "record a longer walk over the workspace",
            trajectory_path(session, rig),
        )
    stream = f"{rig}.{session.calibration(rig).cameras[0].name}"  # type: ignore[union-attr]
    feats: list[Features] = []
    wanted = set(kf)
    with Progress(f"map features {name}", len(kf)) as bar:
        for i, img in session.frames(stream, 0, kf[-1] + 1):
            if i in wanted:
                feats.append(detect(img, camera, settings.orb))
                bar.advance()
    T_kf = T_world_cam[kf]
    m, stats = triangulate_landmarks(feats, T_kf, camera, settings)
    rec = read_stage(session, "trajectory")
    rig_summary = (rec.summary.get(rig, {}) if rec else {}) or {}
    world_anchor = traj.world_anchor
    result = Map(
        name=name,
        camera=camera,
        world_anchor=world_anchor,
        anchor_tag=rig_summary.get("anchor_tag"),
        kf_t_ns=t_ns[kf],
        kf_frame=np.asarray(kf, np.int64),
        T_world_cam=T_kf,
        source={
            "session": session.id,
            "rig": rig,
            "stream": stream,
            "trajectory_method": (rec.settings.get("method") if rec else None),
            "trajectory_share_ok": traj.share_ok(),
        },
        settings=asdict(settings),
        **m,
    )
    stats.update({"keyframes": len(kf), "build_s": time.perf_counter() - t0, "world_anchor": world_anchor})
    log.info("map %s: %d keyframes, %d landmarks", name, result.n_keyframes, result.n_landmarks)
    return result, stats


def triangulate_landmarks(
    feats: list[Features], T_world_cam: NDArray[np.float64], camera: CameraModel, s: BuildSettings
) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in feats])])
    n_nodes = int(offsets[-1])
    kf_of = np.repeat(np.arange(len(feats)), [len(f) for f in feats])
    rays_world = [f.rays_cam @ T[:3, :3].T for f, T in zip(feats, T_world_cam, strict=True)]
    edges_a, edges_b = [], []
    n_pairs = 0
    for a in range(len(feats)):
        for b in range(a + 1, min(a + 1 + s.neighbours, len(feats))):
            qa, tb = ratio_matches(feats[a].descriptors, feats[b].descriptors, s.match_ratio, s.max_hamming)
            if not len(qa):
                continue
            keep = _pair_consistent(
                rays_world[a][qa], rays_world[b][tb], T_world_cam[a], T_world_cam[b],
                feats[a].px[qa], feats[b].px[tb], camera, s,
            )  # fmt: skip
            edges_a.append(offsets[a] + qa[keep])
            edges_b.append(offsets[b] + tb[keep])
            n_pairs += int(keep.sum())
    if not edges_a:
        raise MapError("no feature matched between keyframes: the scene has too little texture to map")
    ea, eb = np.concatenate(edges_a), np.concatenate(edges_b)
    graph = coo_matrix((np.ones(len(ea)), (ea, eb)), shape=(n_nodes, n_nodes))
    _, comp = connected_components(graph, directed=False)
    # Nodes in a track of >= 2 views, one observation per keyframe (the first if a track forks).
    sizes = np.bincount(comp)
    node = np.flatnonzero(sizes[comp] >= 2)
    order = np.lexsort((node, kf_of[node], comp[node]))
    node = node[order]
    key = comp[node] * len(feats) + kf_of[node]
    node = node[np.r_[True, key[1:] != key[:-1]]]
    track = comp[node]
    _, track = np.unique(track, return_inverse=True)
    centres = T_world_cam[:, :3, 3]
    all_px = np.concatenate([f.px for f in feats])
    all_rays = np.concatenate(rays_world)
    all_desc = np.concatenate([f.descriptors for f in feats])
    obs_kf, obs_ray, obs_px = kf_of[node], all_rays[node], all_px[node]
    keep = np.ones(len(node), bool)
    for _ in range(2):  # triangulate, drop views that disagree, triangulate again
        X = _intersect_rays(track[keep], obs_ray[keep], centres[obs_kf[keep]], int(track.max()) + 1)
        err = _reprojection_px(X[track], obs_kf, obs_px, T_world_cam, camera)
        keep &= err < s.max_reproj_px
    X = _intersect_rays(track[keep], obs_ray[keep], centres[obs_kf[keep]], int(track.max()) + 1)
    views = np.bincount(track[keep], minlength=len(X))
    depth_ok = _depth_ok(X, track[keep], obs_kf[keep], T_world_cam, s.max_depth_m)
    parallax = _max_parallax_deg(X, track[keep], centres[obs_kf[keep]], len(X))
    good_lm = (views >= s.min_views) & depth_ok & (parallax >= s.min_parallax_deg) & np.isfinite(X).all(1)
    new_id = np.full(len(X), -1)
    new_id[good_lm] = np.arange(int(good_lm.sum()))
    sel = keep & good_lm[track]
    obs_lm = new_id[track[sel]]
    desc = _medoid_descriptors(all_desc[node[sel]], obs_lm, int(good_lm.sum()))
    stats = {"pair_matches": n_pairs, "tracks": int(track.max()) + 1, "landmarks": int(good_lm.sum())}
    return {
        "points_world": X[good_lm],
        "descriptors": desc,
        "obs_keyframe": obs_kf[sel].astype(np.int32),
        "obs_landmark": obs_lm.astype(np.int32),
        "obs_px": obs_px[sel].astype(np.float32),
    }, stats


def _pair_consistent(
    ray_a: NDArray, ray_b: NDArray, T_a: NDArray, T_b: NDArray, px_a: NDArray, px_b: NDArray,
    camera: CameraModel, s: BuildSettings,
) -> NDArray[np.bool_]:  # fmt: skip
    """Matches whose rays (world, from known poses) meet in front of both cameras and reproject."""
    ca, cb = T_a[:3, 3], T_b[:3, 3]
    # Closest points of the two lines ca + u ray_a and cb + v ray_b.
    w = ca - cb
    b = np.sum(ray_a * ray_b, 1)
    d, e = ray_a @ w, ray_b @ w
    den = 1.0 - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (b * e - d) / den
        v = (e - b * d) / den
    X = 0.5 * ((ca + u[:, None] * ray_a) + (cb + v[:, None] * ray_b))
    parallax = np.degrees(np.arccos(np.clip(b, -1, 1)))
    ok = (u > 0.02) & (v > 0.02) & (u < s.max_depth_m) & (v < s.max_depth_m) & (parallax >= 0.3)
    for T, px in ((T_a, px_a), (T_b, px_b)):
        X_cam = geometry.transform_points(geometry.se3_inverse(T), X)
        with np.errstate(invalid="ignore"):
            err = np.linalg.norm(camera.project(X_cam) - px, axis=1)
        ok &= np.nan_to_num(err, nan=np.inf) < s.max_reproj_px
    return ok


def _intersect_rays(track: NDArray, rays: NDArray, centres: NDArray, n: int) -> NDArray[np.float64]:
    """Per track, the point minimising the squared distances to its rays (c + t d)."""
    P = np.eye(3)[None] - rays[:, :, None] * rays[:, None, :]  # (M, 3, 3) projectors orthogonal to each ray
    A = np.zeros((n, 3, 3))
    b = np.zeros((n, 3))
    np.add.at(A, track, P)
    np.add.at(b, track, np.einsum("mij,mj->mi", P, centres))
    X = np.full((n, 3), np.nan)
    well = np.linalg.cond(A) < 1e6
    X[well] = np.linalg.solve(A[well], b[well][..., None])[..., 0]
    return X


def _reprojection_px(
    X_world: NDArray, kf: NDArray, px: NDArray, T_world_cam: NDArray, camera: CameraModel
) -> NDArray[np.float64]:
    T_cam_world = np.linalg.inv(T_world_cam)[kf]
    X_cam = np.einsum("mij,mj->mi", T_cam_world[:, :3, :3], X_world) + T_cam_world[:, :3, 3]
    with np.errstate(invalid="ignore"):
        err = np.linalg.norm(camera.project(X_cam) - px, axis=1)
    return np.nan_to_num(err, nan=np.inf)


def _depth_ok(X: NDArray, track: NDArray, kf: NDArray, T_world_cam: NDArray, max_depth: float) -> NDArray[np.bool_]:
    T_cam_world = np.linalg.inv(T_world_cam)[kf]
    z = np.einsum("mj,mj->m", T_cam_world[:, 2, :3], X[track]) + T_cam_world[:, 2, 3]
    bad = ~((z > 0.02) & (z < max_depth))
    out = np.ones(len(X), bool)
    out[track[bad]] = False
    return out


def _max_parallax_deg(X: NDArray, track: NDArray, centres: NDArray, n: int) -> NDArray[np.float64]:
    """Largest angle between any view's ray and the track's mean ray, doubled (approximates the widest pair)."""
    d = centres - X[track]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    mean = np.zeros((n, 3))
    np.add.at(mean, track, d)
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    ang = np.degrees(np.arccos(np.clip(np.sum(d * mean[track], 1), -1, 1)))
    out = np.zeros(n)
    np.maximum.at(out, track, np.nan_to_num(2 * ang))
    return out


def _medoid_descriptors(desc: NDArray[np.uint8], lm: NDArray, n: int) -> NDArray[np.uint8]:
    """Per landmark, the observation descriptor closest (Hamming) to all the others (as ORB-SLAM)."""
    out = np.zeros((n, 32), np.uint8)
    order = np.argsort(lm, kind="stable")
    starts = np.searchsorted(lm[order], np.arange(n + 1))
    for j in range(n):
        d = desc[order[starts[j] : starts[j + 1]]]
        out[j] = d[int(np.argmin(hamming(d, d).sum(1)))] if len(d) > 2 else d[0]
    return out
