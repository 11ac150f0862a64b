"""Relocalise camera frames in a map: ORB matching to landmarks, PnP RANSAC, refinement, checks.

Works on normalised-plane coordinates of the bearings (``CameraModel.unproject``), so pinhole
and fisheye lenses go through the same PnP with an identity camera matrix. A frame counts as
relocalised only when enough matches agree (``min_inliers``, ``min_inlier_share``), they
reproject tightly in pixels after refinement (``max_median_px``) and they are spread over the
image (``min_spread_px``): a pose drawn from a few clustered or repeated-texture matches is
refused rather than reported. ``bench/bench_maps.py`` measures success and error.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from capture.session import Session
from capture.timebase import stream_times
from democap import geometry
from democap.model import CameraModel
from democap.progress import Progress
from slam.maps.features import OrbSettings, detect, ratio_matches
from slam.maps.store import Map, MapError


@dataclass(frozen=True)
class RelocSettings:
    orb: OrbSettings = OrbSettings()
    match_ratio: float = 0.85
    max_hamming: int = 64
    ransac_px: float = 3.0
    ransac_iterations: int = 300
    inlier_px: float = 2.5  # after refinement, a match within this is an inlier
    min_inliers: int = 40
    min_inlier_share: float = 0.25
    max_median_px: float = 1.2
    min_spread_px: float = 60.0  # std of the inliers' pixel positions (both axes together)
    # Predicted 1-sigma of the pose from the inliers' geometry and residuals: few or clustered
    # (e.g. only the tags) matches can agree well and still leave the pose loose.
    max_sigma_m: float = 0.004
    max_sigma_deg: float = 0.3
    # Of the landmarks the nearest map keyframes saw and that fall in this image, this share must
    # be among the inliers: a different scene that only shares the tags (or a poster) fails it.
    min_covisible_share: float = 0.15
    covisible_keyframes: int = 3


@dataclass(frozen=True, eq=False)
class Relocalisation:
    """One frame's result: ``T_map_cam`` (4, 4) valid only when ``ok``; ``reason`` when not."""

    ok: bool
    T_map_cam: NDArray[np.float64]
    inliers: int
    matches: int
    median_px: float
    sigma_m: float = float("nan")
    sigma_deg: float = float("nan")
    covisible_share: float = float("nan")
    reason: str = ""


class Relocaliser:
    """Relocalises frames of one camera in one map (the map's descriptors are matched as given)."""

    def __init__(self, m: Map, camera: CameraModel, settings: RelocSettings = RelocSettings()) -> None:
        if m.n_landmarks < 4:
            raise MapError(f"map {m.name} has {m.n_landmarks} landmarks; nothing to relocalise against")
        self.map, self.camera, self.s = m, camera, settings
        self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        order = np.argsort(m.obs_keyframe, kind="stable")
        starts = np.searchsorted(m.obs_keyframe[order], np.arange(m.n_keyframes + 1))
        self._kf_landmarks = [m.obs_landmark[order[starts[k] : starts[k + 1]]] for k in range(m.n_keyframes)]

    def __call__(self, image: NDArray[Any]) -> Relocalisation:
        s = self.s
        f = detect(image, self.camera, s.orb)
        qi, li = ratio_matches(f.descriptors, self.map.descriptors, s.match_ratio, s.max_hamming, self.matcher)
        if len(qi) < s.min_inliers:
            return _fail(len(qi), f"{len(qi)} descriptor matches (needs {s.min_inliers})")
        # A landmark matched twice keeps its first match only: PnP assumes distinct points.
        _, first = np.unique(li, return_index=True)
        qi, li = qi[first], li[first]
        rays = f.rays_cam[qi]
        xy = rays[:, :2] / rays[:, 2:3]
        X = self.map.points_world[li]
        thr = s.ransac_px / max(self.camera.fx, self.camera.fy)
        ok, rvec, tvec, inl = cv2.solvePnPRansac(
            X, xy, np.eye(3), None, iterationsCount=s.ransac_iterations, reprojectionError=thr,
            confidence=0.999, flags=cv2.SOLVEPNP_EPNP,
        )  # fmt: skip
        if not ok or inl is None or len(inl) < 6:
            return _fail(len(qi), "PnP RANSAC found no consistent pose")
        px = f.px[qi]
        inl = inl.ravel()
        for _ in range(2):  # refine on the inliers, re-select inliers by pixel error
            rvec, tvec = cv2.solvePnPRefineLM(X[inl], xy[inl], np.eye(3), None, rvec, tvec)
            err = self._pixel_errors(X, px, rvec, tvec)
            inl = np.flatnonzero(err < s.inlier_px)
            if len(inl) < 6:
                return _fail(len(qi), "too few inliers after refinement")
        T_cam_map = geometry.se3(cv2.Rodrigues(rvec)[0], tvec.ravel())
        n_in = len(inl)
        med = float(np.median(err[inl]))
        spread = float(np.sqrt(np.sum(np.var(px[inl], axis=0))))
        T_map_cam = geometry.se3_inverse(T_cam_map)
        sigma_m, sigma_deg = self._pose_sigma(X[inl], rvec, tvec, med)
        covisible = self._covisible_share(T_map_cam, li[inl])
        reason = ""
        if n_in < s.min_inliers:
            reason = f"{n_in} inliers (needs {s.min_inliers})"
        elif n_in < s.min_inlier_share * len(qi):
            reason = f"{n_in} of {len(qi)} matches agree (needs {s.min_inlier_share:.0%})"
        elif med > s.max_median_px:
            reason = f"median reprojection {med:.2f} px (needs <= {s.max_median_px})"
        elif spread < s.min_spread_px:
            reason = f"inliers cluster in {spread:.0f} px (needs {s.min_spread_px:.0f})"
        elif sigma_m > s.max_sigma_m or sigma_deg > s.max_sigma_deg:
            reason = f"pose too loose: sigma {sigma_m * 100:.2f} cm, {sigma_deg:.2f} deg"
        elif covisible < s.min_covisible_share:
            reason = (
                f"only {covisible:.0%} of the landmarks the map saw from here match (needs {s.min_covisible_share:.0%})"
            )
        return Relocalisation(not reason, T_map_cam, n_in, len(qi), med, sigma_m, sigma_deg, covisible, reason)

    def _covisible_share(self, T_map_cam: NDArray, inlier_landmarks: NDArray) -> float:
        """Share of the landmarks seen by the map keyframes nearest this pose, inside this image, that are inliers."""
        m = self.map
        d_pos = np.linalg.norm(m.T_world_cam[:, :3, 3] - T_map_cam[:3, 3], axis=1)
        cos_view = m.T_world_cam[:, :3, 2] @ T_map_cam[:3, 2]
        score = d_pos + 0.3 * (1.0 - cos_view)  # 0.3 m per unit of viewing-direction change
        near = np.argsort(score)[: self.s.covisible_keyframes]
        lms = np.unique(np.concatenate([self._kf_landmarks[k] for k in near]))
        if not len(lms):
            return 0.0
        T_cam_map = geometry.se3_inverse(T_map_cam)
        X_cam = geometry.transform_points(T_cam_map, m.points_world[lms])
        with np.errstate(invalid="ignore"):
            uv = self.camera.project(X_cam)
        inside = (
            (X_cam[:, 2] > 0.05) & (uv[:, 0] >= 0) & (uv[:, 0] < self.camera.width)
            & (uv[:, 1] >= 0) & (uv[:, 1] < self.camera.height)
        )  # fmt: skip
        if inside.sum() < self.s.min_inliers:
            return 0.0
        return float(np.isin(lms[inside], inlier_landmarks).mean())

    def _pose_sigma(self, X: NDArray, rvec: NDArray, tvec: NDArray, median_px: float) -> tuple[float, float]:
        """1-sigma of the camera position (m) and rotation (deg) from the PnP normal equations."""
        # Per-axis pixel noise from the median residual norm (2-D Gaussian: median |e| = 1.18 sigma).
        sigma_n = max(median_px / 1.18, 0.3) / max(self.camera.fx, self.camera.fy)
        _, jac = cv2.projectPoints(X, rvec, tvec, np.eye(3), None)
        J = jac[:, :6]  # d(normalised xy) / d(rvec, tvec)
        try:
            cov = np.linalg.inv(J.T @ J) * sigma_n**2
        except np.linalg.LinAlgError:
            return float("inf"), float("inf")

        # Camera centre c = -R^T t: propagate numerically through the 6 parameters.
        def centre(p: NDArray) -> NDArray:
            return -cv2.Rodrigues(p[:3])[0].T @ p[3:]

        p0 = np.concatenate([rvec.ravel(), tvec.ravel()])
        Jc = np.column_stack([(centre(p0 + 1e-6 * e) - centre(p0 - 1e-6 * e)) / 2e-6 for e in np.eye(6)])
        sigma_m = float(np.sqrt(np.trace(Jc @ cov @ Jc.T)))
        sigma_deg = float(np.degrees(np.sqrt(np.trace(cov[:3, :3]))))
        return sigma_m, sigma_deg

    def _pixel_errors(self, X: NDArray, px: NDArray, rvec: NDArray, tvec: NDArray) -> NDArray[np.float64]:
        R = cv2.Rodrigues(rvec)[0]
        X_cam = X @ R.T + tvec.ravel()
        with np.errstate(invalid="ignore"):
            err = np.linalg.norm(self.camera.project(X_cam) - px, axis=1)
        return np.nan_to_num(err, nan=np.inf)


def _fail(matches: int, reason: str) -> Relocalisation:
    return Relocalisation(False, np.eye(4), 0, matches, float("nan"), reason=reason)


@dataclass(frozen=True, eq=False)
class SessionRelocalisation:
    """Per tried frame (F,): frame number, t_ns (the trajectory stage's camera times), ok,
    T_map_cam (F, 4, 4) (cam0), inliers, median_px; ``ms`` per frame; ``T_imu_cam`` of cam0."""

    frame: NDArray[np.int64]
    t_ns: NDArray[np.int64]
    ok: NDArray[np.bool_]
    T_map_cam: NDArray[np.float64]
    inliers: NDArray[np.int64]
    median_px: NDArray[np.float64]
    T_imu_cam: NDArray[np.float64]
    ms: NDArray[np.float64]
    reasons: tuple[str, ...] = ()

    @property
    def T_map_imu(self) -> NDArray[np.float64]:
        return self.T_map_cam @ geometry.se3_inverse(self.T_imu_cam)

    def share_ok(self) -> float:
        return float(np.mean(self.ok)) if len(self.ok) else 0.0


def relocalise_session(
    session: Session,
    rig: str,
    m: Map,
    step: int = 1,
    frames: Sequence[int] | None = None,
    settings: RelocSettings = RelocSettings(),
    transform: Any = None,
) -> SessionRelocalisation:
    """Relocalise every ``step``-th frame (or the given frame numbers) of ``rig``'s cam0 in ``m``.

    ``transform``: an optional image -> image function applied first (tests use it to feed
    images the map must reject)."""
    calib = session.calibration(rig)
    if calib is None or not calib.cameras:
        raise MapError(f"session {session.id} has no camera calibration for {rig}", session.path)
    cam = calib.cameras[0]
    stream = f"{rig}.{cam.name}"
    t_all = stream_times(session, stream, recorded=False).astype(np.int64)
    wanted = sorted(set(frames)) if frames is not None else list(range(0, len(t_all), max(1, step)))
    reloc = Relocaliser(m, cam.camera, settings)
    want = set(wanted)
    res: list[Relocalisation] = []
    idx: list[int] = []
    ms: list[float] = []
    if wanted:
        with Progress(f"relocalise in {m.name}", len(wanted)) as bar:
            for i, img in session.frames(stream, 0, wanted[-1] + 1):
                if i not in want:
                    continue
                t0 = time.perf_counter()
                res.append(reloc(transform(img) if transform is not None else img))
                ms.append((time.perf_counter() - t0) * 1e3)
                idx.append(i)
                bar.advance()
    fr = np.asarray(idx, np.int64)
    return SessionRelocalisation(
        frame=fr,
        t_ns=t_all[fr] if len(fr) else np.zeros(0, np.int64),
        ok=np.array([r.ok for r in res], bool),
        T_map_cam=np.array([r.T_map_cam for r in res]).reshape(-1, 4, 4),
        inliers=np.array([r.inliers for r in res], np.int64),
        median_px=np.array([r.median_px for r in res], np.float64),
        T_imu_cam=np.asarray(cam.T_imu_cam, np.float64),
        ms=np.asarray(ms),
        reasons=tuple(r.reason for r in res),
    )
