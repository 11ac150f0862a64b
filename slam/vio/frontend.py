"""The VIO front end: KLT feature tracks (gyro-predicted), stereo matches and tags per frame.

Tracking happens in pixels of the raw (possibly fisheye) image; bearings come from
``CameraModel.unproject`` and are handed on as normalised coordinates with a per-point
noise that includes the local lens stretch. Features further than ``max_angle_deg`` off
the optical axis are dropped (the back end works on the z > 0 normalised plane).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.model import CameraModel
from slam.vio.measurements import FrameObservations, TagObservation
from slam.vio.tags import detect_tags, local_focal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrontendSettings:
    max_features: int = 180
    min_distance_px: int = 20
    corner_quality: float = 0.01
    pixel_sigma: float = 1.0
    klt_window: int = 21
    klt_levels: int = 3
    fb_max_px: float = 0.7  # forward-backward KLT disagreement above this rejects a track
    ransac_px: float = 1.0
    max_angle_deg: float = 75.0
    stereo_epipolar_px: float = 1.5
    tags: bool = True
    tag_size_m: float = 0.08
    # RGB-D: a depth image registered to cam0 becomes a virtual right camera this far along cam0's
    # x (ORB-SLAM's trick): x1 = x0 - b / z, so the back end's stereo factors carry the depth.
    depth_baseline_m: float = 0.05
    depth_range_m: tuple[float, float] = (0.1, 4.0)
    depth_max_step: float = 0.03  # relative depth spread in a 3x3 patch above this: an edge, no depth
    rolling_shutter: bool = True  # model the camera's readout (``CameraModel.readout_s``) when it has one

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> FrontendSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in m.items() if k in names})


def depth_camera_pose(settings: FrontendSettings) -> NDArray[np.float64]:
    """T_cam0_cam1 (4, 4) of the virtual right camera an RGB-D frame is turned into."""
    return geometry.se3(np.eye(3), [settings.depth_baseline_m, 0.0, 0.0])


def normalised(
    camera: CameraModel, px: NDArray[np.float64], pixel_sigma: float, rays: NDArray[np.float64] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Normalised coordinates (K, 2) of pixels (K, 2) and their 1-sigma noise (K,); rays (K, 3) if known."""
    if len(px) == 0:
        return np.zeros((0, 2)), np.zeros(0)
    rays = camera.unproject(px) if rays is None else rays
    xy = rays[:, :2] / np.maximum(rays[:, 2:3], 1e-9)
    return xy, pixel_sigma / local_focal(camera, px, rays)


class Frontend:
    """Stateful per-rig tracker; call ``process`` with frames in time order."""

    def __init__(
        self,
        cam0: CameraModel,
        settings: FrontendSettings,
        cam1: CameraModel | None = None,
        T_cam1_cam0: NDArray[np.float64] | None = None,
        mask0: NDArray[np.uint8] | None = None,
    ) -> None:
        self.cam0, self.cam1, self.s = cam0, cam1, settings
        self.readout_s = cam0.readout_s if settings.rolling_shutter else 0.0
        self.T_cam1_cam0 = T_cam1_cam0
        self.static_mask = mask0 if mask0 is not None else np.full((cam0.height, cam0.width), 255, np.uint8)
        # Pixels beyond max_angle_deg never yield usable bearings: mask them out of detection too.
        u, v = np.meshgrid(np.arange(0, cam0.width, 4.0), np.arange(0, cam0.height, 4.0))
        rays = cam0.unproject(np.column_stack([u.ravel(), v.ravel()]))
        wide = (rays[:, 2] < np.cos(np.radians(settings.max_angle_deg))).reshape(u.shape)
        wide_full = cv2.resize(wide.astype(np.uint8), (cam0.width, cam0.height), interpolation=cv2.INTER_NEAREST)
        self.static_mask = np.where(wide_full > 0, 0, self.static_mask).astype(np.uint8)
        self.prev_img: NDArray[np.uint8] | None = None
        self.prev_t_ns: int | None = None
        #: cam0 rotation rate (rad/s, cam0 frame) over the last frame interval, from the gyro prior.
        self.omega_cam0: NDArray[np.float64] | None = None
        self.prev_px = np.zeros((0, 2), np.float32)
        self.prev_rays = np.zeros((0, 3))  # unit bearings of prev_px (unprojection is iterative: done once)
        self.prev_ids = np.zeros(0, np.int64)
        # Per track: where it was born, and how far the gyro says the scene should have moved since.
        self.birth_px = np.zeros((0, 2), np.float32)
        self.expected_px = np.zeros(0, np.float64)
        self.rig_fixed = 0
        self.next_id = 0
        self.lk: dict[str, Any] = dict(
            winSize=(settings.klt_window, settings.klt_window),
            maxLevel=settings.klt_levels,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
        )

    def _predict(
        self, px: NDArray[np.float32], rays_prev: NDArray[np.float64], R_cur_prev: NDArray[np.float64] | None
    ) -> NDArray[np.float32]:
        """Where a pure rotation (from the gyro) moves the features: keeps KLT locked in fast turns."""
        if R_cur_prev is None or len(px) == 0:
            return px.copy()
        rays = rays_prev @ R_cur_prev.T
        pred = self.cam0.project(rays)
        bad = ~np.isfinite(pred).all(axis=1)
        pred[bad] = px[bad]
        return pred.astype(np.float32)

    def process(
        self,
        t_ns: int,
        img0: NDArray[np.uint8],
        img1: NDArray[np.uint8] | None = None,
        R_cam_cur_prev: NDArray[np.float64] | None = None,
        keyframe: bool = True,
        depth_m: NDArray[np.float32] | None = None,
    ) -> FrameObservations:
        """Track into img0; stereo matching and tag detection only on keyframes (the back end uses no others).

        ``depth_m``: (H, W) z-depth in metres registered to cam0 (0 or NaN: none), for a mono
        camera with depth; its features get virtual right-camera coordinates (``depth_camera_pose``).
        """
        s = self.s
        px, ids = np.zeros((0, 2), np.float32), np.zeros(0, np.int64)
        n_tracked_raw = 0
        if R_cam_cur_prev is not None and self.prev_t_ns is not None and t_ns > self.prev_t_ns:
            # R_cur_prev = exp(-omega dt) for a body rate omega over the interval.
            self.omega_cam0 = -geometry.so3_log(np.asarray(R_cam_cur_prev)) / ((t_ns - self.prev_t_ns) * 1e-9)
        if self.prev_img is not None and len(self.prev_px):
            guess = self._predict(self.prev_px, self.prev_rays, R_cam_cur_prev)
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(
                self.prev_img, img0, self.prev_px, guess.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **self.lk
            )
            back, st2, _ = cv2.calcOpticalFlowPyrLK(
                img0, self.prev_img, nxt, self.prev_px.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **self.lk
            )
            ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm(back - self.prev_px, axis=1) < s.fb_max_px)
            ok &= self._inside(nxt)
            n_tracked_raw = int(ok.sum())
            rays_nxt = np.zeros((len(nxt), 3))
            rays_nxt[ok] = self.cam0.unproject(nxt[ok].astype(np.float64))
            ok &= self._epipolar_inliers(self.prev_rays, rays_nxt, ok)
            expected = self.expected_px + np.linalg.norm(guess - self.prev_px, axis=1)
            ok &= ~self._rig_fixed(nxt, self.birth_px, expected)
            px, ids, rays = nxt[ok], self.prev_ids[ok], rays_nxt[ok]
            birth, expected = self.birth_px[ok], expected[ok]
        else:
            birth, expected, rays = px.copy(), np.zeros(0), np.zeros((0, 3))
        n_old = len(px)
        px, ids = self._top_up(img0, px, ids)
        if len(px) > n_old:
            rays = np.concatenate([rays, self.cam0.unproject(px[n_old:].astype(np.float64))])
        self.birth_px = np.concatenate([birth, px[n_old:]])
        self.expected_px = np.concatenate([expected, np.zeros(len(px) - n_old)])
        xy0, sig0 = normalised(self.cam0, px.astype(np.float64), s.pixel_sigma, rays)
        if self.readout_s > 0 and len(rays):
            moved = self._deskew(self.cam0, px, rays)
            xy0 = moved[:, :2] / np.maximum(moved[:, 2:3], 1e-9)
        xy1 = self._stereo(img0, img1, px) if keyframe and img1 is not None and self.cam1 is not None else None
        if keyframe and depth_m is not None and self.cam1 is None:
            xy1 = self._from_depth(depth_m, px, xy0)
        tags: tuple[TagObservation, ...] = ()
        if s.tags and keyframe:
            tags = tuple(detect_tags(img0, self.cam0, s.tag_size_m, deskew=lambda p, r: self._deskew(self.cam0, p, r)))
        self.prev_img, self.prev_px, self.prev_ids, self.prev_rays = img0, px, ids, rays
        self.prev_t_ns = int(t_ns)
        stats = {
            "tracked": float(n_tracked_raw),
            "features": float(len(ids)),
            "rig_fixed": float(self.rig_fixed),
            "stereo": float(np.isfinite(xy1[:, 0]).sum()) if xy1 is not None else 0.0,
        }
        # A rolling-shutter frame is observed at its middle row: half the readout after its stamp.
        t_obs = int(t_ns) + int(round(0.5e9 * self.readout_s))
        return FrameObservations(t_obs, ids.copy(), xy0, sig0, xy1, tags, stats)

    def _rig_fixed(
        self, px: NDArray[np.float32], birth: NDArray[np.float32], expected: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        """Features on the rig itself (gripper fingers): they stay put in the image while the gyro
        says the scene should have moved a lot. They are dropped and their spot masked for good."""
        fixed = (np.linalg.norm(px - birth, axis=1) < 2.0) & (expected > 40.0)
        for x, y in px[fixed]:
            cv2.circle(self.static_mask, (int(x), int(y)), self.s.min_distance_px, 0, -1)
        self.rig_fixed += int(fixed.sum())
        return fixed

    def _inside(self, px: NDArray[np.float32]) -> NDArray[np.bool_]:
        x, y = px[:, 0], px[:, 1]
        ok = (x >= 1) & (y >= 1) & (x < self.cam0.width - 1) & (y < self.cam0.height - 1)
        xi = np.clip(x.astype(int), 0, self.cam0.width - 1)
        yi = np.clip(y.astype(int), 0, self.cam0.height - 1)
        return ok & (self.static_mask[yi, xi] > 0)

    def _epipolar_inliers(
        self, rays0: NDArray[np.float64], rays1: NDArray[np.float64], ok: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """RANSAC on the essential matrix between the previous and current bearings (K, 3)."""
        idx = np.flatnonzero(ok)
        out = np.zeros(len(ok), bool)
        if len(idx) < 12:
            out[idx] = True
            return out
        a = rays0[idx, :2] / np.maximum(rays0[idx, 2:3], 1e-9)
        b = rays1[idx, :2] / np.maximum(rays1[idx, 2:3], 1e-9)
        if np.max(np.linalg.norm(a - b, axis=1)) < 2.0 / self.cam0.fx:
            out[idx] = True  # no motion: the essential matrix is undefined and every track agrees
            return out
        E, inl = cv2.findEssentialMat(
            a, b, np.eye(3), method=cv2.RANSAC, prob=0.999, threshold=self.s.ransac_px / self.cam0.fx
        )
        if E is None or inl is None:
            out[idx] = True
            return out
        out[idx] = inl.ravel() > 0
        return out

    def _top_up(
        self, img: NDArray[np.uint8], px: NDArray[np.float32], ids: NDArray[np.int64]
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        need = self.s.max_features - len(px)
        if need < self.s.max_features // 5:
            return px, ids
        mask = self.static_mask.copy()
        for x, y in px:
            cv2.circle(mask, (int(x), int(y)), self.s.min_distance_px, 0, -1)
        new = cv2.goodFeaturesToTrack(img, need, self.s.corner_quality, self.s.min_distance_px, mask=mask)
        if new is None:
            return px, ids
        new = new.reshape(-1, 2).astype(np.float32)
        new_ids = np.arange(self.next_id, self.next_id + len(new), dtype=np.int64)
        self.next_id += len(new)
        return np.concatenate([px, new]), np.concatenate([ids, new_ids])

    def _deskew(
        self, camera: CameraModel, px: NDArray[Any], rays: NDArray[np.float64], omega_cam: NDArray | None = None
    ) -> NDArray[np.float64]:
        """Bearings (K, 3) of a rolling-shutter camera moved to its middle row's time.

        Row v is read ``readout_s * v / (H - 1)`` after row 0 (the frame's stamp). Observing the
        frame at its middle row halves the largest time error of treating it as one instant;
        over the remaining dt the camera turned by ``omega dt`` (the gyro's rate over the last
        frame interval), so the ray seen at row v points along ``exp(omega dt) r`` in the
        middle-row camera. Translation during the readout is not modelled: on the 30 ms readout
        virtual rig the middle-row time takes ATE from 0.30 to 0.07 cm, the rotation a little more.
        """
        omega = self.omega_cam0 if omega_cam is None else omega_cam
        if self.readout_s <= 0 or camera.readout_s <= 0 or omega is None or len(rays) == 0:
            return rays
        dt = camera.readout_s * (np.asarray(px, np.float64)[:, 1] / max(camera.height - 1, 1) - 0.5)
        R = geometry.so3_exp(dt[:, None] * omega[None, :])  # (K, 3, 3): R_cam(row0)_cam(row v)
        return np.einsum("kij,kj->ki", R, rays)

    def _from_depth(
        self, depth_m: NDArray[np.float32], px: NDArray[np.float32], xy0: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Virtual right-camera coordinates (K, 2) from registered depth (NaN where none or at an edge)."""
        s = self.s
        out = np.full((len(px), 2), np.nan)
        if len(px) == 0:
            return out
        d = np.nan_to_num(np.asarray(depth_m, np.float32), nan=0.0)
        lo, hi = cv2.erode(d, np.ones((3, 3), np.uint8)), cv2.dilate(d, np.ones((3, 3), np.uint8))
        xi = np.clip(np.round(px[:, 0]).astype(int), 0, d.shape[1] - 1)
        yi = np.clip(np.round(px[:, 1]).astype(int), 0, d.shape[0] - 1)
        z, zlo, zhi = d[yi, xi], lo[yi, xi], hi[yi, xi]
        ok = (z > s.depth_range_m[0]) & (z < s.depth_range_m[1]) & (zlo > 0) & (zhi - zlo < s.depth_max_step * z)
        # The depth is along the optical axis; xy0 is the normalised (x/z, y/z) of the same ray.
        out[ok, 0] = xy0[ok, 0] - s.depth_baseline_m / z[ok]
        out[ok, 1] = xy0[ok, 1]
        return out

    def _stereo(self, img0: NDArray[np.uint8], img1: NDArray[np.uint8], px: NDArray[np.float32]) -> NDArray[np.float64]:
        """cam1 normalised coordinates of each cam0 feature (NaN where no consistent match)."""
        assert self.cam1 is not None and self.T_cam1_cam0 is not None
        out = np.full((len(px), 2), np.nan)
        if len(px) == 0:
            return out
        # Initial guess: the bearing at 1 m depth seen from cam1 (disparity of a mid-range point).
        rays0 = self.cam0.unproject(px.astype(np.float64))
        guess = self.cam1.project(geometry.transform_points(self.T_cam1_cam0, rays0 * 1.0))
        guess = np.where(np.isfinite(guess), guess, px).astype(np.float32)
        p1, st, _ = cv2.calcOpticalFlowPyrLK(
            img0, img1, px, guess.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **self.lk
        )
        back, st2, _ = cv2.calcOpticalFlowPyrLK(
            img1, img0, p1, px.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **self.lk
        )
        ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm(back - px, axis=1) < self.s.fb_max_px)
        ok &= (p1[:, 0] >= 0) & (p1[:, 1] >= 0) & (p1[:, 0] < self.cam1.width) & (p1[:, 1] < self.cam1.height)
        if not ok.any():
            return out
        rays1 = self.cam1.unproject(p1[ok].astype(np.float64))
        R, t = self.T_cam1_cam0[:3, :3], self.T_cam1_cam0[:3, 3]
        E = geometry.skew(t / np.linalg.norm(t)) @ R
        # Epipolar distance of the cam1 ray to the plane through the baseline and the cam0 ray.
        n = rays0[ok] @ E.T
        dist = np.abs(np.sum(rays1 * n, axis=1)) / np.maximum(np.linalg.norm(n, axis=1), 1e-12)
        front = rays1[:, 2] > np.cos(np.radians(self.s.max_angle_deg))
        good = (dist < self.s.stereo_epipolar_px / self.cam1.fx) & front
        idx = np.flatnonzero(ok)[good]
        if self.omega_cam0 is not None:
            omega_cam1 = self.T_cam1_cam0[:3, :3] @ self.omega_cam0
            rays1 = self._deskew(self.cam1, p1[ok], rays1, omega_cam1)
        out[idx] = rays1[good, :2] / rays1[good, 2:3]
        return out
