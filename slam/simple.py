"""A simple, honest trajectory estimator: stereo visual odometry + AprilTag PnP + gyro.

It is the baseline behind the trajectory stage until the VIO back end
(``slam.vio``) takes over, and a cross-check for it afterwards.

* Visual odometry (stereo rigs): KLT-tracked corners triangulated by stereo at a
  keyframe, each frame's pose by PnP-RANSAC against the keyframe's points.
* Tags: every AprilTag (tag36h11) gives the camera pose relative to the tag. The table
  tag (given, or the most often seen) defines the world (``world_anchor: tag``, z out
  of the table = up); other tags are registered in it when seen together with it.
* Fusion (non-causal): the correction between the odometry frame and the world, known
  at tag frames, is interpolated between them (SE(3) SLERP), so drift between two
  sightings is spread over the frames between them using the future as well as the past.
* Without tags the world is the first pose, gravity-aligned from the accelerometer
  (``world_anchor: first_pose``).
* States are honest: ``ok`` where a tag was seen or the odometry is bracketed by tag
  frames that agree with it (or, without tags, where PnP had enough inliers);
  ``interpolated`` where the odometry failed and the gyro bridged a short gap, or the
  bracketing tags disagree; ``lost`` beyond that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from capture.session import Session
from capture.timebase import stream_corrections, stream_times
from democap import geometry
from democap.errors import StageError
from democap.model import CameraModel, TrackState, Trajectory
from democap.progress import Progress
from slam.imu import ImuSamples, gyro_rotation, load_imu

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimpleSettings:
    max_features: int = 300
    min_inliers: int = 25
    ok_inliers: int = 60  # fewer PnP inliers than this between tag frames: 'interpolated', not 'ok'
    max_blur_px: float = 2.0  # tags are not used as anchors when rotation smears the image more than this
    keyframe_min_ratio: float = 0.5
    reprojection_px: float = 1.5
    tag_size_m: float = 0.08
    tag_max_px: float = 0.8  # a tag pose with a larger RMS corner residual (blur, glancing view) is not used
    # ... nor one whose corners, at 0.5 px noise, leave the camera's position looser than this (1 sigma):
    # one or two far tags fit well and still put the camera centimetres off along the view.
    tag_max_sigma_m: float = 0.008
    # ... nor one the odometry from the previous anchor (within anchor_check_s) puts further away.
    anchor_agree_m: float = 0.01
    anchor_check_s: float = 0.5
    max_rejects: int = 15
    table_tag_id: int | None = None
    max_bridge_s: float = 0.5  # gyro-only gaps longer than this are 'lost'
    agree_m: float = 0.02  # bracketing tag frames must agree with odometry within this
    tags: bool = True

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> SimpleSettings:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in m.items() if k in known})


# ------------------------------------------------------------------ tags


@dataclass(frozen=True, eq=False)
class TagSighting:
    tag_id: int
    T_cam_tag: NDArray[np.float64]
    reproj_px: float
    area_px: float
    corners_px: NDArray[np.float64]  # (4, 2) in the order of tag_corners()
    ambiguity: float = np.inf  # residual ratio of the second planar pose solution to the best one


def _tag_detector() -> cv2.aruco.ArucoDetector:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h11), params)


def tag_corners(size_m: float) -> NDArray[np.float64]:
    """Corner positions (4, 3) in the tag frame, in OpenCV's detection order."""
    h = size_m / 2
    return np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]], dtype=np.float64)


def pose_from_tags(
    sightings: list[TagSighting], T_world_tags: dict[int, NDArray[np.float64]], camera: CameraModel, size_m: float
) -> tuple[NDArray[np.float64], float, float] | None:
    """T_world_cam from every visible tag of known pose at once (PnP on all corners), with RMS px and the
    1-sigma camera position (m) that 0.5 px corner noise leaves (from the corners' Jacobian)."""
    usable = [x for x in sightings if x.tag_id in T_world_tags and x.reproj_px < 2.0]
    if not usable:
        return None
    if len(usable) == 1 and usable[0].ambiguity < 5.0:
        return None  # one tag whose mirrored pose fits almost as well: centimetres of error, refuse it
    obj = tag_corners(size_m)
    pts_w = np.concatenate([geometry.transform_points(T_world_tags[x.tag_id], obj) for x in usable])
    px = np.concatenate([x.corners_px for x in usable])
    rays = camera.unproject(px)
    norm = rays[:, :2] / rays[:, 2:3]
    best = max(usable, key=lambda x: x.area_px)
    T_cam_world0 = best.T_cam_tag @ geometry.se3_inverse(T_world_tags[best.tag_id])
    rvec0, _ = cv2.Rodrigues(T_cam_world0[:3, :3])
    # OpenCV wants tvec as (3, 1): a (3,) array is silently mis-refined.
    rvec, tvec = cv2.solvePnPRefineLM(pts_w, norm, np.eye(3), None, rvec0, T_cam_world0[:3, 3].reshape(3, 1).copy())
    T_cam_world = geometry.se3(cv2.Rodrigues(rvec)[0], tvec.ravel())
    reproj = camera.project(geometry.transform_points(T_cam_world, pts_w))
    err = float(np.sqrt(np.mean(np.sum((reproj - px) ** 2, axis=1))))
    T_world_cam = geometry.se3_inverse(T_cam_world)
    return T_world_cam, err, _position_sigma(T_world_cam, pts_w, camera)


def _anchors_agreeing_with_odometry(
    anchor: NDArray[np.bool_], T_world_cam: NDArray[np.float64], T_vo: NDArray[np.float64],
    vo_ok: NDArray[np.bool_], t_ns: NDArray[np.int64], s: SimpleSettings,
) -> NDArray[np.bool_]:  # fmt: skip
    """Drop tag anchors that the stereo odometry from the previous kept anchor contradicts.

    A tag smeared by fast translation (the blur gate only sees rotation) still fits a square,
    centimetres off; odometry over the last fraction of a second is better than that. After
    ``max_rejects`` rejections in a row the odometry, not the tags, is the suspect: the
    current anchor is kept and becomes the reference.
    """
    out = anchor.copy()
    ref = None
    rejected = 0
    for k in np.flatnonzero(anchor):
        if ref is None or not (vo_ok[ref] and vo_ok[k]) or (t_ns[k] - t_ns[ref]) * 1e-9 > s.anchor_check_s:
            ref, rejected = k, 0
            continue
        C = T_world_cam[ref] @ geometry.se3_inverse(T_vo[ref])
        jump = float(np.linalg.norm((C @ T_vo[k])[:3, 3] - T_world_cam[k][:3, 3]))
        if jump > s.anchor_agree_m and rejected < s.max_rejects:
            out[k] = False
            rejected += 1
        else:
            ref, rejected = k, 0
    return out


def _position_sigma(T_world_cam: NDArray[np.float64], pts_w: NDArray[np.float64], camera: CameraModel) -> float:
    """1-sigma (m) of the camera centre for 0.5 px noise on the projections of pts_w (N, 3)."""
    eps = 1e-6

    def proj(xi: NDArray[np.float64]) -> NDArray[np.float64]:
        T = T_world_cam @ geometry.se3(geometry.so3_exp(xi[:3]), xi[3:])
        return camera.project(geometry.transform_points(geometry.se3_inverse(T), pts_w)).ravel()

    base = proj(np.zeros(6))
    J = np.stack([(proj(np.eye(6)[k] * eps) - base) / eps for k in range(6)], axis=1)
    if not np.isfinite(J).all():
        return float("inf")
    try:
        cov = np.linalg.inv(J.T @ J) * 0.5**2
    except np.linalg.LinAlgError:
        return float("inf")
    return float(np.sqrt(max(np.trace(cov[3:, 3:]), 0.0)))


def detect_tags(
    detector: cv2.aruco.ArucoDetector, image: NDArray[np.uint8], camera: CameraModel, size_m: float
) -> list[TagSighting]:
    """Tags in an image with their pose ``T_cam_tag`` (OpenCV marker frame: z out of the tag)."""
    corners, ids, _ = detector.detectMarkers(image)
    if ids is None:
        return []
    obj = tag_corners(size_m)
    out = []
    for c, i in zip(corners, ids.ravel(), strict=True):
        px = c.reshape(4, 2).astype(np.float64)
        rays = camera.unproject(px)
        norm = rays[:, :2] / rays[:, 2:3]
        # A planar square has two pose solutions; keep both residuals to judge the ambiguity.
        n, rvecs, tvecs, _ = cv2.solvePnPGeneric(obj, norm, np.eye(3), None, flags=cv2.SOLVEPNP_IPPE_SQUARE)
        if n == 0:
            continue
        errs, poses = [], []
        for rvec, tvec in zip(rvecs, tvecs, strict=True):
            T = geometry.se3(cv2.Rodrigues(rvec)[0], np.asarray(tvec).ravel())
            reproj = camera.project(geometry.transform_points(T, obj))
            errs.append(float(np.sqrt(np.mean(np.sum((reproj - px) ** 2, axis=1)))))
            poses.append(T)
        order = np.argsort(errs)
        best = int(order[0])
        ambiguity = errs[int(order[1])] / max(errs[best], 1e-3) if len(errs) > 1 else np.inf
        out.append(
            TagSighting(
                int(i), poses[best], errs[best], float(cv2.contourArea(px.astype(np.float32))), px, float(ambiguity)
            )
        )
    return out


# ------------------------------------------------------------ odometry


@dataclass
class _Keyframe:
    pts_px: NDArray[np.float32]  # (M, 2) current pixel positions of the keyframe's points
    X_kf: NDArray[np.float64]  # (M, 3) points in the keyframe camera frame
    T_vo_kf: NDArray[np.float64]  # keyframe camera pose in the odometry frame
    n0: int


@dataclass
class StereoOdometry:
    cam0: CameraModel
    cam1: CameraModel
    T_cam1_cam0: NDArray[np.float64]
    settings: SimpleSettings
    kf: _Keyframe | None = None
    prev: NDArray[np.uint8] | None = None
    T_vo_cam: NDArray[np.float64] = field(default_factory=lambda: np.eye(4))

    def _triangulate(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> tuple[NDArray, NDArray]:
        pts = cv2.goodFeaturesToTrack(left, self.settings.max_features, 0.01, 12, blockSize=5)
        if pts is None or len(pts) < 8:
            return np.zeros((0, 2), np.float32), np.zeros((0, 3))
        pts = pts.reshape(-1, 2).astype(np.float32)
        pr, st, _ = cv2.calcOpticalFlowPyrLK(left, right, pts, None, winSize=(21, 21), maxLevel=3)
        ok = st.ravel() == 1
        pts, pr = pts[ok], pr[ok]
        b0 = self.cam0.unproject(pts.astype(np.float64))
        b1 = self.cam1.unproject(pr.astype(np.float64))
        # Midpoint triangulation of bearing pairs in cam0's frame.
        R, t = self.T_cam1_cam0[:3, :3], self.T_cam1_cam0[:3, 3]
        c1 = -R.T @ t  # cam1 centre in cam0
        d1 = b1 @ R  # cam1 bearings rotated into cam0
        w0 = b0
        a = np.sum(w0 * w0, 1)
        b = np.sum(w0 * d1, 1)
        c = np.sum(d1 * d1, 1)
        d = w0 @ (-c1) * -1
        e = d1 @ (-c1) * -1
        den = a * c - b * b
        good = den > 1e-9
        s = np.where(good, (c * d - b * e) / np.where(good, den, 1), 0)
        u = np.where(good, (b * d - a * e) / np.where(good, den, 1), 0)
        X = 0.5 * (w0 * s[:, None] + (c1 + d1 * u[:, None]))
        gap = np.linalg.norm(w0 * s[:, None] - (c1 + d1 * u[:, None]), axis=1)
        depth = X[:, 2]
        keep = good & (depth > 0.08) & (depth < 8.0) & (gap < 0.01 * depth) & (u > 0)
        return pts[keep], X[keep]

    def _new_keyframe(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> None:
        pts, X = self._triangulate(left, right)
        self.kf = _Keyframe(pts, X, self.T_vo_cam.copy(), len(pts)) if len(pts) >= self.settings.min_inliers else None

    def step(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> tuple[bool, int]:
        """Advance one stereo frame; returns (pose found, inlier count). Pose in ``T_vo_cam``."""
        ok, inliers = False, 0
        if self.kf is not None and self.prev is not None and len(self.kf.pts_px):
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(self.prev, left, self.kf.pts_px, None, winSize=(21, 21), maxLevel=3)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(left, self.prev, nxt, None, winSize=(21, 21), maxLevel=3)
            good = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm(back - self.kf.pts_px, axis=1) < 0.7)
            self.kf.pts_px, self.kf.X_kf = nxt[good], self.kf.X_kf[good]
            if len(self.kf.pts_px) >= self.settings.min_inliers:
                rays = self.cam0.unproject(self.kf.pts_px.astype(np.float64))
                norm = rays[:, :2] / rays[:, 2:3]
                found, rvec, tvec, inl = cv2.solvePnPRansac(
                    self.kf.X_kf,
                    norm,
                    np.eye(3),
                    None,
                    iterationsCount=100,
                    reprojectionError=self.settings.reprojection_px / self.cam0.fx,
                    confidence=0.999,
                    flags=cv2.SOLVEPNP_EPNP,
                )
                if found and inl is not None and len(inl) >= self.settings.min_inliers:
                    idx = inl.ravel()
                    rvec, tvec = cv2.solvePnPRefineLM(self.kf.X_kf[idx], norm[idx], np.eye(3), None, rvec, tvec)
                    T_cam_kf = geometry.se3(cv2.Rodrigues(rvec)[0], tvec.ravel())
                    self.T_vo_cam = self.kf.T_vo_kf @ geometry.se3_inverse(T_cam_kf)
                    ok, inliers = True, len(idx)
                    self.kf.pts_px, self.kf.X_kf = self.kf.pts_px[idx], self.kf.X_kf[idx]
        self.prev = left
        if (
            not ok
            or self.kf is None
            or len(self.kf.pts_px) < max(self.settings.min_inliers * 2, self.settings.keyframe_min_ratio * self.kf.n0)
        ):
            self._new_keyframe(left, right)
            if self.kf is None and not ok:
                return False, 0
        return ok, inliers


# ------------------------------------------------------------------ stage


def _rotation_blur_px(
    imu: ImuSamples | None,
    t_cam: NDArray[np.int64],
    exposure_ns: NDArray[np.int64] | None,
    focal_px: float,
) -> NDArray[np.float64]:
    """Image smear (px) from rotation during each frame's exposure: |gyro| * exposure * f."""
    if imu is None or exposure_ns is None or not np.any(exposure_ns > 0):
        return np.zeros(len(t_cam))
    rate = np.linalg.norm(imu.gyro_imu, axis=1)
    rate = np.where(np.isfinite(rate), rate, 0.0)
    return np.interp(t_cam.astype(np.float64), imu.t_ns.astype(np.float64), rate) * exposure_ns * 1e-9 * focal_px


def estimate(session: Session, rig: str, settings: Mapping[str, Any]) -> tuple[Trajectory, dict[str, Any]]:
    s = SimpleSettings.from_mapping(settings)
    calib = session.calibration(rig)
    if calib is None or not calib.cameras:
        raise StageError(
            f"session {session.id} has no camera calibration for {rig}; calibrate or import one", session.path
        )
    cams = session.streams_of("video", rig)
    cam_names = [c.name for c in calib.cameras if f"{rig}.{c.name}" in cams]
    if not cam_names:
        raise StageError(
            f"no video stream of {rig} matches its calibration ({[c.name for c in calib.cameras]})", session.path
        )
    c0 = calib.camera(cam_names[0])
    c1 = calib.camera(cam_names[1]) if len(cam_names) > 1 else None
    s0 = f"{rig}.{c0.name}"
    ft = session.columns(s0)
    t_cam, corr = stream_times(session, s0, ft, recorded=False), stream_corrections(session, s0, recorded=False)
    n = len(t_cam)
    if n == 0:
        raise StageError(f"{s0} has no frames", session.path)
    imu = load_imu(session, rig)
    tag_size = float(session.manifest.get("workspace", {}).get("tag_size_m", s.tag_size_m))
    table_tag = (
        s.table_tag_id if s.table_tag_id is not None else session.manifest.get("workspace", {}).get("table_tag_id")
    )

    vo = StereoOdometry(c0.camera, c1.camera, geometry.se3_inverse(c1.T_imu_cam) @ c0.T_imu_cam, s) if c1 else None
    detector = _tag_detector()
    T_vo = np.repeat(np.eye(4)[None], n, axis=0)
    vo_ok = np.zeros(n, bool)
    inliers = np.zeros(n, int)
    sightings: list[list[TagSighting]] = []
    frames0 = session.frames(s0)
    frames1 = session.frames(f"{rig}.{c1.name}") if c1 else None
    with Progress(f"tracking {rig}", n) as bar:
        for k in range(n):
            _, left = next(frames0)
            left = left if left.ndim == 2 else cv2.cvtColor(left, cv2.COLOR_RGB2GRAY)
            sightings.append(detect_tags(detector, left, c0.camera, tag_size) if s.tags else [])
            if vo is not None and frames1 is not None:
                _, right = next(frames1)
                right = right if right.ndim == 2 else cv2.cvtColor(right, cv2.COLOR_RGB2GRAY)
                prior = vo.T_vo_cam.copy()
                ok, inl = vo.step(left, right)
                if not ok and k > 0 and imu is not None:
                    # Bridge with the gyro: rotate, keep position (honestly marked later).
                    R_imu = gyro_rotation(imu, int(t_cam[k - 1]), int(t_cam[k]))
                    R_cam = c0.T_imu_cam[:3, :3].T @ R_imu @ c0.T_imu_cam[:3, :3]
                    vo.T_vo_cam = prior @ geometry.se3(R_cam, np.zeros(3))
                vo_ok[k], inliers[k] = ok, inl
                T_vo[k] = vo.T_vo_cam
            bar.advance()
    vo_ok[0] = vo is not None  # the first frame defines the odometry frame

    # ------------------------------------------------------------ world
    counts: dict[int, int] = {}
    for sl in sightings:
        for x in sl:
            counts[x.tag_id] = counts.get(x.tag_id, 0) + 1
    if table_tag is None and counts:
        table_tag = max(sorted(counts), key=lambda i: counts[i])
    T_world_cam = np.full((n, 4, 4), np.nan)
    abs_ok = np.zeros(n, bool)
    abs_err = np.full(n, np.nan)
    world_anchor = "first_pose"
    T_world_tags: dict[int, NDArray[np.float64]] = {}
    workspace_tags = {
        int(k): np.asarray(v, dtype=np.float64)
        for k, v in session.manifest.get("workspace", {}).get("tags", {}).items()
    }
    if workspace_tags and any(t in counts for t in workspace_tags):
        # The workspace's surveyed tags define the world (table frame, z up).
        world_anchor = "tag"
        T_world_tags = workspace_tags
    elif table_tag is not None and table_tag in counts:
        world_anchor = "tag"
        T_world_tags[int(table_tag)] = np.eye(4)
        # Register the other tags from frames that see the table tag (median of estimates).
        cand: dict[int, list[NDArray[np.float64]]] = {}
        for sl in sightings:
            base = next((x for x in sl if x.tag_id == table_tag), None)
            if base is None:
                continue
            T_w_c = geometry.se3_inverse(base.T_cam_tag)
            for x in sl:
                if x.tag_id != table_tag:
                    cand.setdefault(x.tag_id, []).append(T_w_c @ x.T_cam_tag)
        for tid, Ts in cand.items():
            Ts_a = np.array(Ts)
            med = np.median(Ts_a[:, :3, 3], axis=0)
            T_world_tags[tid] = Ts_a[int(np.argmin(np.linalg.norm(Ts_a[:, :3, 3] - med, axis=1)))]
    if world_anchor == "tag":
        blur = _rotation_blur_px(imu, t_cam, ft.get("exposure_ns"), c0.camera.fx)
        for k, sl in enumerate(sightings):
            if blur[k] > s.max_blur_px:
                continue  # a blurred tag still fits a square, just in the wrong place: no residual warns
            found = pose_from_tags(sl, T_world_tags, c0.camera, tag_size)
            if found is not None and found[1] < s.tag_max_px and found[2] < s.tag_max_sigma_m:
                T_world_cam[k], abs_err[k], _ = found
                abs_ok[k] = True

    state = np.full(n, TrackState.LOST, dtype=np.uint8)
    quality = np.zeros(n, np.float32)
    reason = ""
    if world_anchor == "tag":
        if vo is not None:
            abs_ok = _anchors_agreeing_with_odometry(abs_ok, T_world_cam, T_vo, vo_ok, t_cam, s)
        A = np.flatnonzero(abs_ok)
        if vo is not None:
            C = T_world_cam[A] @ geometry.se3_inverse(T_vo[A])  # odometry frame -> world, at tag frames
            C_all = geometry.interpolate_poses(t_cam[A], C, t_cam)
            fused = C_all @ T_vo
            T_world_cam = np.where(abs_ok[:, None, None], T_world_cam, fused)
            # Odometry between two tag frames is trusted only if, carried from the first with the
            # first's correction, it lands on the second within ``agree_m``.
            jump = np.full(n, np.inf)
            for i in range(len(A) - 1):
                a, b = A[i], A[i + 1]
                predicted = C[i] @ T_vo[b]
                jump[a + 1 : b] = np.linalg.norm(predicted[:3, 3] - T_world_cam[b][:3, 3])
            between = np.zeros(n, bool)
            if len(A):
                between[A[0] : A[-1] + 1] = True
            # Trust odometry only when it is well constrained and the bracketing tags agree with it.
            good_vo = vo_ok & between & (jump < s.agree_m) & (inliers >= s.ok_inliers)
            state[good_vo] = TrackState.OK
            state[~good_vo & between] = TrackState.INTERPOLATED
            quality[good_vo] = np.clip(inliers[good_vo] / 100.0, 0.2, 1.0)
            quality[~good_vo & between] = 0.2
        else:
            # Mono: tags only; poses between sightings interpolated.
            if len(A):
                T_world_cam = geometry.interpolate_poses(t_cam[A], T_world_cam[A], t_cam)
                gap_ok = np.zeros(n, bool)
                gap_ok[A[0] : A[-1] + 1] = True
                state[gap_ok] = TrackState.INTERPOLATED
                quality[gap_ok] = 0.3
        state[abs_ok] = TrackState.OK
        quality[abs_ok] = np.clip(1.0 - abs_err[abs_ok] / (2 * s.tag_max_px), 0.3, 1.0)
        # Before the first and after the last sighting there is no anchor: extrapolated poses are lost.
        if vo is None:
            T_world_cam[~np.isfinite(T_world_cam).all(axis=(1, 2))] = np.eye(4)
    elif vo is not None:
        # No tags: world = first pose, gravity aligned.
        R_world_imu0 = np.eye(3)
        if imu is not None:
            t_i, acc = imu.t_ns, imu.accel_imu
            sel = (t_i >= t_cam[0] - 250_000_000) & (t_i <= t_cam[0] + 250_000_000)
            if sel.sum() >= 5:
                R_world_imu0 = geometry.gravity_aligned_rotation(acc[sel].mean(0))
        T_world_cam0 = geometry.se3(R_world_imu0, np.zeros(3)) @ c0.T_imu_cam
        T_world_cam = T_world_cam0 @ T_vo
        state[vo_ok] = TrackState.OK
        quality[vo_ok] = np.clip(inliers[vo_ok] / 100.0, 0.2, 1.0)
    else:
        reason = (
            "mono camera without a visible tag: the simple estimator needs a stereo pair or a table "
            "tag; run the VIO estimator"
        )
        T_world_cam[:] = np.eye(4)

    # Short odometry failures bridged by the gyro are 'interpolated'; long ones 'lost'.
    if vo is not None:
        bad = ~vo_ok & (state != TrackState.OK)
        gap_start = None
        for k in range(n + 1):
            if k < n and bad[k]:
                gap_start = k if gap_start is None else gap_start
            elif gap_start is not None:
                span = (t_cam[min(k, n - 1)] - t_cam[max(gap_start - 1, 0)]) * 1e-9
                if span <= s.max_bridge_s and gap_start > 0:
                    state[gap_start:k] = TrackState.INTERPOLATED
                    quality[gap_start:k] = 0.1
                else:
                    state[gap_start:k] = TrackState.LOST
                    quality[gap_start:k] = 0.0
                gap_start = None
    if not np.isfinite(T_world_cam).all():
        T_world_cam = np.where(np.isfinite(T_world_cam).all(axis=(1, 2))[:, None, None], T_world_cam, np.eye(4))
        state[~np.isfinite(T_world_cam).all(axis=(1, 2))] = TrackState.LOST
    T_world_imu = T_world_cam @ geometry.se3_inverse(c0.T_imu_cam)
    if not reason and np.mean(state == TrackState.LOST) > 0.5:
        reason = (
            "too little texture or no overlap between the cameras: odometry found too few stereo points"
            if vo is not None and not vo_ok[1:].any()
            else "tracking lost for most of the session"
        )
    traj = Trajectory(t_cam.astype(np.int64), T_world_imu, state, quality, None, body="imu", world_anchor=world_anchor)  # type: ignore[arg-type]
    summary = {
        "method": "simple",
        "frames": n,
        "share_ok": traj.share_ok(),
        "share_lost": float(np.mean(state == TrackState.LOST)),
        "tags_seen": {int(k): v for k, v in counts.items()},
        "table_tag": table_tag,
        "world_anchor": world_anchor,
        "stereo": vo is not None,
        "reason": reason,
        "settings": asdict(s),
        "corrections": {
            s0: corr.to_dict(),
            **({f"{rig}.imu": stream_corrections(session, f"{rig}.imu", recorded=False).to_dict()} if imu else {}),
        },
    }
    return traj, summary
