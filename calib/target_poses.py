"""Camera poses against a static target from a sequence of frames (detection + PnP)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calib.intrinsics import reprojection_residuals, solve_pnp
from calib.targets import AprilGrid, Detection, Target
from democap import geometry
from democap.model import CameraModel

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class TargetTrack:
    """t_ns: (N,) frame stamps with a usable detection; T_target_cam: (N, 4, 4); rms_px: (N,)."""

    t_ns: NDArray[np.int64]
    T_target_cam: NDArray[np.float64]
    rms_px: NDArray[np.float64]
    detections: list[Detection]
    n_frames: int

    @property
    def anchor_cam(self) -> NDArray[np.float64]:
        """Median (3,) over frames of the observed target points' centroid in the camera frame."""
        if not self.detections:
            return np.zeros(3)
        c = [geometry.transform_points(geometry.se3_inverse(T), d.points_target).mean(0)
             for T, d in zip(self.T_target_cam, self.detections, strict=True)]  # fmt: skip
        return np.median(np.array(c), axis=0)


def track_target(frames: Iterable[tuple[int, NDArray[Any]]], target: Target, camera: CameraModel,
                 max_rms_px: float = 2.0, min_points: int | None = None, fast: bool = False
                 ) -> TargetTrack:  # fmt: skip
    """Detect the target in each ``(t_ns, image)`` and solve its pose; frames whose fit is worse
    than ``max_rms_px`` (motion blur, a wrong corner) are dropped. ``fast``: AprilGrids try ArUco3
    first (see ``AprilGrid.detect``), for long sequences where the board fills the view."""
    ts, poses, rms, dets = [], [], [], []
    n = 0
    need = min_points or target.min_points()
    for t_ns, img in frames:
        n += 1
        d = target.detect(img, fast=True) if fast and isinstance(target, AprilGrid) else target.detect(img)
        if d is None or len(d) < need:
            continue
        ok, T_cam_target = solve_pnp(camera, d)
        if not ok:
            continue
        r = float(np.sqrt(np.nanmean(np.sum(reprojection_residuals(camera, d, T_cam_target) ** 2, 1))))
        if not r <= max_rms_px:
            continue
        ts.append(int(t_ns))
        poses.append(geometry.se3_inverse(T_cam_target))
        rms.append(r)
        dets.append(d)
    log.info("target found in %d of %d frames", len(ts), n)
    return TargetTrack(np.asarray(ts, np.int64), np.asarray(poses).reshape(-1, 4, 4), np.asarray(rms), dets, n)
