"""Stereo extrinsics of a camera pair from simultaneous target detections.

Intrinsics are held fixed (calibrate each camera first); the result is
``T_right_left`` (maps left-camera points to the right camera) with its RMS and the
epipolar error after rectification (vertical disparity of matched corners).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from calib.intrinsics import pose_matrix
from calib.targets import Detection
from democap.errors import CalibrationError
from democap.model import CameraModel

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class StereoResult:
    T_right_left: NDArray[np.float64]
    rms_px: float
    epipolar_rms_px: float
    epipolar_max_px: float
    n_pairs: int

    @property
    def baseline_m(self) -> float:
        return float(np.linalg.norm(self.T_right_left[:3, 3]))

    def to_json(self) -> dict:
        return {
            "T_right_left": self.T_right_left.tolist(), "baseline_m": self.baseline_m, "rms": self.rms_px,
            "epipolar_rms_px": self.epipolar_rms_px, "epipolar_max_px": self.epipolar_max_px,
            "pairs": self.n_pairs,
        }  # fmt: skip


def _common(a: Detection, b: Detection) -> tuple[NDArray, NDArray, NDArray]:
    ids, ia, ib = np.intersect1d(a.ids, b.ids, return_indices=True)
    return a.points_target[ia], a.corners_px[ia], b.corners_px[ib]


def calibrate_stereo(
    left: Sequence[Detection | None], right: Sequence[Detection | None], cam_left: CameraModel,
    cam_right: CameraModel, min_points: int = 8,
) -> StereoResult:  # fmt: skip
    """Pairs are matched by index (left[i] and right[i] were taken at the same time)."""
    if cam_left.model != cam_right.model:
        raise CalibrationError("stereo needs both cameras in the same model")
    obj, pl, pr = [], [], []
    for a, b in zip(left, right, strict=True):
        if a is None or b is None:
            continue
        o, x, y = _common(a, b)
        if len(o) >= min_points:
            obj.append(o.astype(np.float32))
            pl.append(x.astype(np.float32))
            pr.append(y.astype(np.float32))
    if len(obj) < 2:
        raise CalibrationError(f"the target is seen by both cameras in only {len(obj)} pairs; need 2")
    size = (cam_left.width, cam_left.height)
    crit = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-9)
    if cam_left.model == "fisheye-equidistant":
        # cv2.fisheye.stereoCalibrate rejects valid input in OpenCV 5.0; our own bundle works for any model.
        rms, R, t = _stereo_bundle(obj, pl, pr, cam_left, cam_right)
    else:
        rms, _, _, _, _, R, t, _, _ = cv2.stereoCalibrate(
            obj, pl, pr, cam_left.K, cam_left.D, cam_right.K, cam_right.D, size,
            flags=cv2.CALIB_FIX_INTRINSIC, criteria=crit,
        )  # fmt: skip
    T = pose_matrix(cv2.Rodrigues(np.asarray(R))[0], t)
    epi = rectified_epipolar_errors(cam_left, cam_right, T, pl, pr)
    log.info("stereo: baseline %.4f m, rms %.3f px, epipolar rms %.3f px", np.linalg.norm(t), rms, epi_rms(epi))
    return StereoResult(T, float(rms), epi_rms(epi), float(np.max(np.abs(epi))), len(obj))


def _stereo_bundle(obj: list[NDArray], pl: list[NDArray], pr: list[NDArray], cam_left: CameraModel,
                   cam_right: CameraModel) -> tuple[float, NDArray, NDArray]:  # fmt: skip
    """T_right_left by least squares over both cameras' reprojections, intrinsics fixed.

    Start: per-pair PnP in each camera, the rotation-averaged T_right_left. Unknowns: T_right_left
    and every pair's T_left_target.
    """
    from scipy.optimize import least_squares

    from calib.intrinsics import solve_pnp
    from calib.targets import Detection
    from democap import geometry

    def pnp(cam: CameraModel, o: NDArray, p: NDArray) -> NDArray:
        ok, T = solve_pnp(cam, Detection(np.arange(len(o)), p.astype(np.float64), o.astype(np.float64), (0, 0)))
        if not ok:
            raise CalibrationError("PnP failed on a stereo pair")
        return T

    T_l = [pnp(cam_left, o, a) for o, a in zip(obj, pl, strict=True)]
    T_rl = [pnp(cam_right, o, b) @ geometry.se3_inverse(Tl) for o, b, Tl in zip(obj, pr, T_l, strict=True)]
    U, _, Vt = np.linalg.svd(np.sum([T[:3, :3] for T in T_rl], axis=0))
    R0 = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    x0 = np.concatenate([geometry.so3_log(R0), np.median([T[:3, 3] for T in T_rl], axis=0)]
                        + [np.concatenate([geometry.so3_log(T[:3, :3]), T[:3, 3]]) for T in T_l])  # fmt: skip

    def residual(x: NDArray) -> NDArray:
        T_rl_ = geometry.se3(geometry.so3_exp(x[:3]), x[3:6])
        out = []
        for k, (o, a, b) in enumerate(zip(obj, pl, pr, strict=True)):
            v = x[6 + 6 * k : 12 + 6 * k]
            T = geometry.se3(geometry.so3_exp(v[:3]), v[3:])
            pc = geometry.transform_points(T, o)
            out.append((cam_left.project(pc) - a).ravel())
            out.append((cam_right.project(geometry.transform_points(T_rl_, pc)) - b).ravel())
        return np.nan_to_num(np.concatenate(out), nan=1e3)

    sol = least_squares(residual, x0, loss="huber", f_scale=2.0, x_scale="jac")
    r = residual(sol.x).reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum(r**2, 1)))), geometry.so3_exp(sol.x[:3]), sol.x[3:6].reshape(3, 1)


def epi_rms(e: NDArray) -> float:
    return float(np.sqrt(np.mean(e**2)))


def rectified_epipolar_errors(
    cam_left: CameraModel, cam_right: CameraModel, T_right_left: NDArray[np.float64],
    pts_left: Sequence[NDArray], pts_right: Sequence[NDArray],
) -> NDArray[np.float64]:  # fmt: skip
    """Vertical disparity (px) of matched points after rectification; zero for a perfect stereo pair."""
    R, t = T_right_left[:3, :3].copy(), T_right_left[:3, 3].reshape(3, 1).copy()
    size = (cam_left.width, cam_left.height)
    if cam_left.model == "fisheye-equidistant":
        R1, R2, P1, P2, _ = cv2.fisheye.stereoRectify(cam_left.K, cam_left.D, cam_right.K, cam_right.D, size, R, t,
                                                      flags=cv2.CALIB_ZERO_DISPARITY)  # fmt: skip
        und: Any = cv2.fisheye.undistortPoints
    else:
        R1, R2, P1, P2, *_ = cv2.stereoRectify(cam_left.K, cam_left.D, cam_right.K, cam_right.D, size, R, t)
        und = cv2.undistortPoints
    out = []
    for a, b in zip(pts_left, pts_right, strict=True):
        ua = und(a.reshape(-1, 1, 2).astype(np.float64), cam_left.K, cam_left.D, R=R1, P=P1).reshape(-1, 2)
        ub = und(b.reshape(-1, 1, 2).astype(np.float64), cam_right.K, cam_right.D, R=R2, P=P2).reshape(-1, 2)
        out.append(ua[:, 1] - ub[:, 1])
    return np.concatenate(out)
