"""Per-episode quality summary: is this demonstration usable, worth a check, or to redo?

Computed from what the stages have written (trajectory, flags of every stage) and the
operator's decisions: no decoding, so it is ready within a second of the flags.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from capture.artifacts import read_trajectory as _read_trajectory
from capture.artifacts import session_flags, trajectory_path
from capture.session import Session
from democap.model import SEVERITIES, Episode, Flag, TrackState, review_of

#: An episode whose share of time under error flags exceeds this must be redone.
REDO_ERROR_SHARE = 0.2
#: Tracking must be OK on at least this share of an episode's poses.
MIN_TRACKING_OK = 0.8
#: Warnings over more than this share of an episode ask for a look.
CHECK_WARN_SHARE = 0.1


def _covered_share(flags: list[Flag], t0: int, t1: int) -> float:
    """Share of [t0, t1) covered by the union of the flags' spans."""
    spans = sorted((max(f.t0_ns, t0), min(f.t1_ns, t1)) for f in flags if f.t1_ns > t0 and f.t0_ns < t1)
    covered, end = 0, t0
    for a, b in spans:
        a = max(a, end)
        if b > a:
            covered += b - a
            end = b
    return covered / max(t1 - t0, 1)


def episode_summary(session: Session, episode: Episode | int, flags: list[Flag] | None = None) -> dict[str, Any]:
    """Tracking share OK, flags by kind and a verdict (usable / check / redo) with reasons.

    ``flags``: pass them when already loaded (defaults to every stage's flags of the session).
    """
    ep = episode if isinstance(episode, Episode) else next(e for e in session.episodes if e.index == episode)
    all_flags = session_flags(session) if flags is None else flags
    t0, t1 = ep.t0_ns, ep.t1_ns
    inside = [f for f in all_flags if f.t1_ns > t0 and f.t0_ns < t1]
    by_kind: dict[str, dict[str, Any]] = {}
    for f in inside:
        k = by_kind.setdefault(f.kind, {"count": 0, "seconds": 0.0, "worst": "info"})
        k["count"] += 1
        k["seconds"] += (min(f.t1_ns, t1) - max(f.t0_ns, t0)) * 1e-9
        if SEVERITIES.index(f.severity) > SEVERITIES.index(k["worst"]):
            k["worst"] = f.severity
    tracking: dict[str, float] = {}
    for rig in session.rigs or ["rig0"]:
        p = trajectory_path(session, rig)
        if p.exists():
            traj = _read_trajectory(p)
            sel = (traj.t_ns >= t0) & (traj.t_ns < t1)
            tracking[rig] = float(np.mean(traj.state[sel] == TrackState.OK)) if sel.any() else 0.0
    review = review_of(session.decisions(), ep.index)
    reasons: list[str] = []
    verdict = "usable"
    error_share = _covered_share([f for f in inside if f.severity == "error"], t0, t1)
    warn_share = _covered_share([f for f in inside if f.severity == "warn"], t0, t1)
    if review.status == "rejected":
        verdict = "redo"
        reasons.append("rejected by the operator")
    for rig, share in tracking.items():
        if share < MIN_TRACKING_OK:
            verdict = "redo"
            reasons.append(f"{rig}: tracking OK on only {share:.0%} of poses (need {MIN_TRACKING_OK:.0%})")
    error_kinds = ", ".join(sorted({f.kind for f in inside if f.severity == "error"}))
    if error_share > REDO_ERROR_SHARE:
        verdict = "redo"
        reasons.append(f"errors {_over(error_share)}: {error_kinds}")
    if verdict != "redo":
        if error_share > 0:
            verdict = "check"
            reasons.append(f"errors {_over(error_share)}: {error_kinds}")
        if warn_share > CHECK_WARN_SHARE:
            verdict = "check"
            kinds = sorted({f.kind for f in inside if f.severity == "warn"})
            reasons.append(f"warnings {_over(warn_share)}: {', '.join(kinds)}")
        if not tracking:
            verdict = "check"
            reasons.append("no trajectory yet")
    return {
        "session": session.id,
        "episode": ep.index,
        "task": ep.task,
        "duration_s": ep.duration_s,
        "tracking_ok_share": tracking,
        "flags_by_kind": by_kind,
        "error_share": error_share,
        "warn_share": warn_share,
        "review": review.status,
        "notes": list(review.notes),
        "verdict": verdict,
        "reasons": reasons,
    }


def _over(x: float) -> str:
    """Where flags of a severity cover the episode, as people read it."""
    if x >= 0.995:
        return "throughout the episode"
    return "on under 1% of the episode" if x < 0.01 else f"on {x:.0%} of the episode"
