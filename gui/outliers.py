"""Outlier ranking of episodes for review: jerky, too still, or heavily flagged demos first.

Pure functions over a session's trajectory and flags (what the stages already wrote).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from democap.model import Episode, Flag

#: Below this speed (m/s) the rig counts as still.
STILL_SPEED_M_S = 0.01


@dataclass(frozen=True)
class EpisodeMetrics:
    session: str
    episode: int
    jerk_m_s3: float  # median |third derivative of position|
    still_share: float  # share of time below STILL_SPEED_M_S
    n_flags: int
    n_error_flags: int
    score: float = 0.0  # higher = more unusual (sum of robust z-scores)


def motion_metrics(t_ns: NDArray[np.int64], p_world: NDArray[np.float64]) -> tuple[float, float]:
    """(median jerk m/s^3, share of time still) of positions p_world (N, 3) at t_ns (N,)."""
    if len(t_ns) < 5:
        return float("nan"), float("nan")
    t = (t_ns - t_ns[0]) * 1e-9
    v = np.gradient(p_world, t, axis=0)
    a = np.gradient(v, t, axis=0)
    j = np.gradient(a, t, axis=0)
    speed = np.linalg.norm(v, axis=1)
    return float(np.median(np.linalg.norm(j, axis=1))), float(np.mean(speed < STILL_SPEED_M_S))


def episode_metrics(
    session_id: str,
    episode: Episode,
    t_ns: NDArray[np.int64] | None,
    p_world: NDArray[np.float64] | None,
    flags: list[Flag],
) -> EpisodeMetrics:
    inside = [f for f in flags if f.t1_ns > episode.t0_ns and f.t0_ns < episode.t1_ns]
    jerk = still = float("nan")
    if t_ns is not None and p_world is not None:
        sel = (t_ns >= episode.t0_ns) & (t_ns < episode.t1_ns)
        jerk, still = motion_metrics(t_ns[sel], p_world[sel])
    return EpisodeMetrics(
        session_id, episode.index, jerk, still, len(inside), sum(f.severity == "error" for f in inside)
    )


def _robust_z(x: NDArray[np.float64]) -> NDArray[np.float64]:
    good = np.isfinite(x)
    z = np.zeros(len(x))
    if good.sum() < 2:
        return z
    med = np.median(x[good])
    mad = np.median(np.abs(x[good] - med)) * 1.4826
    scale = mad if mad > 1e-12 else (np.std(x[good]) or 1.0)
    z[good] = np.abs(x[good] - med) / scale
    return z


def rank(metrics: list[EpisodeMetrics]) -> list[EpisodeMetrics]:
    """Metrics with ``score`` set, most unusual first. Flag counts weigh as they are (no z-score)."""
    if not metrics:
        return []
    jerk = np.array([m.jerk_m_s3 for m in metrics])
    still = np.array([m.still_share for m in metrics])
    scores = _robust_z(jerk) + _robust_z(still) + np.array([m.n_flags + 2 * m.n_error_flags for m in metrics])
    out = [
        EpisodeMetrics(m.session, m.episode, m.jerk_m_s3, m.still_share, m.n_flags, m.n_error_flags, float(s))
        for m, s in zip(metrics, scores, strict=True)
    ]
    return sorted(out, key=lambda m: -m.score)
