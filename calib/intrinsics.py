"""Camera intrinsics from target detections: pinhole-radtan or fisheye (Kannala-Brandt).

Robust by rejection: after a first solve, corners far off the fit (beyond 5 robust
sigmas, at least ``min_outlier_px``) and whole views whose RMS stands out are dropped,
then the problem is solved again. Reports per-view and overall RMS, one-sigma
parameter uncertainties and how well the corners cover the image.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from calib.targets import Detection
from democap.errors import CalibrationError
from democap.model import CameraModel, CameraModelKind

log = logging.getLogger(__name__)

_CRITERIA = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-9)


@dataclass(frozen=True, eq=False)
class ViewFit:
    """One image's part in the fit. T_cam_target: (4, 4) target pose; residuals_px: (N, 2)."""

    index: int
    name: str
    used: bool
    rms_px: float
    n_points: int
    n_rejected: int
    T_cam_target: NDArray[np.float64] | None = None
    corners_px: NDArray[np.float64] | None = None
    residuals_px: NDArray[np.float64] | None = None


@dataclass(frozen=True, eq=False)
class Coverage:
    """Share of image cells (``grid`` = cols x rows) holding at least one used corner."""

    grid: tuple[int, int]
    counts: NDArray[np.int64]  # (rows, cols)
    fraction: float
    corners_fraction: float  # share of the 4 image-corner cells covered

    @property
    def poor(self) -> bool:
        return self.fraction < 0.6 or self.corners_fraction < 0.75


@dataclass(frozen=True, eq=False)
class IntrinsicsResult:
    camera: CameraModel
    rms_px: float
    views: tuple[ViewFit, ...]
    coverage: Coverage
    std: dict[str, float] = field(default_factory=dict)  # one-sigma of fx, fy, cx, cy, k1...
    warnings: tuple[str, ...] = ()

    @property
    def used_views(self) -> list[ViewFit]:
        return [v for v in self.views if v.used]

    def to_json(self) -> dict[str, Any]:
        c = self.camera
        return {
            "fx": c.fx, "fy": c.fy, "cx": c.cx, "cy": c.cy, "model": c.model,
            "distortion": list(c.distortion), "rms": self.rms_px, "width": c.width, "height": c.height,
            "views_used": len(self.used_views), "views_total": len(self.views),
            "per_view_rms": {v.name: v.rms_px for v in self.views},
            "coverage": self.coverage.fraction, "std": self.std, "warnings": list(self.warnings),
        }  # fmt: skip


def coverage_of(corners_px: Sequence[NDArray[np.float64]], image_size: tuple[int, int],
                grid: tuple[int, int] = (8, 6)) -> Coverage:  # fmt: skip
    w, h = image_size
    gx, gy = grid
    counts = np.zeros((gy, gx), np.int64)
    for c in corners_px:
        if len(c) == 0:
            continue
        i = np.clip((c[:, 0] / w * gx).astype(int), 0, gx - 1)
        j = np.clip((c[:, 1] / h * gy).astype(int), 0, gy - 1)
        np.add.at(counts, (j, i), 1)
    corners = [counts[0, 0], counts[0, -1], counts[-1, 0], counts[-1, -1]]
    return Coverage(grid, counts, float(np.mean(counts > 0)), float(np.mean(np.array(corners) > 0)))


def _solve(obj: list[NDArray], img: list[NDArray], size: tuple[int, int], model: CameraModelKind,
           fix_aspect: bool, n_dist: int, guess: CameraModel | None) -> tuple[Any, ...]:  # fmt: skip
    if model == "fisheye-equidistant":
        flags = cv2.CALIB_RECOMPUTE_EXTRINSIC | cv2.CALIB_FIX_SKEW
        K = np.eye(3)
        D: NDArray[Any] = np.zeros((4, 1))
        if guess is not None:
            K, D = guess.K.copy(), guess.D.reshape(4, 1).copy()
            flags |= cv2.CALIB_USE_INTRINSIC_GUESS
        rms, K, D, rvecs, tvecs = cv2.fisheye.calibrate(
            # OpenCV 5 accepts only (1, N, 3) / (1, N, 2) float32 here.
            [o.reshape(1, -1, 3).astype(np.float32) for o in obj],
            [i.reshape(1, -1, 2).astype(np.float32) for i in img],
            size,
            K,
            D,
            flags=flags,
            criteria=_CRITERIA,
        )
        return rms, K, D.ravel(), rvecs, tvecs, None
    flags = 0
    K = np.eye(3)
    if fix_aspect:
        flags |= cv2.CALIB_FIX_ASPECT_RATIO  # keeps fx/fy of the initial K, i.e. 1
    if n_dist <= 4:
        flags |= cv2.CALIB_FIX_K3
    D = np.zeros(5)
    if guess is not None:
        K, D = guess.K.copy(), np.pad(guess.D, (0, max(0, 5 - len(guess.D))))[:5]
        flags |= cv2.CALIB_USE_INTRINSIC_GUESS
    rms, K, D, rvecs, tvecs, std_int, _, _ = cv2.calibrateCameraExtended(
        obj, img, size, K, D, flags=flags, criteria=_CRITERIA
    )
    return rms, K, D.ravel()[: max(4, n_dist)], rvecs, tvecs, std_int.ravel()


def _project(model: CameraModelKind, obj: NDArray, rvec: NDArray, tvec: NDArray, K: NDArray, D: NDArray) -> NDArray:
    if model == "fisheye-equidistant":
        p, _ = cv2.fisheye.projectPoints(obj.reshape(-1, 1, 3), rvec, tvec, K, D.reshape(4, 1))
    else:
        p, _ = cv2.projectPoints(obj, rvec, tvec, K, D)
    return p.reshape(-1, 2)


def pose_matrix(rvec: NDArray, tvec: NDArray) -> NDArray[np.float64]:
    T = np.eye(4)
    T[:3, :3] = cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3))[0]
    T[:3, 3] = np.asarray(tvec, np.float64).reshape(3)
    return T


def calibrate_intrinsics(
    detections: Sequence[Detection | None],
    image_size: tuple[int, int],
    model: CameraModelKind = "pinhole-radtan",
    *,
    fix_aspect: bool = False,
    n_dist: int = 5,
    names: Sequence[str] | None = None,
    reject_outliers: bool = True,
    min_outlier_px: float = 1.0,
    min_points: int = 8,
) -> IntrinsicsResult:
    """Intrinsics from per-image detections (None = target not found in that image).

    image_size: (width, height). n_dist: 4 or 5 radtan coefficients (fisheye always 4).
    """
    names = list(names) if names is not None else [f"view{i:03d}" for i in range(len(detections))]
    dets = [d if d is not None and len(d) >= min_points else None for d in detections]
    usable = [i for i, d in enumerate(dets) if d is not None]
    if len(usable) < 3:
        raise CalibrationError(f"target found in only {len(usable)} of {len(detections)} images; need at least 3")
    keep_pts: dict[int, NDArray[np.bool_]] = {i: np.ones(len(dets[i]), dtype=np.bool_) for i in usable}  # type: ignore[arg-type]
    active = list(usable)
    guess: CameraModel | None = None
    for _round in range(3 if reject_outliers else 1):
        obj = [dets[i].points_target[keep_pts[i]].astype(np.float32) for i in active]  # type: ignore[union-attr]
        img = [dets[i].corners_px[keep_pts[i]].astype(np.float32) for i in active]  # type: ignore[union-attr]
        try:
            rms, K, D, rvecs, tvecs, std_int = _solve(obj, img, image_size, model, fix_aspect, n_dist, guess)
        except cv2.error as e:
            raise CalibrationError(f"the {model} solver failed: {e.err}") from e
        guess = CameraModel(model, image_size[0], image_size[1], float(K[0, 0]), float(K[1, 1]), float(K[0, 2]),
                            float(K[1, 2]), tuple(float(v) for v in D))  # fmt: skip
        if not reject_outliers or _round == 2:
            break
        errs = {}
        for k, i in enumerate(active):
            d = dets[i]
            res = _project(model, d.points_target, rvecs[k], tvecs[k], K, D) - d.corners_px  # type: ignore[union-attr]
            errs[i] = np.linalg.norm(res, axis=1)
        allerr = np.concatenate([errs[i][keep_pts[i]] for i in active])
        sigma = 1.4826 * np.median(allerr) / 1.1774  # Rayleigh median -> per-axis sigma
        pt_thresh = max(5 * sigma, min_outlier_px)
        view_rms = {i: float(np.sqrt(np.mean(errs[i][keep_pts[i]] ** 2))) for i in active}
        med_view = float(np.median(list(view_rms.values())))
        changed = False
        new_active = []
        for i in active:
            if view_rms[i] > max(3 * med_view, min_outlier_px) and len(active) > 3:
                changed = True
                log.info("dropping view %s: RMS %.2f px vs median %.2f", names[i], view_rms[i], med_view)
                continue
            new_keep = keep_pts[i] & (errs[i] <= pt_thresh)
            if new_keep.sum() < min_points:
                changed = True
                continue
            changed |= bool((new_keep != keep_pts[i]).any())
            keep_pts[i] = new_keep
            new_active.append(i)
        active = new_active
        if not changed:
            break

    views = []
    used_corners = []
    for i, d in enumerate(dets):
        if d is None:
            views.append(ViewFit(i, names[i], False, float("nan"), 0, 0))
            continue
        if i in active:
            k = active.index(i)
            rvec, tvec = rvecs[k], tvecs[k]
        else:  # a rejected view: report how it fits the final model
            ok, rvec, tvec = _pnp(guess, d)
            if not ok:
                views.append(ViewFit(i, names[i], False, float("nan"), len(d), len(d)))
                continue
        res = _project(model, d.points_target, rvec, tvec, K, D) - d.corners_px
        used = i in active
        kp: NDArray[np.bool_] = keep_pts[i] if used else np.zeros(len(d), dtype=np.bool_)
        rms_v = float(np.sqrt(np.mean(np.sum(res[kp] ** 2, 1)))) if used else float(np.sqrt(np.mean(np.sum(res**2, 1))))
        n_rejected = int(len(kp) - np.count_nonzero(kp))
        views.append(ViewFit(i, names[i], used, rms_v, len(d), n_rejected, pose_matrix(rvec, tvec),
                             d.corners_px, res))  # fmt: skip
        if used:
            used_corners.append(d.corners_px[kp])
    all_res = np.concatenate([v.residuals_px[keep_pts[v.index]] for v in views if v.used])  # type: ignore[index]
    rms_all = float(np.sqrt(np.mean(np.sum(all_res**2, 1))))
    std: dict[str, float] = {}
    if std_int is not None:
        for n, s in zip(("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3"), std_int, strict=False):
            std[n] = float(s)
        if fix_aspect:  # OpenCV reports 0 for fx when it is tied to fy
            std["fx"] = std.get("fy", 0.0)
    cov = coverage_of(used_corners, image_size)
    warnings = []
    if cov.poor:
        warnings.append(
            f"poor coverage: corners reach {cov.fraction:.0%} of the image cells and "
            f"{cov.corners_fraction:.0%} of its corners; add views with the target near the edges"
        )
    n_drop = sum(1 for i in usable if i not in active)
    if n_drop:
        warnings.append(f"{n_drop} of {len(usable)} views rejected as outliers")
    log.info("intrinsics %s: fx %.2f fy %.2f rms %.3f px over %d views", model, K[0, 0], K[1, 1], rms_all, len(active))
    return IntrinsicsResult(guess, rms_all, tuple(views), cov, std, tuple(warnings))  # type: ignore[arg-type]


def _pnp(camera: CameraModel | None, det: Detection) -> tuple[bool, NDArray, NDArray]:
    assert camera is not None
    ok, T = solve_pnp(camera, det)
    if not ok:
        return False, np.zeros(3), np.zeros(3)
    return True, cv2.Rodrigues(T[:3, :3])[0], T[:3, 3].copy()


def solve_pnp(camera: CameraModel, det: Detection) -> tuple[bool, NDArray[np.float64]]:
    """Target pose ``T_cam_target`` (4, 4) from one detection with known intrinsics (any model)."""
    rays = camera.unproject(det.corners_px)
    norm = rays[:, :2] / rays[:, 2:3]  # ideal pinhole coordinates; valid below 90 degrees
    good = rays[:, 2] > 0.05
    if good.sum() < 4:
        return False, np.eye(4)
    obj = det.points_target[good].astype(np.float64)
    img = norm[good].astype(np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, np.eye(3), None, flags=cv2.SOLVEPNP_IPPE if _planar(obj) else 0)
    if not ok:
        return False, np.eye(4)
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, np.eye(3), None, rvec, tvec)
    # Final polish in pixels with the camera's own model: the normalised-plane fit above
    # weights wide-angle corners wrongly. OpenCV's LM does it for radtan (its own model).
    if camera.model == "pinhole-radtan":
        px_good = det.corners_px[good].astype(np.float64)
        rvec, tvec = cv2.solvePnPRefineLM(obj, px_good, camera.K, camera.D, rvec, tvec)
        return True, pose_matrix(rvec, tvec)
    from scipy.optimize import least_squares

    pts, px = det.points_target, det.corners_px

    def res(x: NDArray) -> NDArray:
        R = cv2.Rodrigues(x[:3])[0]
        r = (camera.project(pts @ R.T + x[3:]) - px).ravel()
        return np.nan_to_num(r, nan=1e3)

    sol = least_squares(res, np.concatenate([rvec.ravel(), tvec.ravel()]), method="lm")
    return True, pose_matrix(sol.x[:3], sol.x[3:])


def _planar(points: NDArray) -> bool:
    return bool(np.ptp(points[:, 2]) < 1e-9)


def reprojection_residuals(camera: CameraModel, det: Detection, T_cam_target: NDArray[np.float64]) -> NDArray:
    """(N, 2) projected minus detected pixels."""
    p_cam = det.points_target @ T_cam_target[:3, :3].T + T_cam_target[:3, 3]
    return camera.project(p_cam) - det.corners_px
