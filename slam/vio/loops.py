"""Loop closures for the export pass: keyframes that see again what earlier keyframes mapped.

After the first batch solution, its tracked keyframes (thinned where the camera barely moved)
get ORB features and a landmark map triangulated on their poses (``slam.maps.build``). Each
query keyframe is relocalised (``slam.maps.relocalise``: strict PnP checks, wrong places refused)
against only the landmarks that keyframes at least ``min_gap_s`` older saw. Where that works,
the drift accumulated since then shows as the difference between the query's pose and its
relocalised pose; the relocalised pose relative to the nearest old keyframe becomes a
``LoopClosure`` factor for a second batch pass (``slam.vio.backend.run(find_loops=...)``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.model import CameraModel, TrackState
from slam.maps.build import BuildSettings, select_keyframes, triangulate_landmarks
from slam.maps.features import detect
from slam.maps.relocalise import Relocaliser
from slam.maps.store import Map, MapError
from slam.vio.backend import BackendResult, LoopClosure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSettings:
    min_gap_s: float = 4.0  # only landmarks mapped this much earlier count as a revisit
    max_queries: int = 60  # relocalisations per session (each ~70 ms)
    min_sigma_m: float = 0.003  # floor on a closure's noise: landmarks carry the old keyframes' error too
    min_sigma_deg: float = 0.5
    max_pair_dist_m: float = 0.15  # the old keyframe a closure ties to sat this close to the query
    build: BuildSettings = BuildSettings()


def find_loops(
    frames: Iterator[tuple[int, NDArray[Any]]],
    camera: CameraModel,
    T_imu_cam: NDArray[np.float64],
    res: BackendResult,
    kf_idx: list[int],
    settings: LoopSettings = LoopSettings(),
) -> list[LoopClosure]:
    """Closures between the back end's keyframes (indices into ``kf_idx``).

    frames: ``(frame index, image)`` of the camera in order (only keyframes are kept).
    """
    s = settings
    kf = np.asarray(kf_idx)
    t_kf = res.t_ns[kf]
    T_nav_cam = res.T_nav_imu[kf] @ T_imu_cam
    usable = res.state[kf] == TrackState.OK
    sel = np.asarray(select_keyframes(T_nav_cam, t_kf, usable, s.build), dtype=np.int64)
    if len(sel) < 2 * s.build.min_views or (t_kf[sel[-1]] - t_kf[sel[0]]) * 1e-9 < 2 * s.min_gap_s:
        return []
    wanted = {int(kf[k]): j for j, k in enumerate(sel)}
    images: dict[int, NDArray[Any]] = {}
    for i, img in frames:
        if i in wanted:
            images[wanted[i]] = img
        if i >= int(kf[sel[-1]]):
            break
    if len(images) < len(sel):
        log.warning("loop closures skipped: %d of %d keyframe images could be read", len(images), len(sel))
        return []
    feats = [detect(images[j], camera, s.build.orb) for j in range(len(sel))]
    try:
        arrays, _ = triangulate_landmarks(feats, T_nav_cam[sel], camera, s.build)
    except MapError:
        return []
    t_sel = t_kf[sel]
    # The newest keyframe that saw each landmark: a revisit must not lean on recent landmarks.
    newest = np.full(len(arrays["points_world"]), -1, np.int64)
    np.maximum.at(newest, arrays["obs_landmark"], arrays["obs_keyframe"].astype(np.int64))
    queries = [j for j in range(len(sel)) if t_sel[j] - t_sel[0] >= s.min_gap_s * 1e9]
    if len(queries) > s.max_queries:
        queries = [queries[int(q)] for q in np.linspace(0, len(queries) - 1, s.max_queries)]
    T_cam_imu = geometry.se3_inverse(T_imu_cam)
    loops = []
    for j in queries:
        old_kf = np.flatnonzero(t_sel <= t_sel[j] - s.min_gap_s * 1e9)
        if len(old_kf) < s.build.min_views:
            continue
        lm = np.flatnonzero((newest >= 0) & (newest <= old_kf[-1]))
        if len(lm) < 50:
            continue
        sub = _submap(arrays, lm, camera, t_sel, kf[sel], T_nav_cam[sel])
        reloc = Relocaliser(sub, camera)(images[j])
        if not reloc.ok:
            continue
        c = reloc.T_map_cam[:3, 3]
        d = np.linalg.norm(T_nav_cam[sel][old_kf, :3, 3] - c, axis=1)
        a = int(old_kf[np.argmin(d)])
        if d.min() > s.max_pair_dist_m:
            continue
        T_nav_imu_b = reloc.T_map_cam @ T_cam_imu
        T_a_b = geometry.se3_inverse(res.T_nav_imu[kf[sel[a]]]) @ T_nav_imu_b
        loops.append(
            LoopClosure(
                int(sel[a]),
                int(sel[j]),
                T_a_b,
                max(float(reloc.sigma_m), s.min_sigma_m),
                np.radians(max(float(reloc.sigma_deg), s.min_sigma_deg)),
            )  # fmt: skip
        )
    log.info("loop closures: %d of %d queries", len(loops), len(queries))
    return loops


def _submap(
    arrays: dict[str, NDArray[Any]],
    landmarks: NDArray[np.int64],
    camera: CameraModel,
    t_kf: NDArray[np.int64],
    frame_kf: NDArray[np.int64],
    T_nav_cam: NDArray[np.float64],
) -> Map:
    """The map restricted to ``landmarks`` (observations renumbered), keyframes kept."""
    new_id = np.full(len(arrays["points_world"]), -1, np.int64)
    new_id[landmarks] = np.arange(len(landmarks))
    keep = new_id[arrays["obs_landmark"]] >= 0
    return Map(
        name="loops",
        camera=camera,
        world_anchor="first_pose",
        anchor_tag=None,
        kf_t_ns=t_kf,
        kf_frame=frame_kf,
        T_world_cam=T_nav_cam,
        points_world=arrays["points_world"][landmarks],
        descriptors=arrays["descriptors"][landmarks],
        obs_keyframe=arrays["obs_keyframe"][keep],
        obs_landmark=new_id[arrays["obs_landmark"][keep]].astype(np.int32),
        obs_px=arrays["obs_px"][keep],
    )
