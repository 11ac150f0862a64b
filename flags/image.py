"""Per-frame image quality: sharpness (motion blur) and exposure.

Pure functions on one image. The thresholds live in ``ImageThresholds`` and were
chosen on the generated labelled set in ``flags/synthetic.py`` (see ``bench/bench_flags.py``).
Blur is judged both absolutely and relative to the sequence's own median sharpness,
because an untextured scene is "smooth" without being blurred.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

#: Frames are analysed at this width: enough to see 10-px motion blur at 640 px, cheap to compute.
ANALYSIS_WIDTH = 320


@dataclass(frozen=True)
class FrameMetrics:
    """Image statistics of one frame (computed on a grey image scaled to ``ANALYSIS_WIDTH``).

    sharpness: the smallest, over 4 directions (0, 45, 90, 135 deg), variance of the
    directional second difference. Motion blur wipes out detail along the motion, so
    the weakest direction drops sharply while sensor noise keeps a clean frame's floor up.
    mean: mean grey level 0..255. dark_share / bright_share: share of pixels <= 16 / >= 250.
    p95 / p05: grey-level percentiles.
    """

    sharpness: float
    mean: float
    dark_share: float
    bright_share: float
    p05: float
    p95: float


@dataclass(frozen=True)
class ImageThresholds:
    """When a frame counts as blurred, under- or overexposed."""

    blur_abs_sharpness: float = 10.0  # below this a frame is blurred whatever its neighbours
    blur_rel_sharpness: float = 0.4  # ... or below this share of the sequence's median sharpness
    dark_p95: float = 60.0  # 95 % of pixels darker than this: underexposed
    dark_mean: float = 35.0
    bright_share: float = 0.30  # more than this share of pixels clipped: overexposed
    bright_p05: float = 200.0  # or even the darkest 5 % are brighter than this


def to_gray(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Grey (H, W) uint8 of a grey or RGB image."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def analysis_gray(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Grey image scaled down to ``ANALYSIS_WIDTH`` (area interpolation keeps blur honest)."""
    g = to_gray(image)
    h, w = g.shape
    if w > ANALYSIS_WIDTH:
        g = cv2.resize(g, (ANALYSIS_WIDTH, max(1, round(h * ANALYSIS_WIDTH / w))), interpolation=cv2.INTER_AREA)
    return g


_DIRECTIONAL_KERNELS = tuple(
    np.array(k, np.float32)
    for k in (
        [[0, 0, 0], [-1, 2, -1], [0, 0, 0]],
        [[0, -1, 0], [0, 2, 0], [0, -1, 0]],
        [[-1, 0, 0], [0, 2, 0], [0, 0, -1]],
        [[0, 0, -1], [0, 2, 0], [-1, 0, 0]],
    )
)


def directional_sharpness(gray: NDArray[np.uint8]) -> float:
    """min over 4 directions of the variance of the second difference along that direction."""
    g = gray.astype(np.float32)
    return float(min(cv2.filter2D(g, -1, k).var() for k in _DIRECTIONAL_KERNELS))


def frame_metrics(image: NDArray[np.uint8]) -> FrameMetrics:
    """Sharpness and exposure statistics of one grey (H, W) or RGB (H, W, 3) uint8 image."""
    g = analysis_gray(image)
    hist = np.bincount(g.ravel(), minlength=256).astype(np.float64)
    cdf = np.cumsum(hist) / max(hist.sum(), 1.0)
    n = max(g.size, 1)
    return FrameMetrics(
        sharpness=directional_sharpness(g),
        mean=float(g.mean()),
        dark_share=float(hist[:17].sum() / n),
        bright_share=float(hist[250:].sum() / n),
        p05=float(np.searchsorted(cdf, 0.05)),
        p95=float(np.searchsorted(cdf, 0.95)),
    )


def is_underexposed(m: FrameMetrics, th: ImageThresholds = ImageThresholds()) -> bool:
    return m.p95 < th.dark_p95 or m.mean < th.dark_mean


def is_overexposed(m: FrameMetrics, th: ImageThresholds = ImageThresholds()) -> bool:
    return m.bright_share > th.bright_share or m.p05 > th.bright_p05


def blurred_mask(
    sharpness: NDArray[np.float64],
    th: ImageThresholds = ImageThresholds(),
    exposure_bad: NDArray[np.bool_] | None = None,
    window: int = 121,
) -> NDArray[np.bool_]:
    """Which frames of a sequence are motion-blurred, from their sharpness (N,).

    The reference is the running upper quartile of the well-exposed frames' sharpness within
    ``window`` frames (scenes change over a session; the quartile stays put even when half
    the frames nearby are blurred). A dark frame is also smooth, but it is flagged as
    dark, not as blurred.
    """
    s = np.asarray(sharpness, dtype=np.float64)
    ok = ~exposure_bad if exposure_bad is not None else np.ones(len(s), bool)
    if not len(s):
        return np.zeros(0, bool)
    good = np.flatnonzero(ok)
    if len(good) == 0:
        return np.zeros(len(s), bool)
    ref = np.empty(len(s))
    half = window // 2
    for i in range(len(s)):
        lo, hi = np.searchsorted(good, [i - half, i + half + 1])
        near = good[lo:hi] if hi > lo else good
        ref[i] = np.percentile(s[near], 75)
    blurred = (s < th.blur_abs_sharpness) | (s < th.blur_rel_sharpness * ref)
    return blurred & ok
