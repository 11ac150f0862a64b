"""``democap demo``: the whole job on the virtual rig, in one command.

virtual rig -> recorded session -> trajectory -> Franka Panda joints -> flags -> LeRobot v3
dataset -> a printed summary and a PNG report. Every step is the real module the CLI and
GUI use; the demo only strings them together and compares against the rig's exact
ground truth. Each run writes a new session and a new dataset folder: nothing is clobbered.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capture.artifacts import load_trajectory, read_joints, session_flags, stage_dir
from capture.session import Session, reference_poses
from democap.home import Home
from democap.model import DEFAULT_POLICY, Flag, TrackState, Trajectory
from slam.metrics import ate, match_reference

log = logging.getLogger(__name__)

DEMO_ROBOT = "panda"


@dataclass
class DemoResult:
    session: Session
    dataset: Path
    report: Path
    timings: dict[str, float] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    episodes: int = 0
    frames: int = 0
    exported_episodes: int = 0


def trajectory_accuracy(traj: Trajectory, t_ref: NDArray[np.int64], T_ref: NDArray[np.float64]) -> dict[str, float]:
    """ATE after 4-DoF alignment, unaligned error (when the world is tag-anchored), bad 'ok' frames."""
    valid, T_at = match_reference(traj.t_ns, t_ref, T_ref)
    posed = valid & (traj.state != TrackState.LOST)
    out: dict[str, float] = {"frames_with_pose": float(np.mean(traj.state != TrackState.LOST))}
    if posed.sum() < 3:
        return out
    aligned = ate(traj.T_world_body[posed], T_at[posed], "4dof")
    out.update(ate_m=aligned.ate_rmse_m, rot_deg=aligned.rot_rmse_deg)
    raw = ate(traj.T_world_body[valid], T_at[valid], "none")
    ok = traj.state[valid] == TrackState.OK
    if traj.world_anchor == "tag":
        out["unaligned_m"] = float(np.sqrt(np.mean(raw.per_frame_m[traj.state[valid] != TrackState.LOST] ** 2)))
        out["ok_over_2cm"] = float(np.sum(raw.per_frame_m[ok] > 0.02))
    else:
        out["ok_over_2cm"] = float(np.sum(ate(traj.T_world_body[valid], T_at[valid], "4dof").per_frame_m[ok] > 0.02))
    return out


def run_demo(
    home: Home, seconds: float = 20.0, seed: int = 0, robot: str = DEMO_ROBOT, out_dir: Path | None = None
) -> DemoResult:
    from capture.virtual import record_virtual
    from democap.pipeline import process
    from export.pipeline import run as export_run

    timings: dict[str, float] = {}
    t = time.monotonic()
    session = record_virtual(home, seconds=seconds, seed=seed, motion="pick_place")
    timings["record"] = time.monotonic() - t

    t = time.monotonic()
    process(session, home, robot=robot, place_base=True)
    timings["process"] = time.monotonic() - t

    dataset = out_dir or home.exports / f"demo-{session.id}"
    if dataset.exists():
        dataset = dataset.with_name(f"{dataset.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    t = time.monotonic()
    exported = export_run([session], "lerobot", dataset, DEFAULT_POLICY, robot=robot)
    timings["export"] = time.monotonic() - t

    traj = load_trajectory(session)
    ref = reference_poses(session)
    accuracy = trajectory_accuracy(traj, *ref) if ref is not None else {}
    flags = session_flags(session)
    counts = Counter(f.kind for f in flags)
    report = dataset / "meta" / "democap" / "demo_report.png"
    write_report(session, traj, ref, flags, robot, report, accuracy)
    return DemoResult(
        session, dataset, report, timings, accuracy, dict(counts), len(session.episodes), len(traj), exported.episodes
    )


def write_report(
    session: Session,
    traj: Trajectory,
    ref: tuple[NDArray[np.int64], NDArray[np.float64]] | None,
    flags: list[Flag],
    robot: str,
    path: Path,
    accuracy: dict[str, float],
) -> Path:
    """One PNG: trajectory (top view and over time, with ground truth), joints against limits, flags."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = int(traj.t_ns[0])
    ts = (traj.t_ns - t0) * 1e-9
    fig = plt.figure(figsize=(14, 9.5))
    gs = fig.add_gridspec(3, 3, height_ratios=[1.2, 1.0, 0.55], hspace=0.45, wspace=0.3)
    ax_top = fig.add_subplot(gs[0, 0])
    ax_pos = fig.add_subplot(gs[0, 1:])
    ax_q = fig.add_subplot(gs[1, :])
    ax_f = fig.add_subplot(gs[2, :], sharex=ax_q)

    p = traj.positions
    if ref is not None:
        valid, T_at = match_reference(traj.t_ns, *ref)
        ax_top.plot(T_at[valid, 0, 3], T_at[valid, 1, 3], color="0.55", lw=2.5, label="ground truth")
    colours = {
        TrackState.OK: "#2a9d8f",
        TrackState.INTERPOLATED: "#f4a261",
        TrackState.RELOCALISED: "#e9c46a",
        TrackState.LOST: "#e63946",
    }
    for st, col in colours.items():
        sel = traj.state == st
        if sel.any():
            ax_top.scatter(p[sel, 0], p[sel, 1], s=5, color=col, label=f"{st.label} {sel.mean():.0%}", zorder=3)
    ax_top.set_aspect("equal", adjustable="datalim")
    ax_top.set_title(f"rig trajectory, top view (world: {traj.world_anchor})")
    ax_top.set_xlabel("x [m]")
    ax_top.set_ylabel("y [m]")
    ax_top.legend(fontsize=8)
    for i, (axis, col) in enumerate(zip("xyz", ("#264653", "#2a9d8f", "#e76f51"), strict=True)):
        ax_pos.plot(ts, p[:, i], color=col, lw=1.4, label=f"{axis} estimate")
        if ref is not None:
            ax_pos.plot((ref[0] - t0) * 1e-9, ref[1][:, i, 3], color=col, lw=0.9, ls="--")
    acc = ", ".join(f"{k} {v * 100:.2f} cm" if k.endswith("_m") else f"{k} {v:.2f}" for k, v in accuracy.items())
    ax_pos.set_title(f"position (dashed: ground truth)   {acc}", fontsize=9)
    ax_pos.set_xlim(ts[0], ts[-1])
    ax_pos.set_ylabel("m")
    ax_pos.legend(fontsize=8, ncol=3)
    ax_pos.grid(alpha=0.3)

    jpath = stage_dir(session, f"retarget/{robot}") / "rig0.parquet"
    if jpath.exists():
        jt = read_joints(jpath)
        lim = _joint_limits(robot)
        tq = (jt.t_ns - t0) * 1e-9
        for j, name in enumerate(jt.joint_names):
            line = ax_q.plot(tq, jt.q[:, j], lw=1.2, label=name)[0]
            if lim is not None and j < len(lim[0]):
                ax_q.axhline(lim[0][j], color=line.get_color(), lw=0.5, ls=":")
                ax_q.axhline(lim[1][j], color=line.get_color(), lw=0.5, ls=":")
        ax_q.legend(fontsize=7, ncol=len(jt.joint_names), loc="upper right")
    ax_q.set_title(f"{robot} joint positions (dotted: limits), flagged spans shaded")
    ax_q.set_ylabel("rad")
    ax_q.grid(alpha=0.3)

    kinds = sorted({f.kind for f in flags})
    sev_col = {"info": "#8ecae6", "warn": "#f4a261", "error": "#e63946"}
    for row, kind in enumerate(kinds):
        for f in (f for f in flags if f.kind == kind):
            a, b = (f.t0_ns - t0) * 1e-9, (f.t1_ns - t0) * 1e-9
            ax_f.barh(row, b - a, left=a, color=sev_col[f.severity], height=0.7)
            if f.kind.startswith("embodiment.") or f.severity == "error":
                ax_q.axvspan(a, b, color=sev_col[f.severity], alpha=0.12, lw=0)
    ax_f.set_yticks(range(len(kinds)))
    ax_f.set_yticklabels(kinds, fontsize=8)
    ax_f.set_xlabel("time [s]")
    ax_f.set_title("flags (orange: warn, red: error)" if kinds else "flags: none")
    ax_f.grid(alpha=0.3, axis="x")
    fig.suptitle(f"democap demo - session {session.id}", fontsize=13)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _joint_limits(robot: str) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    try:
        from ik.profile import find_profile
        from ik.robot import load_robot

        rob = load_robot(find_profile(robot))
        return rob.lower, rob.upper
    except Exception as e:  # noqa: BLE001 - the report still draws without limit lines
        log.debug("no joint limits for the report: %s", e)
        return None


def summary_lines(r: DemoResult) -> list[str]:
    lines = [
        f"session      {r.session.id}  ({r.frames} frames, {r.episodes} episode(s))",
        "timing       " + ", ".join(f"{k} {v:.1f} s" for k, v in r.timings.items()),
    ]
    a = r.accuracy
    if a:
        parts = [f"frames with a pose {a.get('frames_with_pose', 0):.1%}"]
        if "ate_m" in a:
            parts.append(f"ATE (4-DoF aligned) {a['ate_m'] * 100:.2f} cm / {a['rot_deg']:.2f} deg")
        if "unaligned_m" in a:
            parts.append(f"unaligned in the table frame {a['unaligned_m'] * 100:.2f} cm")
        if "ok_over_2cm" in a:
            parts.append(f"'ok' frames off by > 2 cm: {int(a['ok_over_2cm'])}")
        lines.append("trajectory   " + ", ".join(parts) + " (against the rig's ground truth)")
    if r.flags:
        lines.append("flags        " + ", ".join(f"{k} x{v}" for k, v in sorted(r.flags.items())))
    else:
        lines.append("flags        none")
    lines.append(f"dataset      {r.dataset}  (LeRobot v3.0, {r.exported_episodes} episode(s))")
    lines.append(f"report       {r.report}")
    return lines


def as_dict(r: DemoResult) -> dict[str, Any]:
    return {
        "session": r.session.id,
        "dataset": str(r.dataset),
        "report": str(r.report),
        "timings": r.timings,
        "accuracy": r.accuracy,
        "flags": r.flags,
        "episodes": r.episodes,
        "frames": r.frames,
    }
