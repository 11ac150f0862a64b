"""``democap map check``: does relocalisation work across the workspace, before recording?

A short walk-through session over the workspace is relocalised frame by frame in the map.
Each tried frame is placed on a grid of table cells by the point its camera looks at on the
table (z = 0 of a tag-anchored world; the camera's own x, y otherwise), using the walk-
through's trajectory brought into the map's world. A cell relocalises when most of its frames
do; the verdict names the cells where relocalisation fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capture.artifacts import load_trajectory, trajectory_path
from capture.session import Session
from democap.model import TrackState
from slam.maps.join import fit_T_map_nav
from slam.maps.relocalise import SessionRelocalisation, relocalise_session
from slam.maps.store import Map

log = logging.getLogger(__name__)

RELOCALISES, FAILS, NOT_VISITED = 1, 0, -1


@dataclass(frozen=True, eq=False)
class CheckResult:
    """grid (ny, nx) int8 of RELOCALISES / FAILS / NOT_VISITED over cells ``x_edges`` x ``y_edges`` (m)."""

    map_name: str
    session: str
    tried: int
    relocalised: int
    placed: int
    x_edges: NDArray[np.float64]
    y_edges: NDArray[np.float64]
    grid: NDArray[np.int8]
    cell_ok: NDArray[np.int64]
    cell_total: NDArray[np.int64]
    works: bool
    verdict: str
    on_table: bool
    points_xy: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))
    points_ok: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    map_xy: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))
    ms_per_frame: float = 0.0

    @property
    def share(self) -> float:
        return self.relocalised / self.tried if self.tried else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "map": self.map_name,
            "session": self.session,
            "tried": self.tried,
            "relocalised": self.relocalised,
            "share": self.share,
            "placed": self.placed,
            "works": self.works,
            "verdict": self.verdict,
            "cell_m": float(self.x_edges[1] - self.x_edges[0]) if len(self.x_edges) > 1 else None,
            "x_edges": self.x_edges.tolist(),
            "y_edges": self.y_edges.tolist(),
            "grid": self.grid.tolist(),
            "ms_per_frame": self.ms_per_frame,
        }


def workspace_xy(T_world_cam: NDArray[np.float64], on_table: bool, max_range_m: float = 3.0) -> NDArray[np.float64]:
    """(N, 2): where each camera's optical axis meets the table plane z = 0, else its own x, y."""
    c = T_world_cam[:, :3, 3]
    z_axis = T_world_cam[:, :3, 2]
    xy = c[:, :2].copy()
    if on_table:
        with np.errstate(divide="ignore", invalid="ignore"):
            s = -c[:, 2] / z_axis[:, 2]
        hit = np.isfinite(s) & (s > 0) & (s < max_range_m)
        xy[hit] = (c[hit] + s[hit, None] * z_axis[hit])[:, :2]
    return xy


def check_map(
    session: Session,
    m: Map,
    rig: str = "rig0",
    step: int = 3,
    cell_m: float = 0.1,
    min_share: float = 0.8,
    min_cell_share: float = 0.5,
    min_cell_frames: int = 3,
    reloc: SessionRelocalisation | None = None,
) -> CheckResult:
    """Relocalise every ``step``-th frame of the walk-through ``session`` and grade the workspace."""
    if reloc is None:
        reloc = relocalise_session(session, rig, m, step=step)
    T_map_cam = _placed_cameras(session, rig, m, reloc)
    placed = np.isfinite(T_map_cam[:, 0, 3])
    on_table = m.world_anchor == "tag"
    xy = workspace_xy(np.where(placed[:, None, None], T_map_cam, np.eye(4)), on_table)[placed]
    ok = reloc.ok[placed]
    map_xy = workspace_xy(m.T_world_cam, on_table)
    pts = np.vstack([xy, map_xy]) if len(xy) else map_xy
    lo = np.floor(pts.min(0) / cell_m) * cell_m
    hi = np.ceil(pts.max(0) / cell_m) * cell_m + 1e-9
    x_edges = np.arange(lo[0], hi[0] + cell_m / 2, cell_m)
    y_edges = np.arange(lo[1], hi[1] + cell_m / 2, cell_m)
    nx, ny = max(len(x_edges) - 1, 1), max(len(y_edges) - 1, 1)
    ix = np.clip(np.searchsorted(x_edges, xy[:, 0], side="right") - 1, 0, nx - 1)
    iy = np.clip(np.searchsorted(y_edges, xy[:, 1], side="right") - 1, 0, ny - 1)
    total = np.zeros((ny, nx), np.int64)
    good = np.zeros((ny, nx), np.int64)
    np.add.at(total, (iy, ix), 1)
    np.add.at(good, (iy, ix), ok.astype(np.int64))
    grid = np.full((ny, nx), NOT_VISITED, np.int8)
    visited = total > 0
    grid[visited] = np.where(good[visited] >= min_cell_share * total[visited], RELOCALISES, FAILS)
    tried, n_ok = len(reloc.ok), int(reloc.ok.sum())
    failing = [
        (int(j), int(i)) for j, i in zip(*np.nonzero(grid == FAILS), strict=True) if total[j, i] >= min_cell_frames
    ]
    share = n_ok / tried if tried else 0.0
    works = tried > 0 and share >= min_share and not failing
    where = "table" if on_table else "camera"
    if tried == 0:
        verdict = f"no frame of {session.id} to check"
    elif n_ok == 0:
        verdict = f"relocalisation fails everywhere: no frame of {session.id} relocalises in map {m.name}"
    elif works:
        verdict = "relocalisation works across the workspace"
    else:
        parts = []
        if share < min_share:
            parts.append(f"only {share:.0%} of frames relocalise (needs {min_share:.0%})")
        worst = sorted(failing, key=lambda c: good[c] / total[c])[:6]
        if worst:
            cells = "; ".join(
                f"x {x_edges[i]:+.2f}..{x_edges[i + 1]:+.2f} m, y {y_edges[j]:+.2f}..{y_edges[j + 1]:+.2f} m "
                f"({good[j, i]}/{total[j, i]})"
                for j, i in worst
            )
            parts.append(f"fails at {where} cells {cells}")
        verdict = "relocalisation does not work across the workspace: " + "; ".join(parts)
    return CheckResult(
        m.name, session.id, tried, n_ok, int(placed.sum()), x_edges, y_edges, grid, good, total, works, verdict,
        on_table, xy, ok, map_xy, float(np.median(reloc.ms)) if len(reloc.ms) else 0.0,
    )  # fmt: skip


def _placed_cameras(session: Session, rig: str, m: Map, reloc: SessionRelocalisation) -> NDArray[np.float64]:
    """T_map_cam (F, 4, 4) of every tried frame: relocalised ones as relocalised, the others from
    the session's own trajectory brought into the map's world (NaN where that is not possible)."""
    out = np.full((len(reloc.ok), 4, 4), np.nan)
    out[reloc.ok] = reloc.T_map_cam[reloc.ok]
    if not trajectory_path(session, rig).exists():
        log.info("%s has no trajectory: only relocalised frames are placed on the grid", session.id)
        return out
    traj = load_trajectory(session, rig)
    T_world_cam = traj.at(reloc.t_ns) @ reloc.T_imu_cam
    tracked = traj.state[np.clip(np.searchsorted(traj.t_ns, reloc.t_ns), 0, len(traj) - 1)] != TrackState.LOST
    use = reloc.ok & tracked
    T_map_world, _ = fit_T_map_nav(reloc.T_map_imu[use], T_world_cam[use] @ np.linalg.inv(reloc.T_imu_cam))
    if T_map_world is None:
        return out
    fill = ~reloc.ok & tracked
    out[fill] = T_map_world[None] @ T_world_cam[fill]
    return out


def plot_check(result: CheckResult, path: Path) -> Path:
    """PNG: the cell grid (green relocalises, red fails, grey not visited) with the frames on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = ListedColormap(["#dddddd", "#e63946", "#2a9d8f"])
    ax.pcolormesh(result.x_edges, result.y_edges, result.grid + 1, cmap=cmap, vmin=0, vmax=2, alpha=0.55)
    for j in range(result.grid.shape[0]):
        for i in range(result.grid.shape[1]):
            if result.cell_total[j, i]:
                ax.text(
                    0.5 * (result.x_edges[i] + result.x_edges[i + 1]),
                    0.5 * (result.y_edges[j] + result.y_edges[j + 1]),
                    f"{result.cell_ok[j, i]}/{result.cell_total[j, i]}",
                    ha="center", va="center", fontsize=7,
                )  # fmt: skip
    if len(result.map_xy):
        ax.scatter(result.map_xy[:, 0], result.map_xy[:, 1], s=6, c="k", marker="x", label="map keyframes")
    p, ok = result.points_xy, result.points_ok
    if len(p):
        ax.scatter(p[ok, 0], p[ok, 1], s=5, c="#1d3557", label="relocalised")
        ax.scatter(p[~ok, 0], p[~ok, 1], s=9, c="#e63946", marker="v", label="failed")
    ax.set_aspect("equal")
    what = "table point looked at" if result.on_table else "camera position"
    ax.set_xlabel(f"x (m), {what}")
    ax.set_ylabel("y (m)")
    ax.set_title(f"map {result.map_name} / {result.session}: {result.share:.0%} relocalised", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    fig.text(0.01, 0.01, result.verdict[:140], fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
