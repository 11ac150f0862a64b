"""Plots of a retargeted trajectory: each joint against its limits, flagged spans shaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from capture.artifacts import JointTrajectory
from democap.model import Flag
from ik.robot import Robot

_KIND_COLOURS = {
    "embodiment.unreachable": "tab:red",
    "embodiment.joint_limit": "tab:orange",
    "embodiment.joint_velocity": "tab:purple",
    "embodiment.joint_acceleration": "tab:pink",
    "embodiment.self_collision": "tab:brown",
    "embodiment.table_collision": "tab:olive",
    "embodiment.singularity": "tab:cyan",
    "embodiment.gripper_range": "tab:gray",
}


def plot_joints(path: Path, jt: JointTrajectory, robot: Robot, flags: Sequence[Flag]) -> Path:
    """Write a PNG: one panel per joint (q, limits, flagged spans) plus the gripper width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(jt.joint_names)
    t0 = int(jt.t_ns[0]) if len(jt.t_ns) else 0
    t = (jt.t_ns - t0) * 1e-9
    fig, axes = plt.subplots(n + 1, 1, figsize=(10, 1.4 * (n + 1) + 0.6), sharex=True)
    seen: set[str] = set()
    for ax in axes:
        for f in flags:
            label = f.kind.split(".", 1)[1] if f.kind not in seen else None
            seen.add(f.kind)
            ax.axvspan(
                (f.t0_ns - t0) * 1e-9,
                (f.t1_ns - t0) * 1e-9,
                color=_KIND_COLOURS.get(f.kind, "k"),
                alpha=0.25,
                lw=0,
                label=label if ax is axes[0] else None,
            )
    for j, name in enumerate(jt.joint_names):
        ax = axes[j]
        ax.plot(t, jt.q[:, j], "k-", lw=1)
        ax.axhline(robot.lower[j], color="r", ls="--", lw=0.8)
        ax.axhline(robot.upper[j], color="r", ls="--", lw=0.8)
        ax.set_ylabel(f"{name}\n[rad]", fontsize=7)
    ax = axes[n]
    ax.plot(t, jt.gripper_m * 1e3, "k-", lw=1)
    ax.axhline(robot.profile.gripper_min_m * 1e3, color="r", ls="--", lw=0.8)
    ax.axhline(robot.profile.gripper_max_m * 1e3, color="r", ls="--", lw=0.8)
    ax.set_ylabel("gripper\n[mm]", fontsize=7)
    ax.set_xlabel("time [s]")
    if seen:
        axes[0].legend(loc="upper right", fontsize=6, ncol=4)
    axes[0].set_title(f"{jt.robot}: joints against limits, embodiment flags shaded")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
