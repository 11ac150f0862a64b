"""AprilTag (tag36h11) detection and planar PnP with a pose covariance, fisheye-aware.

Tag frame convention (used everywhere in democap's SLAM): origin at the tag centre,
x to the right and y up as the tag is printed (as ``cv2.aruco.generateImageMarker``
draws it), z out of the printed face. ``tag_size_m`` is the edge of the black square.
A tag lying face-up on the table therefore has z up, which is what ``world_anchor='tag'``
relies on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from democap.model import CameraModel
from slam.vio.measurements import TagObservation

log = logging.getLogger(__name__)


def tag_corners_tag(tag_size_m: float) -> NDArray[np.float64]:
    """(4, 3) corners in the tag frame, in the order pupil_apriltags reports them
    (image of an upright tag: top-right, top-left, bottom-left, bottom-right)."""
    h = tag_size_m / 2.0
    return np.array([[h, h, 0.0], [-h, h, 0.0], [-h, -h, 0.0], [h, -h, 0.0]])


@lru_cache(maxsize=2)
def _detector(threads: int = 1) -> Any:
    import pupil_apriltags

    # Decimating the quad search halves the cost; refine_edges fits the corners on full-resolution edges.
    return pupil_apriltags.Detector(families="tag36h11", nthreads=threads, quad_decimate=2.0, refine_edges=True)


def detect_tags(
    image_gray: NDArray[np.uint8],
    camera: CameraModel,
    tag_size_m: float,
    corner_sigma_px: float = 1.0,
    deskew: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> list[TagObservation]:
    """Tags visible in a grey image, each with its PnP pose and covariance.

    ``deskew(corners_px (4, 2), rays (4, 3)) -> rays``: moves a rolling-shutter camera's corner
    bearings to one instant (``slam.vio.frontend.Frontend._deskew``).
    """
    out = []
    for det in _detector().detect(image_gray):
        if det.hamming > 1:
            continue
        obs = tag_from_corners(
            int(det.tag_id), np.asarray(det.corners, dtype=np.float64), camera, tag_size_m, corner_sigma_px, deskew
        )
        if obs is not None:
            out.append(obs)
    return out


def _project_norm(T_cam_tag: NDArray[np.float64], corners_tag: NDArray[np.float64]) -> NDArray[np.float64]:
    p = corners_tag @ T_cam_tag[:3, :3].T + T_cam_tag[:3, 3]
    return p[:, :2] / p[:, 2:3]


def _se3_exp(xi: NDArray[np.float64]) -> NDArray[np.float64]:
    """gtsam's Pose3 retraction order: xi = (rotation, translation); small-step accurate."""
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(np.asarray(xi[:3], dtype=np.float64))[0]
    T[:3, 3] = xi[3:]
    return T


def tag_from_corners(
    tag_id: int,
    corners_px: NDArray[np.float64],
    camera: CameraModel,
    tag_size_m: float,
    corner_sigma_px: float = 1.0,
    deskew: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> TagObservation | None:
    """Planar PnP (IPPE) on undistorted corners; None when the corners are degenerate or behind."""
    rays = camera.unproject(corners_px)
    if deskew is not None:
        rays = deskew(corners_px, rays)
    if np.any(rays[:, 2] < 0.05):
        return None
    xy = rays[:, :2] / rays[:, 2:3]
    obj = tag_corners_tag(tag_size_m)
    ippe = [1, 0, 3, 2]  # SOLVEPNP_IPPE_SQUARE wants top-left, top-right, bottom-right, bottom-left
    try:
        n, rvecs, tvecs, errs = cv2.solvePnPGeneric(
            obj[ippe], xy[ippe].reshape(-1, 1, 2), np.eye(3), None, flags=cv2.SOLVEPNP_IPPE_SQUARE
        )
    except cv2.error:
        return None
    if n == 0:
        return None
    errs = np.asarray(errs, dtype=np.float64).ravel()
    order = np.argsort(errs)
    best = int(order[0])
    ambiguity = float(errs[best] / errs[order[1]]) if n > 1 and errs[order[1]] > 0 else 0.0
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(rvecs[best])[0]
    T[:3, 3] = np.asarray(tvecs[best]).ravel()
    if T[2, 3] <= 0:
        return None
    # Covariance from the corner Jacobian: d(normalised corners)/d(right perturbation of T).
    f_local = local_focal(camera, corners_px)
    sigma_xy = corner_sigma_px / f_local  # (4,) per corner
    base = _project_norm(T, obj)
    J = np.zeros((8, 6))
    eps = 1e-6
    for k in range(6):
        xi = np.zeros(6)
        xi[k] = eps
        J[:, k] = ((_project_norm(T @ _se3_exp(xi), obj) - base) / eps).ravel()
    W = np.repeat(1.0 / sigma_xy**2, 2)
    info = J.T @ (W[:, None] * J)
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return None
    rms_px = float(np.sqrt(np.mean(np.sum(((base - xy) * f_local[:, None]) ** 2, axis=1))))
    return TagObservation(tag_id, T, 0.5 * (cov + cov.T), rms_px, ambiguity)


def local_focal(
    camera: CameraModel, pixels: NDArray[np.float64], rays: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Pixels per unit of normalised coordinate at each pixel (fisheye images stretch less at the edge).

    rays: the pixels' unit bearings when already known (saves the iterative unprojection)."""
    rays = camera.unproject(pixels) if rays is None else rays
    xy = rays[:, :2] / rays[:, 2:3]
    step = 1e-4
    shifted = np.concatenate([xy + [step, 0.0], np.ones((len(xy), 1))], axis=1)
    du = np.linalg.norm(camera.project(shifted) - pixels, axis=1) / step
    return np.where(np.isfinite(du) & (du > 1e-6), du, camera.fx)
