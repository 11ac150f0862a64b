"""PNG plots of calibration results: reprojection residuals and image coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from calib.intrinsics import IntrinsicsResult


def _plt():  # noqa: ANN202 - matplotlib.pyplot, imported lazily
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_residuals(result: IntrinsicsResult, path: str | Path) -> Path:
    """Scatter of all residuals (px) and per-view RMS bars (rejected views in grey)."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    for v in result.views:
        if v.residuals_px is None:
            continue
        r = v.residuals_px
        a.scatter(r[:, 0], r[:, 1], s=3, alpha=0.6 if v.used else 0.2, color=None if v.used else "0.6")
    lim = max(1.0, 3 * result.rms_px)
    a.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="x residual [px]", ylabel="y residual [px]",
          title=f"{result.camera.model}: RMS {result.rms_px:.3f} px")  # fmt: skip
    a.grid(alpha=0.3)
    names = [v.name for v in result.views]
    b.bar(range(len(names)), [v.rms_px for v in result.views],
          color=["C0" if v.used else "0.6" for v in result.views])  # fmt: skip
    b.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    b.set(ylabel="RMS [px]", title="per view (grey: rejected)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_coverage(result: IntrinsicsResult, path: str | Path) -> Path:
    """The image with every used corner and the coverage grid shaded by corner count."""
    plt = _plt()
    w, h = result.camera.width, result.camera.height
    fig, ax = plt.subplots(figsize=(7, 7 * h / w + 0.6))
    cov = result.coverage
    ax.imshow(np.log1p(cov.counts), extent=(0, w, h, 0), cmap="Greens", alpha=0.5, interpolation="nearest")
    for v in result.used_views:
        if v.corners_px is not None:
            ax.plot(v.corners_px[:, 0], v.corners_px[:, 1], ".", ms=2)
    ax.set(xlim=(0, w), ylim=(h, 0), aspect="equal",
           title=f"coverage {cov.fraction:.0%} of cells, {cov.corners_fraction:.0%} of image corners"
           + (" - POOR" if cov.poor else ""))  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
