"""Gripper calibration: finger width from finger fiducials or an encoder, and the TCP offset.

Fiducials: one square marker on each finger, seen by cam0. Their centres' distance
across the fingers is linear in the opening; a calibration clip in which the gripper
is fully closed and fully opened (known ``min_width_m``/``max_width_m``) fixes the line
``width_m = scale * distance_m + offset_m``. Encoder: the same line through raw counts.

TCP: the fingertip centre is the midpoint of the two fingertips; each fingertip sits at a
known offset from its marker's centre in the marker frame (rig design data). Its frame:
x from the left to the right finger, z along the camera's optical axis made orthogonal
to x, y = z cross x.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.errors import CalibrationError
from democap.model import CameraModel, GripperCalibration

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FingerMarkers:
    """The finger fiducials: ArUco ``dictionary``, ``left_id``/``right_id``, edge ``size_m``, and the
    fingertip in each marker's frame (OpenCV marker convention), ``tip_in_marker_m`` (3,)."""

    dictionary: str = "DICT_4X4_50"
    left_id: int = 0
    right_id: int = 1
    size_m: float = 0.016
    tip_in_marker_m: tuple[float, float, float] = (0.0, 0.028, 0.0)


@dataclass(frozen=True, eq=False)
class FingerObservation:
    """Marker poses T_cam_marker (4, 4) of one frame; None when a marker is not seen."""

    t_ns: int
    T_cam_left: NDArray[np.float64] | None
    T_cam_right: NDArray[np.float64] | None

    @property
    def complete(self) -> bool:
        return self.T_cam_left is not None and self.T_cam_right is not None

    def distance_m(self) -> float:
        """Centre distance of the two markers (NaN unless both are seen)."""
        if not self.complete:
            return float("nan")
        return float(np.linalg.norm(self.T_cam_right[:3, 3] - self.T_cam_left[:3, 3]))  # type: ignore[index]


def observe_fingers(image: NDArray[Any], camera: CameraModel, markers: FingerMarkers, t_ns: int = 0
                    ) -> FingerObservation:  # fmt: skip
    """Find both finger markers in one image and solve their poses (IPPE for squares)."""
    from calib.targets import _border_fraction, _gray, refine_square_edges, refine_tag_corners

    gray = _gray(image)
    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, markers.dictionary)),
                                  cv2.aruco.DetectorParameters())  # fmt: skip
    corners, ids, _ = det.detectMarkers(gray)
    found: dict[int, NDArray[np.float64]] = {}
    if ids is not None:
        h = markers.size_m / 2
        obj = np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]], np.float64)
        for c, i in zip(corners, ids.ravel(), strict=True):
            if int(i) not in (markers.left_id, markers.right_id) or int(i) in found:
                continue
            side = float(np.linalg.norm(c[0, 0] - c[0, 1]))
            px = refine_tag_corners(
                gray, c.reshape(4, 2).astype(np.float64), side, _border_fraction(markers.dictionary)
            )
            px = refine_square_edges(gray, px)  # small markers: a corner bias would be a depth bias
            rays = camera.unproject(px)
            ok, rvec, tvec = cv2.solvePnP(obj, rays[:, :2] / rays[:, 2:3], np.eye(3), None,
                                          flags=cv2.SOLVEPNP_IPPE_SQUARE)  # fmt: skip
            if ok:
                found[int(i)] = geometry.se3(cv2.Rodrigues(rvec)[0], tvec.ravel())
    return FingerObservation(int(t_ns), found.get(markers.left_id), found.get(markers.right_id))


def observe_clip(frames: Iterable[tuple[int, NDArray[Any]]], camera: CameraModel, markers: FingerMarkers
                 ) -> list[FingerObservation]:  # fmt: skip
    return [observe_fingers(img, camera, markers, t) for t, img in frames]


def _extremes(values: NDArray[np.float64], share: float = 0.05) -> tuple[float, float]:
    """Robust (closed, open) levels: medians of the lowest and highest ``share`` of a clip."""
    v = np.sort(values[np.isfinite(values)])
    if len(v) < 10:
        raise CalibrationError(f"only {len(v)} frames show both fingers; need a longer min/max clip")
    k = max(3, int(len(v) * share))
    return float(np.median(v[:k])), float(np.median(v[-k:]))


def calibrate_width_from_fiducials(observations: Sequence[FingerObservation], min_width_m: float,
                                   max_width_m: float) -> GripperCalibration:  # fmt: skip
    """Width line from a clip in which the gripper reaches fully closed and fully open."""
    d = np.array([o.distance_m() for o in observations])
    lo, hi = _extremes(d)
    if hi - lo < 0.2 * (max_width_m - min_width_m):
        raise CalibrationError(f"marker distance only spans {1e3 * (hi - lo):.1f} mm; open and close fully")
    scale = (max_width_m - min_width_m) / (hi - lo)
    return GripperCalibration("fiducials", scale, min_width_m - scale * lo, min_width_m, max_width_m)


def calibrate_width_from_encoder(raw: NDArray[np.float64], min_width_m: float, max_width_m: float
                                 ) -> GripperCalibration:  # fmt: skip
    """Width line from raw encoder values over a clip that reaches fully closed and fully open.

    Assumes counts grow with the opening; a reversed encoder gives a negative scale, as it should.
    """
    lo, hi = _extremes(np.asarray(raw, np.float64))
    if hi == lo:
        raise CalibrationError("the encoder did not move during the clip")
    scale = (max_width_m - min_width_m) / (hi - lo)
    return GripperCalibration("encoder", scale, min_width_m - scale * lo, min_width_m, max_width_m)


def width_from_observation(obs: FingerObservation, calib: GripperCalibration) -> float:
    return calib.scale * obs.distance_m() + calib.offset_m


def tcp_from_fingers(observations: Sequence[FingerObservation], markers: FingerMarkers
                     ) -> tuple[NDArray[np.float64], float]:  # fmt: skip
    """``T_cam_tcp`` (4, 4) averaged over frames showing both fingers, and the 1-sigma spread (m)
    of the per-frame fingertip centres."""
    tip = np.array([*markers.tip_in_marker_m, 1.0])
    centres, xs = [], []
    for o in observations:
        if not o.complete:
            continue
        assert o.T_cam_left is not None and o.T_cam_right is not None
        pl = (o.T_cam_left @ tip)[:3]
        pr = (o.T_cam_right @ tip)[:3]
        centres.append(0.5 * (pl + pr))
        xs.append((pr - pl) / np.linalg.norm(pr - pl))
    if len(centres) < 3:
        raise CalibrationError(f"both fingers seen in only {len(centres)} frames; need at least 3")
    c = np.median(np.array(centres), axis=0)
    x = np.mean(xs, axis=0)
    x /= np.linalg.norm(x)
    z = np.array([0.0, 0.0, 1.0]) - x[2] * x
    z /= np.linalg.norm(z)
    R = np.stack([x, np.cross(z, x), z], axis=1)
    spread = float(np.sqrt(np.mean(np.sum((np.array(centres) - c) ** 2, axis=1))))
    return geometry.se3(R, c), spread
