"""Tie a trajectory to a map: its world becomes the map's, and pieces after a loss are re-anchored.

The VIO back end returns poses ``T_nav_imu`` per piece of continuous tracking (``segment``).
Relocalised frames give ``T_map_imu`` for some frames; per piece, the rigid transform
``T_map_nav`` that maps the piece onto those frames is fitted robustly and accepted only when
the relocalised frames agree with it (``max_residual_m``/``max_residual_deg``), so a piece is
joined on several consistent relocalisations, never on one. Frames of a piece that tracking
alone could not trust (LOST after a loss) become RELOCALISED; single relocalised frames
outside any joined piece keep their own relocalised pose and are RELOCALISED too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capture.session import Session
from democap import geometry
from democap.home import Home
from democap.model import TrackState, Trajectory
from slam.maps.relocalise import SessionRelocalisation
from slam.maps.store import Map, MapError, load_map, map_dir, read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JoinSettings:
    min_frames: int = 3  # relocalised frames needed to place a piece
    max_residual_m: float = 0.015
    max_residual_deg: float = 1.5
    relocalised_quality: float = 0.5


def home_of(session: Session) -> Home:
    """The home folder a session lives in (``<home>/sessions/<id>``), else the default home."""
    p = Path(session.path).resolve()
    if p.parent.name == "sessions":
        return Home(p.parent.parent)
    return Home.resolve(None)


def map_for(session: Session, name: str) -> Map:
    return load_map(home_of(session), name)


def map_content_id(session: Session, name: str) -> str:
    """What a stage computed in map ``name`` depends on (changes when the map is rebuilt)."""
    path = Path(name) if Path(name).is_absolute() else map_dir(home_of(session), name)
    try:
        return str(read_manifest(path).get("content_id", ""))
    except MapError:
        return "missing"


def fit_T_map_nav(
    T_map_imu: NDArray[np.float64], T_nav_imu: NDArray[np.float64], s: JoinSettings = JoinSettings()
) -> tuple[NDArray[np.float64] | None, int]:
    """Robust T_map_nav from frame pairs (F, 4, 4); None when fewer than ``min_frames`` agree."""
    if len(T_map_imu) < s.min_frames:
        return None, 0
    candidates = T_map_imu @ np.linalg.inv(T_nav_imu)  # one estimate of T_map_nav per frame
    best: NDArray[np.bool_] = np.zeros(len(candidates), bool)
    for T_c in candidates:  # each frame's estimate votes; the one most frames agree with wins
        agree = _agrees(T_c[None] @ T_nav_imu, T_map_imu, s)
        if agree.sum() > best.sum():
            best = agree
    if best.sum() < s.min_frames:
        return None, int(best.sum())
    for _ in range(2):  # refit on the agreeing frames: mean rotation, then the translation it implies
        # Each relocalised frame's orientation fixes the whole rotation (positions alone would not
        # when a piece moves along a line).
        R = geometry.nearest_rotation(np.sum(candidates[best, :3, :3], axis=0))
        t = np.mean(T_map_imu[best, :3, 3] - T_nav_imu[best, :3, 3] @ R.T, axis=0)
        T = geometry.se3(R, t)
        best = _agrees(T[None] @ T_nav_imu, T_map_imu, s)
        if best.sum() < s.min_frames:
            return None, int(best.sum())
    return T, int(best.sum())


def _agrees(T_a: NDArray, T_b: NDArray, s: JoinSettings) -> NDArray[np.bool_]:
    dp = np.linalg.norm(T_a[:, :3, 3] - T_b[:, :3, 3], axis=1)
    dr = np.degrees(geometry.rotation_angle(np.einsum("nji,njk->nik", T_a[:, :3, :3], T_b[:, :3, :3])))
    return (dp < s.max_residual_m) & (dr < s.max_residual_deg)


@dataclass(frozen=True, eq=False)
class Joined:
    T_world_imu: NDArray[np.float64]
    state: NDArray[np.uint8]
    quality: NDArray[np.float32]
    world_anchor: str
    info: dict[str, Any]


def join_through_map(
    T_world_imu: NDArray[np.float64],
    T_nav_imu: NDArray[np.float64],
    state: NDArray[np.uint8],
    quality: NDArray[np.float32],
    segment: NDArray[np.int32] | None,
    world_anchor: str,
    anchor_tag: int | None,
    m: Map,
    reloc: SessionRelocalisation,
    s: JoinSettings = JoinSettings(),
) -> Joined:
    """Poses (N, 4, 4) in the map's world (when the trajectory had no tag) and pieces joined.

    T_world_imu / T_nav_imu: the estimator's output and its raw nav-frame poses per frame;
    ``reloc.frame`` indexes these arrays."""
    n = len(state)
    T_out, st, q = T_world_imu.copy(), state.copy(), quality.copy()
    seg = segment if segment is not None else np.where(state == TrackState.LOST, -1, 0).astype(np.int32)
    ok = reloc.ok & (reloc.frame < n)
    fr = reloc.frame[ok]
    T_map_imu = reloc.T_map_imu[ok]
    trusted = (st == TrackState.OK) | (st == TrackState.INTERPOLATED) | (st == TrackState.RELOCALISED)
    info: dict[str, Any] = {"map": m.name, "relocalised_tried": len(reloc.ok), "relocalised_ok": int(ok.sum())}
    # T_world_map: how the map's world sits in the trajectory's world.
    T_world_map: NDArray[np.float64] | None
    on_trusted = trusted[fr]
    T_map_world, agree = fit_T_map_nav(T_map_imu[on_trusted], T_world_imu[fr[on_trusted]], s)
    info["trusted_frames_agreeing"] = agree
    anchor = world_anchor
    if world_anchor == "tag" and m.world_anchor == "tag" and anchor_tag == m.anchor_tag:
        T_world_map = np.eye(4)  # both are the same table tag's frame
        if T_map_world is not None:
            info["map_vs_tag_m"] = float(np.linalg.norm(T_map_world[:3, 3]))
    elif world_anchor == "tag":
        T_world_map = None if T_map_world is None else geometry.se3_inverse(T_map_world)
    elif T_map_world is not None:
        # No table tag seen: the map's world becomes this trajectory's world.
        T_out = T_map_world[None] @ T_out
        T_world_map, anchor = np.eye(4), m.world_anchor
        info["world_from_map"] = True
    elif not trusted.any():
        # Tracking gave nothing usable: whatever relocalises is all there is, in the map's world.
        T_world_map, anchor = np.eye(4), m.world_anchor
        info["world_from_map"] = True
    else:
        T_world_map = None
    if T_world_map is None:
        info["reason_not_joined"] = "too few relocalised frames agree with the tracked trajectory"
        return Joined(T_out, st, q, anchor, info)
    joined_pieces = 0
    placed = np.zeros(n, bool)
    for piece in np.unique(seg[seg >= 0]):
        frames = np.flatnonzero(seg == piece)
        untrusted = frames[st[frames] == TrackState.LOST]
        if not len(untrusted):
            continue
        in_piece = np.isin(fr, frames)
        T_map_nav, _ = fit_T_map_nav(T_map_imu[in_piece], T_nav_imu[fr[in_piece]], s)
        if T_map_nav is None:
            continue
        T_out[untrusted] = (T_world_map @ T_map_nav)[None] @ T_nav_imu[untrusted]
        st[untrusted] = TrackState.RELOCALISED
        q[untrusted] = s.relocalised_quality
        placed[untrusted] = True
        joined_pieces += 1
    # Single relocalised frames still without a pose: their own relocalisation is their pose.
    alone = (st[fr] == TrackState.LOST) & ~placed[fr]
    T_out[fr[alone]] = T_world_map[None] @ T_map_imu[alone]
    st[fr[alone]] = TrackState.RELOCALISED
    q[fr[alone]] = s.relocalised_quality
    info.update({"joined_pieces": joined_pieces, "relocalised_single_frames": int(alone.sum())})
    return Joined(T_out, st, q, anchor, info)


def apply_map(
    session: Session,
    rig: str,
    name: str,
    traj: Trajectory,
    T_nav_imu: NDArray[np.float64],
    segment: NDArray[np.int32] | None,
    anchor_tag: int | None,
    every: int = 6,
) -> tuple[Trajectory, dict[str, Any]]:
    """The trajectory stage's use of a map: relocalise every ``every``-th frame (and every LOST
    one) of ``rig`` in map ``name`` and join (``join_through_map``)."""
    import time

    from slam.maps.relocalise import relocalise_session

    t0 = time.perf_counter()
    m = map_for(session, name)
    tried = set(range(0, len(traj), max(1, every))) | set(np.flatnonzero(traj.state == TrackState.LOST).tolist())
    reloc = relocalise_session(session, rig, m, frames=sorted(tried))
    if len(reloc.frame) and not np.array_equal(reloc.t_ns, traj.t_ns[reloc.frame]):
        raise MapError(f"{rig}'s camera times do not match its trajectory's; cannot use map {name}", session.path)
    j = join_through_map(
        traj.T_world_body, T_nav_imu, traj.state, traj.quality, segment, traj.world_anchor, anchor_tag, m, reloc
    )
    out = Trajectory(
        traj.t_ns, j.T_world_imu, j.state, j.quality, traj.position_sigma_m, body=traj.body,
        world_anchor=j.world_anchor,  # type: ignore[arg-type]
    )  # fmt: skip
    info = {
        **j.info,
        "map_s": time.perf_counter() - t0,
        "relocalise_ms": float(np.median(reloc.ms)) if len(reloc.ms) else 0.0,
    }
    return out, info
