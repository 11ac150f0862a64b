"""ORB features for maps: detected on the raw image, bearings from the camera model.

Descriptors are computed on the raw (possibly fisheye) image rather than on an undistorted
one: a 31-pixel patch is distorted nearly affinely, which ORB tolerates, while undistorting
a fisheye image resamples it and throws away its periphery. Geometry never uses the raw
pixels directly: every keypoint becomes a unit bearing through ``CameraModel.unproject``.
Pixels further than ``max_angle_deg`` off the optical axis are masked out (as in the VIO
front end), so every bearing has z > 0 and a normalised-plane coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from democap.model import CameraModel


@dataclass(frozen=True)
class OrbSettings:
    n_features: int = 1500
    scale_factor: float = 1.2
    n_levels: int = 8
    fast_threshold: int = 10
    max_angle_deg: float = 75.0


@dataclass(frozen=True, eq=False)
class Features:
    """px (N, 2) raw pixels, rays_cam (N, 3) unit bearings, descriptors (N, 32) uint8."""

    px: NDArray[np.float64]
    rays_cam: NDArray[np.float64]
    descriptors: NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.px)


@lru_cache(maxsize=8)
def _mask(camera: CameraModel, max_angle_deg: float) -> NDArray[np.uint8]:
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    rays = camera.unproject(np.column_stack([u.ravel(), v.ravel()]))
    inside = rays[:, 2] > np.cos(np.radians(max_angle_deg))
    return np.where(inside, 255, 0).astype(np.uint8).reshape(camera.height, camera.width)


def gray(image: NDArray[Any]) -> NDArray[np.uint8]:
    img = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return img if img.dtype == np.uint8 else cv2.convertScaleAbs(img)


def detect(image: NDArray[Any], camera: CameraModel, settings: OrbSettings = OrbSettings()) -> Features:
    """ORB keypoints of one image with their bearings in the camera frame."""
    img = gray(image)
    if img.shape != (camera.height, camera.width):
        raise ValueError(f"image is {img.shape[1]}x{img.shape[0]} but the camera is {camera.width}x{camera.height}")
    orb = cv2.ORB.create(
        nfeatures=settings.n_features,
        scaleFactor=settings.scale_factor,
        nlevels=settings.n_levels,
        fastThreshold=settings.fast_threshold,
    )
    kps, desc = orb.detectAndCompute(img, _mask(camera, settings.max_angle_deg))
    if desc is None or not kps:
        return Features(np.zeros((0, 2)), np.zeros((0, 3)), np.zeros((0, 32), np.uint8))
    px = np.array([k.pt for k in kps], dtype=np.float64)
    return Features(px, camera.unproject(px), desc)


def hamming(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Pairwise Hamming distances (len(a), len(b)) between 32-byte descriptors."""
    x = np.bitwise_xor(a[:, None, :], b[None, :, :])
    return np.unpackbits(x, axis=2).sum(axis=2, dtype=np.int64)


def ratio_matches(
    query: NDArray[np.uint8], train: NDArray[np.uint8], ratio: float, max_distance: int, matcher: Any = None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices (query_idx, train_idx) of Lowe-ratio-test matches under a Hamming distance cap."""
    if len(query) == 0 or len(train) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    bf = matcher or cv2.BFMatcher(cv2.NORM_HAMMING)
    knn = bf.knnMatch(query, train, k=2)
    qi, ti = [], []
    for pair in knn:
        if len(pair) == 2 and pair[0].distance < ratio * pair[1].distance and pair[0].distance <= max_distance:
            qi.append(pair[0].queryIdx)
            ti.append(pair[0].trainIdx)
    return np.asarray(qi, np.int64), np.asarray(ti, np.int64)
