"""Pictures of trajectories: top view and height coloured by tracking state."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from democap.model import TrackState, Trajectory  # noqa: E402

STATE_COLOURS = {
    TrackState.OK: "#2a9d8f",
    TrackState.RELOCALISED: "#e9c46a",
    TrackState.INTERPOLATED: "#f4a261",
    TrackState.LOST: "#e63946",
}


def plot_trajectory(
    traj: Trajectory,
    path: Path,
    title: str = "",
    reference: tuple[NDArray[np.int64], NDArray[np.float64]] | None = None,
) -> Path:
    """PNG: top view (x, y) and position over time, coloured by state; optional reference (t_ns, p (N, 3))."""
    fig, (ax_top, ax_t) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [1, 1.6]})
    p = traj.positions
    t = (traj.t_ns - traj.t_ns[0]) * 1e-9 if len(traj) else np.zeros(0)
    if reference is not None:
        ax_top.plot(reference[1][:, 0], reference[1][:, 1], color="0.6", lw=1, label="ground truth")
    for st, col in STATE_COLOURS.items():
        sel = traj.state == st
        if sel.any():
            ax_top.scatter(p[sel, 0], p[sel, 1], s=4, color=col, label=f"{st.label} ({sel.mean():.0%})")
    ax_top.set_aspect("equal", adjustable="datalim")
    ax_top.set_xlabel("x [m]")
    ax_top.set_ylabel("y [m]")
    ax_top.set_title(f"top view, world anchor: {traj.world_anchor}")
    ax_top.legend(fontsize=8, loc="best")
    for i, (axis, col) in enumerate(zip("xyz", ("#264653", "#2a9d8f", "#e76f51"), strict=True)):
        ax_t.plot(t, p[:, i], color=col, lw=1.2, label=axis)
        if reference is not None:
            ax_t.plot((reference[0] - traj.t_ns[0]) * 1e-9, reference[1][:, i], color=col, lw=0.8, ls="--")
    bad = traj.state != TrackState.OK
    if bad.any():
        ymin, ymax = ax_t.get_ylim()
        ax_t.fill_between(t, ymin, ymax, where=bad, color="#e63946", alpha=0.12, step="mid", label="not ok")
        ax_t.set_ylim(ymin, ymax)
    ax_t.set_xlabel("time [s]")
    ax_t.set_ylabel("position [m]")
    ax_t.legend(fontsize=8, ncol=4, loc="upper right")
    ax_t.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
