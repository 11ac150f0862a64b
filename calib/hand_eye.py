"""Hand-eye calibration of a camera on a tracked body (motion capture or robot flange).

Per image i the chain ``T_world_body_i @ T_body_cam @ T_cam_grid_i = T_world_board_i @ T_board_grid``
holds, with ``T_body_cam`` (camera on its tracked body) and ``T_board_grid`` (target
corners relative to the board's tracked markers) unknown. Park & Martin's closed form on
the board-relative body poses gives the start; a robust least-squares fit of the grid
corners' reprojection (mocap-predicted board pose vs detected corners) refines both.
The report compares mocap-predicted board poses with PnP, image by image.

With ``refine_intrinsics`` the camera's focal lengths, principal point and distortion join
that fit (as yac does): the tracked chain knows every board distance in metres, which pins
the focal length far better than self-calibration from a few far views, whose small focal
error shows as a depth bias of millimetres per metre in every PnP pose.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

from calib.targets import Detection
from democap import geometry
from democap.errors import CalibrationError
from democap.model import CameraModel

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class HandEyeResult:
    T_body_cam: NDArray[np.float64]
    T_board_grid: NDArray[np.float64]
    trans_err_m: NDArray[np.float64]  # (N,) |t| of PnP vs mocap-predicted T_cam_grid
    rot_err_deg: NDArray[np.float64]  # (N,)
    rms_px: float  # corners reprojected through the mocap chain
    camera: CameraModel | None = None  # the intrinsics the comparison used (refined when asked)

    def to_json(self) -> dict[str, Any]:
        return {
            "T_body_cam": self.T_body_cam.tolist(), "T_board_grid": self.T_board_grid.tolist(),
            "median_trans_err_mm": float(np.median(self.trans_err_m) * 1e3),
            "median_rot_err_deg": float(np.median(self.rot_err_deg)),
            "rms_trans_err_mm": float(np.sqrt(np.mean(self.trans_err_m**2)) * 1e3),
            "rms_rot_err_deg": float(np.sqrt(np.mean(self.rot_err_deg**2))), "rms_px": self.rms_px,
            "images": len(self.trans_err_m),
            **({"camera": self.camera.to_dict()} if self.camera is not None else {}),
        }  # fmt: skip


def _pose(x: NDArray) -> NDArray:
    return geometry.se3(geometry.so3_exp(x[:3]), x[3:6])


def _vec(T: NDArray) -> NDArray:
    return np.concatenate([geometry.so3_log(T[:3, :3]), T[:3, 3]])


def _with_intrinsics(camera: CameraModel, k: NDArray) -> CameraModel:
    return replace(camera, fx=float(k[0]), fy=float(k[1]), cx=float(k[2]), cy=float(k[3]),
                   distortion=tuple(float(v) for v in k[4:]))  # fmt: skip


def calibrate_hand_eye(
    T_world_body: NDArray[np.float64], T_world_board: NDArray[np.float64], T_cam_grid: NDArray[np.float64],
    detections: Sequence[Detection], camera: CameraModel, refine_intrinsics: bool = False,
) -> HandEyeResult:  # fmt: skip
    """All arrays (N, 4, 4) at the N image times; ``T_cam_grid`` from PnP of ``detections``."""
    n = len(T_cam_grid)
    if n < 3:
        raise CalibrationError(f"hand-eye needs at least 3 images with target and mocap; got {n}")
    T_board_body = geometry.se3_inverse(T_world_board) @ T_world_body
    X0 = solve_ax_xb(T_board_body, T_cam_grid)
    Ys = T_board_body @ X0 @ T_cam_grid
    Y0 = geometry.se3(geometry.nearest_rotation(np.sum(Ys[:, :3, :3], axis=0)), Ys[:, :3, 3].mean(0))

    def predicted(x: NDArray) -> NDArray:
        X, Y = _pose(x[:6]), _pose(x[6:12])
        return geometry.se3_inverse(T_board_body @ X) @ Y  # T_cam_grid

    def residual(x: NDArray) -> NDArray:
        T = predicted(x)
        cam = _with_intrinsics(camera, x[12:]) if refine_intrinsics else camera
        out = []
        for i, d in enumerate(detections):
            p = d.points_target @ T[i, :3, :3].T + T[i, :3, 3]
            out.append(np.nan_to_num(cam.project(p) - d.corners_px, nan=100.0).ravel())
        return np.concatenate(out)

    x0 = np.concatenate([_vec(X0), _vec(Y0)])
    if refine_intrinsics:
        x0 = np.concatenate([x0, [camera.fx, camera.fy, camera.cx, camera.cy, *camera.distortion]])
    sol = least_squares(residual, x0, loss="soft_l1", f_scale=2.0, x_scale="jac")
    if refine_intrinsics:
        from calib.intrinsics import solve_pnp

        camera = _with_intrinsics(camera, sol.x[12:])
        T_cam_grid = np.array([solve_pnp(camera, d)[1] for d in detections])
    T_pred = predicted(sol.x)
    r = residual(sol.x).reshape(-1, 2)
    dT = geometry.se3_inverse(T_pred) @ T_cam_grid
    res = HandEyeResult(
        T_body_cam=_pose(sol.x[:6]), T_board_grid=_pose(sol.x[6:12]),
        trans_err_m=np.linalg.norm(T_pred[:, :3, 3] - T_cam_grid[:, :3, 3], axis=1),
        rot_err_deg=np.degrees(geometry.rotation_angle(dT[:, :3, :3])),
        rms_px=float(np.sqrt(np.mean(np.sum(r**2, 1)))), camera=camera,
    )  # fmt: skip
    log.info("hand-eye: median %.2f mm / %.3f deg over %d images", np.median(res.trans_err_m) * 1e3,
             np.median(res.rot_err_deg), n)  # fmt: skip
    return res


def held_out_errors(
    T_world_body: NDArray[np.float64], T_world_board: NDArray[np.float64], T_cam_grid: NDArray[np.float64],
    detections: Sequence[Detection], camera: CameraModel, refine_intrinsics: bool = False, folds: int = 2,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:  # fmt: skip
    """(translation m, rotation deg) of mocap-predicted vs PnP board poses on images left out of the fit.

    The in-sample comparison flatters a fit with free intrinsics; this one does not: images
    are dealt into ``folds`` interleaved folds, each predicted by a fit to the others, and
    its PnP uses that fit's intrinsics.
    """
    from calib.intrinsics import solve_pnp

    n = len(T_cam_grid)
    trans, rot = np.full(n, np.nan), np.full(n, np.nan)
    for f in range(folds):
        test = np.arange(f, n, folds)
        train = np.setdiff1d(np.arange(n), test)
        fit = calibrate_hand_eye(T_world_body[train], T_world_board[train], T_cam_grid[train],
                                 [detections[int(i)] for i in train], camera, refine_intrinsics)  # fmt: skip
        cam = fit.camera or camera
        T_board_body = geometry.se3_inverse(T_world_board[test]) @ T_world_body[test]
        T_pred = geometry.se3_inverse(T_board_body @ fit.T_body_cam) @ fit.T_board_grid
        T_pnp = np.array([solve_pnp(cam, detections[int(i)])[1] for i in test])
        trans[test] = np.linalg.norm(T_pred[:, :3, 3] - T_pnp[:, :3, 3], axis=1)
        rot[test] = np.degrees(geometry.rotation_angle((geometry.se3_inverse(T_pred) @ T_pnp)[:, :3, :3]))
    return trans, rot


def solve_ax_xb(T_base_body: NDArray[np.float64], T_cam_grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """Park & Martin's closed form for ``T_body_cam`` from all pairs of views (A X = X B).

    A = T_base_body_i^-1 T_base_body_j, B = T_cam_grid_i T_cam_grid_j^-1; rotation from the
    rotation vectors (alpha = R beta), then translation by linear least squares.
    """
    n = len(T_cam_grid)
    i, j = np.triu_indices(n, 1)
    A = geometry.se3_inverse(T_base_body[i]) @ T_base_body[j]
    B = T_cam_grid[i] @ geometry.se3_inverse(T_cam_grid[j])
    alpha, beta = geometry.so3_log(A[:, :3, :3]), geometry.so3_log(B[:, :3, :3])
    keep = np.linalg.norm(alpha, axis=1) > np.radians(2)  # small motions carry no axis information
    if keep.sum() < 2:
        raise CalibrationError("hand-eye needs views rotated by more than a few degrees from each other")
    R = geometry.kabsch(alpha[keep], beta[keep])  # Park & Martin: alpha = R beta
    # (R_A - I) t_X = R_X t_B - t_A
    lhs = (A[keep, :3, :3] - np.eye(3)).reshape(-1, 3)
    rhs = (B[keep, :3, 3] @ R.T - A[keep, :3, 3]).reshape(-1)
    t, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    return geometry.se3(R, t)
