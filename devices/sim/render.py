"""CPU camera renderer for the virtual tabletop: ray casting onto textured planes.

Per camera the pixel bearings are computed once (``CameraModel.unproject``: pinhole-radtan
or fisheye-equidistant). Per frame, rays of a coarse grid (every ``step`` pixels) are cast
onto all planes, their atlas coordinates bilinearly upsampled to full resolution, and only
pixels in grid cells that straddle a plane edge are cast exactly. One ``cv2.remap`` then
reads the atlas. Within a plane the atlas coordinate is a smooth function of the pixel, so
the upsampling error is far below a pixel.

Realism for SLAM: motion blur (the sharp mid-exposure image averaged along each pixel's
image motion between the poses at the exposure's start and end), rolling shutter (rows
exposed ``readout_s`` apart, poses per grid row), vignetting, brightness from exposure x
gain x illumination with clipping, shot + read noise, and the gripper fingers with their
markers fixed in the camera's view.

Timing convention: ``pose_at(dt)`` gives T_world_cam at ``dt`` seconds after the frame's
timestamp, which is the middle of the first row's exposure; row r is exposed
``readout_s * r / (height - 1)`` later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.model import CameraModel
from devices.sim.scene import PlaneSet, Scene

PoseAt = Callable[[NDArray[np.float64]], NDArray[np.float64]]
REFERENCE_EXPOSURE_S = 0.010  # textures read their own value at 10 ms, gain 1, illumination 1


@dataclass(frozen=True)
class SensorNoise:
    """Per-pixel noise in grey levels: sigma^2 = read^2 + shot * level."""

    read: float = 1.2
    shot: float = 0.06


@dataclass(frozen=True, eq=False)
class RenderedFrame:
    """image: (H, W) uint8 gray or (H, W, 3) uint8 RGB; depth_mm: (H, W) uint16 z-depth, 0 = none."""

    image: NDArray[np.uint8]
    depth_mm: NDArray[np.uint16] | None
    blur_px: float  # largest image motion (pixels) during the exposure: the blur length


@dataclass(eq=False)
class _Cast:
    idx: NDArray[np.int32]  # plane index per ray, -1 = nothing; world planes first, then fingers
    x: NDArray[np.float32]  # atlas coordinates
    y: NDArray[np.float32]
    z: NDArray[np.float32]  # depth along the optical axis, metres
    t: NDArray[np.float32] | None = None  # distance along the ray, metres (inf = miss)
    mip: NDArray[np.float32] | None = None  # weight of the half-resolution atlas (0..1)


# Ray distance t (N,) (inf = miss), plane index (N,), texture coordinates a, b (N,) in metres.
_Hits = tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32], NDArray[np.float32]]


@dataclass(frozen=True, eq=False)
class _GridBounds:
    """Per grid column / row, the range of the bearings' normalised x = X/Z (columns) and y = Y/Z (rows).

    Bearings with Z <= 0.02 widen their column and row to everything, so the test stays conservative.
    """

    col_lo: NDArray[np.float64]
    col_hi: NDArray[np.float64]
    row_lo: NDArray[np.float64]
    row_hi: NDArray[np.float64]

    @classmethod
    def of(cls, bearings_grid: NDArray[np.float32]) -> _GridBounds:
        b = bearings_grid.astype(np.float64)
        front = b[..., 2] > 0.02
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = np.where(front, b[..., 0] / b[..., 2], np.nan)
            yn = np.where(front, b[..., 1] / b[..., 2], np.nan)
        inf = np.inf
        col_lo = np.where(front.all(0), np.nanmin(np.where(front, xn, inf), 0), -inf)
        col_hi = np.where(front.all(0), np.nanmax(np.where(front, xn, -inf), 0), inf)
        row_lo = np.where(front.all(1), np.nanmin(np.where(front, yn, inf), 1), -inf)
        row_hi = np.where(front.all(1), np.nanmax(np.where(front, yn, -inf), 1), inf)
        return cls(col_lo, col_hi, row_lo, row_hi)

    def windows(self, corners_cam: NDArray[np.float64]) -> NDArray[np.int64]:
        """Grid windows (P, 4) = row0, row1, col0, col1 that can see convex polygons (P, 4, 3) in the frame.

        Polygons reaching behind the camera get the whole grid (no bound); polygons out of view
        get an empty window (row0 == row1).
        """
        P = len(corners_cam)
        out = np.zeros((P, 4), np.int64)
        out[:, 1], out[:, 3] = len(self.row_lo), len(self.col_lo)
        z = corners_cam[..., 2]
        front = z.min(axis=1) > 0.02
        if not front.any():
            return out
        c = corners_cam[front]
        xn, yn = c[..., 0] / c[..., 2], c[..., 1] / c[..., 2]
        cols = (self.col_hi[None] >= xn.min(1)[:, None]) & (self.col_lo[None] <= xn.max(1)[:, None])
        rows = (self.row_hi[None] >= yn.min(1)[:, None]) & (self.row_lo[None] <= yn.max(1)[:, None])
        seen = cols.any(1) & rows.any(1)
        win = np.zeros((len(c), 4), np.int64)
        win[:, 0] = np.argmax(rows, 1)
        win[:, 1] = rows.shape[1] - np.argmax(rows[:, ::-1], 1)
        win[:, 2] = np.argmax(cols, 1)
        win[:, 3] = cols.shape[1] - np.argmax(cols[:, ::-1], 1)
        win[~seen] = 0
        out[front] = win
        return out


def _cast_from_point(
    planes: PlaneSet,
    dirs: NDArray[np.float32],
    active: NDArray[np.bool_] | None = None,
    bounds: _GridBounds | None = None,
) -> _Hits:
    """``_cast`` for rays from the frame's origin (the camera, global shutter); planes in that frame.

    With d.n < 0 the hit's texture coordinate is a = (d . alpha) / (d . n), where
    alpha = ou n + num u is one vector per plane, so the inside test needs no division.
    With ``bounds``, dirs (gh, gw, 3) is the coarse grid and each plane is tested only on
    the grid window its outline can cover.
    """
    shape = dirs.shape[:-1]
    num = np.einsum("pi,pi->p", planes.origin, planes.normal)  # < 0 when the plane faces the origin
    ou = -np.einsum("pi,pi->p", planes.origin, planes.e_u)
    ov = -np.einsum("pi,pi->p", planes.origin, planes.e_v)
    alpha = (ou[:, None] * planes.normal + num[:, None] * planes.e_u).astype(np.float32)
    beta = (ov[:, None] * planes.normal + num[:, None] * planes.e_v).astype(np.float32)
    normal = planes.normal.astype(np.float32)
    use = num < -1e-6
    if active is not None:
        use &= active
    best = np.full(shape, np.inf, np.float32)
    k = np.zeros(shape, np.int64)
    if bounds is not None:
        o, u, v = planes.origin, planes.e_u, planes.e_v
        uw, vh = u * planes.size_m[:, :1], v * planes.size_m[:, 1:]
        wins = bounds.windows(np.stack([o, o + uw, o + vh, o + uw + vh], axis=1))
    for j in np.flatnonzero(use):
        win: tuple[slice, ...] = tuple(slice(None) for _ in shape)
        if bounds is not None:
            r0, r1, c0, c1 = wins[j]
            if r1 <= r0 or c1 <= c0:
                continue
            win = (slice(r0, r1), slice(c0, c1))
        d = dirs[win]
        dn, pa, pb = d @ normal[j], d @ alpha[j], d @ beta[j]
        w, h = np.float32(planes.size_m[j, 0]), np.float32(planes.size_m[j, 1])
        t = np.float32(num[j]) / np.minimum(dn, np.float32(-1e-9))
        ok = (pa <= 0) & (pb <= 0) & (pa >= w * dn) & (pb >= h * dn) & (dn < -1e-6) & (t < best[win])
        np.copyto(best[win], t, where=ok)  # masked copies: much faster than boolean indexing
        np.copyto(k[win], j, where=ok)
    t_flat, k_flat = best.reshape(-1), k.reshape(-1)
    flat = dirs.reshape(-1, 3)
    dn = np.minimum(np.einsum("ni,ni->n", flat, normal[k_flat]), np.float32(-1e-9))
    A = np.einsum("ni,ni->n", flat, alpha[k_flat]) / dn
    B = np.einsum("ni,ni->n", flat, beta[k_flat]) / dn
    return t_flat, k_flat, A, B


def _cast(
    planes: PlaneSet,
    origin: NDArray[np.float64],
    dirs: NDArray[np.float32],
    active: NDArray[np.bool_] | None = None,
    windows: NDArray[np.int64] | None = None,
) -> _Hits:
    """Nearest front-facing hit of rays on planes, each ray with its own origin (rolling shutter).

    dirs: (N, 3), or the coarse grid (gh, gw, 3) when ``windows`` (P, 4) limits each plane to
    the grid rows/columns it can cover; origin: (3,) or shaped like dirs. Returns flat arrays:
    ray distance t (inf = miss), plane index, texture coords a, b in metres. One plane at a
    time: the temporaries stay in cache.
    """
    shape = dirs.shape[:-1]
    best = np.full(shape, np.inf, np.float32)
    k = np.zeros(shape, np.int64)
    A = np.zeros(shape, np.float32)
    B = np.zeros(shape, np.float32)
    o = np.asarray(origin, dtype=np.float32)
    per_ray = o.ndim > 1
    o_mean = o.reshape(-1, 3).mean(axis=0).astype(np.float64)
    everything = tuple(slice(None) for _ in shape)
    for j in range(len(planes.normal)):
        if active is not None and not active[j]:
            continue
        if (o_mean - planes.origin[j]) @ planes.normal[j] <= -0.01:  # seen from behind: invisible
            continue
        win: tuple[slice, ...] = everything
        if windows is not None:
            r0, r1, c0, c1 = windows[j]
            if r1 <= r0 or c1 <= c0:
                continue
            win = (slice(r0, r1), slice(c0, c1))
        n, u, v = (x[j].astype(np.float32) for x in (planes.normal, planes.e_u, planes.e_v))
        d = dirs[win]
        rel = planes.origin[j].astype(np.float32) - (o[win] if per_ray else o)
        num, ou, ov = rel @ n, -(rel @ u), -(rel @ v)
        dn = d @ n
        t = num / np.minimum(dn, np.float32(-1e-9))
        a = ou + t * (d @ u)
        b = ov + t * (d @ v)
        w, h = np.float32(planes.size_m[j, 0]), np.float32(planes.size_m[j, 1])  # float64 would upcast arrays
        ok = (dn < -1e-6) & (t > 1e-3) & (t < best[win]) & (a >= 0) & (a <= w) & (b >= 0) & (b <= h)
        np.copyto(best[win], t, where=ok)  # masked copies: much faster than boolean indexing
        np.copyto(k[win], j, where=ok)
        np.copyto(A[win], a, where=ok)
        np.copyto(B[win], b, where=ok)
    return best.reshape(-1), k.reshape(-1), A.reshape(-1), B.reshape(-1)


class Renderer:
    """Renders one camera of a rig in a scene.

    ``T_cam0_cam``: this camera in cam0 (the fingers are fixed in cam0). ``step``: coarse
    grid spacing in pixels (4 is exact to well below a pixel at 640x480).
    """

    def __init__(
        self,
        scene: Scene,
        camera: CameraModel,
        *,
        gray: bool = True,
        T_cam0_cam: NDArray[np.float64] | None = None,
        fingers: bool = True,
        noise: SensorNoise | None = SensorNoise(),
        vignetting: float = 0.3,
        step: int = 4,
    ) -> None:
        self.scene = scene
        self.camera = camera
        self.gray = gray
        self.atlas = scene.atlas_gray if gray else scene.atlas_rgb
        if scene.screen_rect is not None:
            self.atlas = self.atlas.copy()  # the screen's texels change per frame: not the scene's to share
        # Half-resolution atlas for minified surfaces (far walls, grazing table): a 2-level mipmap
        # keeps distant texture from aliasing into flickering corners.
        h0, w0 = self.atlas.shape[:2]
        self.atlas_half = cv2.resize(self.atlas, (w0 // 2, h0 // 2), interpolation=cv2.INTER_AREA)
        self.T_cam_cam0 = geometry.se3_inverse(T_cam0_cam) if T_cam0_cam is not None else np.eye(4)
        self.fingers = fingers
        self.noise = noise
        self.step = step
        W, H = camera.width, camera.height
        self.gx = np.arange(0, W - 1 + step, step, dtype=np.float64)
        self.gy = np.arange(0, H - 1 + step, step, dtype=np.float64)
        gxx, gyy = np.meshgrid(self.gx, self.gy)
        self.coarse_bearings = camera.unproject(np.stack([gxx.ravel(), gyy.ravel()], 1)).astype(np.float32)
        xx, yy = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
        self.bearings = camera.unproject(np.stack([xx.ravel(), yy.ravel()], 1)).astype(np.float32)
        # Full-resolution lookups into the coarse grid (exact multiples of 1/step: no remap rounding).
        self.up_x = (xx / step).astype(np.float32)
        self.up_y = (yy / step).astype(np.float32)
        self.pix_x, self.pix_y = xx.astype(np.float32), yy.astype(np.float32)
        # Vignetting: cos^4-like falloff with the angle from the optical axis.
        cos_th = np.clip(self.bearings[:, 2], 0.05, 1.0).reshape(H, W)
        self.vignette = (1.0 - vignetting * (1.0 - cos_th**2)).astype(np.float32)
        self.row_time = np.arange(H, dtype=np.float64) / max(H - 1, 1)
        self._finger_cache: tuple[float, PlaneSet] | None = None
        world = scene.world
        self._sphere_centre = world.origin + 0.5 * (world.e_u * world.size_m[:, :1] + world.e_v * world.size_m[:, 1:])
        self._sphere_radius = 0.5 * np.hypot(world.size_m[:, 0], world.size_m[:, 1])
        self._bounds = _GridBounds.of(self.coarse_bearings.reshape(len(self.gy), len(self.gx), 3))
        self._half_fov = float(np.arccos(np.clip(self.bearings[:, 2].min(), -1, 1)))
        # A bank of unit normals: each frame reads a seeded window of it instead of drawing 300k numbers.
        bank_rng = np.random.default_rng([scene.seed, 7006, W, H])
        self._noise_bank = bank_rng.standard_normal(3 * W * H * (1 if gray else 3), dtype=np.float32)

    # ------------------------------------------------------------------ geometry

    def _in_view(self, R_world_cam: NDArray[np.float64], c_world: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Planes whose bounding sphere meets the camera's field-of-view cone (P,)."""
        p = (self._sphere_centre - c_world) @ R_world_cam
        dist = np.linalg.norm(p, axis=1)
        inside = dist <= self._sphere_radius + 0.05
        with np.errstate(invalid="ignore"):
            angle = np.arccos(np.clip(p[:, 2] / np.maximum(dist, 1e-9), -1, 1))
            spread = np.arcsin(np.clip(self._sphere_radius / np.maximum(dist, 1e-9), 0, 1))
        return inside | (angle - spread <= self._half_fov + 0.05)

    def _windows_between(
        self, R_a: NDArray[np.float64], c_a: NDArray[np.float64], R_b: NDArray[np.float64], c_b: NDArray[np.float64]
    ) -> NDArray[np.int64]:
        """Grid windows (P, 4) of the world planes covering both camera poses (first and last row),
        widened by a cell: a rolling-shutter frame sweeps between them."""
        wins = []
        for R, c in ((R_a, c_a), (R_b, c_b)):
            planes = self.scene.world.transformed(geometry.se3_inverse(geometry.se3(R, c)))
            o, uw, vh = planes.origin, planes.e_u * planes.size_m[:, :1], planes.e_v * planes.size_m[:, 1:]
            wins.append(self._bounds.windows(np.stack([o, o + uw, o + vh, o + uw + vh], axis=1)))
        w_a, w_b = wins
        empty_a = (w_a[:, 1] <= w_a[:, 0]) | (w_a[:, 3] <= w_a[:, 2])
        empty_b = (w_b[:, 1] <= w_b[:, 0]) | (w_b[:, 3] <= w_b[:, 2])
        w_a = np.where(empty_a[:, None], w_b, w_a)
        w_b = np.where(empty_b[:, None], w_a, w_b)
        out = np.stack(
            [
                np.minimum(w_a[:, 0], w_b[:, 0]) - 1,
                np.maximum(w_a[:, 1], w_b[:, 1]) + 1,
                np.minimum(w_a[:, 2], w_b[:, 2]) - 1,
                np.maximum(w_a[:, 3], w_b[:, 3]) + 1,
            ],
            axis=1,
        )
        out[:, [0, 2]] = np.maximum(out[:, [0, 2]], 0)
        out[:, 1] = np.minimum(out[:, 1], len(self.gy))
        out[:, 3] = np.minimum(out[:, 3], len(self.gx))
        out[empty_a & empty_b] = 0
        return out

    def _finger_planes(self, width_m: float) -> PlaneSet:
        if self._finger_cache is None or self._finger_cache[0] != width_m:
            self._finger_cache = (width_m, self.scene.fingers_cam0(width_m).transformed(self.T_cam_cam0))
        return self._finger_cache[1]

    def _cast_all(
        self,
        bearings: NDArray[np.float32],
        R: NDArray[np.float64],
        c: NDArray[np.float64],
        fingers: PlaneSet | None,
        grid: bool = False,
    ) -> _Cast:
        """Cast camera-frame bearings (N, 3); R (3, 3) or (N, 3, 3) and c (3,) or (N, 3) place the camera.

        ``grid``: bearings are the coarse grid (window culling applies).
        """
        world = self.scene.world
        if R.ndim == 2:
            # Global shutter: move the planes into the camera instead of rotating every ray.
            planes = world.transformed(geometry.se3_inverse(geometry.se3(R, c)))
            active = self._in_view(R, c)
            if fingers is not None:
                planes = planes.concat(fingers)
                active = np.concatenate([active, np.ones(len(fingers.px_per_m), bool)])
            dirs = bearings.reshape(len(self.gy), len(self.gx), 3) if grid else bearings
            t, k, a, b = _cast_from_point(planes, dirs, active, self._bounds if grid else None)
        else:
            dirs = np.einsum("nij,nj->ni", R.astype(np.float32), bearings)
            active = self._in_view(R[len(R) // 2], c.mean(axis=0))
            if grid:
                shape = (len(self.gy), len(self.gx), 3)
                wins = self._windows_between(R[0], c[0], R[-1], c[-1])
                t, k, a, b = _cast(world, c.reshape(shape), dirs.reshape(shape), active, wins)
            else:
                t, k, a, b = _cast(world, c, dirs, active)
            planes = world
            if fingers is not None:  # fingers ride with the camera: cast them in its frame
                tf, kf, af, bf = _cast_from_point(fingers, bearings)
                near = tf < t
                planes = world.concat(fingers)
                k = np.where(near, len(world.px_per_m) + kf, k)
                a, b, t = np.where(near, af, a), np.where(near, bf, b), np.minimum(t, tf)
        idx = np.where(np.isfinite(t), k, -1)
        ppm = planes.px_per_m[k].astype(np.float32)
        x = planes.atlas_xy[k, 0].astype(np.float32) + a * ppm - 0.5
        y = planes.atlas_xy[k, 1].astype(np.float32) + b * ppm - 0.5
        miss = idx < 0
        x[miss], y[miss] = self.scene.background_xy
        z = np.where(miss, 0.0, t * bearings[:, 2]).astype(np.float32)
        return _Cast(idx.astype(np.int32), x.astype(np.float32), y.astype(np.float32), z, t)

    def _coarse(self, poses_rows: NDArray[np.float64], fingers: PlaneSet | None) -> _Cast:
        """Cast the coarse grid for per-grid-row poses (len(gy), 4, 4) or one pose (4, 4)."""
        if poses_rows.ndim == 2:
            R, c = poses_rows[:3, :3], poses_rows[:3, 3]
        else:
            gw = len(self.gx)
            R = np.repeat(poses_rows[:, :3, :3], gw, axis=0)
            c = np.repeat(poses_rows[:, :3, 3], gw, axis=0)
        return self._cast_all(self.coarse_bearings, R, c, fingers, grid=True)

    def _maps(
        self, poses_rows: NDArray[np.float64], fingers: PlaneSet | None
    ) -> tuple[_Cast, _Cast, NDArray[np.uint8]]:
        """Full-resolution atlas maps (and the coarse cast, and the (H, W) mask of exactly cast pixels)."""
        gh, gw = len(self.gy), len(self.gx)
        W, H = self.camera.width, self.camera.height
        coarse = self._coarse(poses_rows, fingers)
        grid = np.dstack(
            [coarse.x.reshape(gh, gw), coarse.y.reshape(gh, gw), coarse.z.reshape(gh, gw), self._mip_weight(coarse)]
        )
        full = cv2.remap(grid, self.up_x, self.up_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fx, fy, fz, fw = (m.ravel() for m in cv2.split(full))
        idx_g = coarse.idx.reshape(gh, gw).astype(np.int16)
        corners = np.stack([idx_g[:-1, :-1], idx_g[:-1, 1:], idx_g[1:, :-1], idx_g[1:, 1:]])
        mixed_cell = (corners.min(0) != corners.max(0)).astype(np.uint8)
        cells = ((gw - 1) * self.step, (gh - 1) * self.step)
        mixed = cv2.resize(mixed_cell, cells, interpolation=cv2.INTER_NEAREST)[:H, :W]
        idx_full = cv2.resize(idx_g[:-1, :-1], cells, interpolation=cv2.INTER_NEAREST)[:H, :W].ravel().copy()
        exact = np.flatnonzero(mixed)
        if len(exact):
            if poses_rows.ndim == 2:
                Re, ce = poses_rows[:3, :3], poses_rows[:3, 3]
            else:
                row = np.minimum((exact // W) // self.step, gh - 1)
                Re, ce = poses_rows[row, :3, :3], poses_rows[row, :3, 3]
            ex = self._cast_all(self.bearings[exact], Re, ce, fingers)
            fx[exact], fy[exact], fz[exact], idx_full[exact] = ex.x, ex.y, ex.z, ex.idx
        return _Cast(idx_full, fx, fy, fz, mip=fw), coarse, mixed

    def _mip_weight(self, coarse: _Cast) -> NDArray[np.float32]:
        """Half-resolution weight (gh, gw): log2 of texels per pixel from the grid's map derivatives."""
        gh, gw = len(self.gy), len(self.gx)
        X, Y = coarse.x.reshape(gh, gw), coarse.y.reshape(gh, gw)
        idx = coarse.idx.reshape(gh, gw)
        du = np.zeros((gh, gw), np.float32)
        dv = np.zeros((gh, gw), np.float32)
        du[:, :-1] = np.hypot(X[:, 1:] - X[:, :-1], Y[:, 1:] - Y[:, :-1])
        dv[:-1] = np.hypot(X[1:] - X[:-1], Y[1:] - Y[:-1])
        du[:, -1], dv[-1] = du[:, -2], dv[-2]
        same_u = np.ones((gh, gw), bool)
        same_v = np.ones((gh, gw), bool)
        same_u[:, :-1] = idx[:, 1:] == idx[:, :-1]
        same_v[:-1] = idx[1:] == idx[:-1]
        texels_per_px = np.maximum(np.where(same_u, du, 0), np.where(same_v, dv, 0)) / self.step
        return np.clip(np.log2(np.maximum(texels_per_px, 1e-3)), 0.0, 1.0).astype(np.float32)

    def _lookup(self, mx: NDArray[np.float32], my: NDArray[np.float32], mip: NDArray[np.float32]) -> NDArray[np.uint8]:
        """Atlas lookup at full-resolution maps, blended towards the half-resolution atlas where one
        pixel spans more than one texel (a two-level mipmap)."""
        sharp = cv2.remap(self.atlas, mx, my, cv2.INTER_LINEAR)
        if mip.max() <= 0.05:
            return sharp
        w = mip if self.gray else mip[..., None]
        half = cv2.remap(self.atlas_half, (mx + 0.5) * 0.5 - 0.5, (my + 0.5) * 0.5 - 0.5, cv2.INTER_LINEAR)
        blended = sharp.astype(np.float32) + w * (half.astype(np.float32) - sharp.astype(np.float32))
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)

    def _draw_screen(self, content: NDArray[np.uint8]) -> None:
        """Put ``content`` (gray (h, w) uint8, any size) on the scene's screen, mipmap level included."""
        if self.scene.screen_rect is None:
            raise ValueError("this scene has no screen")
        x, y, w, h = self.scene.screen_rect
        tex = cv2.resize(content, (w, h), interpolation=cv2.INTER_AREA)
        self.atlas[y : y + h, x : x + w] = tex if self.gray else tex[..., None]
        hx0, hy0, hx1, hy1 = x // 2, y // 2, (x + w + 1) // 2, (y + h + 1) // 2
        self.atlas_half[hy0:hy1, hx0:hx1] = cv2.resize(
            self.atlas[2 * hy0 : 2 * hy1, 2 * hx0 : 2 * hx1], (hx1 - hx0, hy1 - hy0), interpolation=cv2.INTER_AREA
        )

    def _flow(
        self, coarse: _Cast, mid: NDArray[np.float64], start: NDArray[np.float64], end: NDArray[np.float64]
    ) -> NDArray[np.float32]:
        """Image motion (gh, gw, 2) in pixels over the exposure of the surface point each grid ray sees.

        Poses are (4, 4) or per grid row (gh, 4, 4). Fingers move with the camera: no motion.
        """
        gh, gw = len(self.gy), len(self.gx)
        assert coarse.t is not None
        hit = np.isfinite(coarse.t) & (coarse.idx >= 0) & (coarse.idx < len(self.scene.world.px_per_m))
        p_cam = self.coarse_bearings.astype(np.float64) * np.where(hit, coarse.t, 1.0)[:, None]

        def per_ray(T: NDArray[np.float64]) -> NDArray[np.float64]:
            return T[None] if T.ndim == 2 else np.repeat(T, gw, axis=0)

        T_mid, T0, T1 = per_ray(mid), per_ray(start), per_ray(end)
        p_world = np.einsum("nij,nj->ni", T_mid[:, :3, :3], p_cam) + T_mid[:, :3, 3]
        uv = []
        for T in (T0, T1):
            p = np.einsum("nji,nj->ni", T[:, :3, :3], p_world - T[:, :3, 3])
            uv.append(self.camera.project(p))
        flow = uv[1] - uv[0]
        flow[~hit | ~np.all(np.isfinite(flow), axis=1)] = 0.0
        return flow.reshape(gh, gw, 2).astype(np.float32)

    def _poses_rows(self, pose_at: PoseAt, dt: float) -> NDArray[np.float64]:
        readout = self.camera.readout_s
        if readout <= 0:
            return pose_at(np.array([dt]))[0]
        H = self.camera.height
        return pose_at(dt + readout * np.minimum(self.gy, H - 1) / max(H - 1, 1))

    # -------------------------------------------------------------------- render

    def render(
        self,
        pose: NDArray[np.float64] | PoseAt,
        *,
        exposure_s: float = 0.0,
        brightness: float = 1.0,
        gripper_width_m: float | None = None,
        depth: bool = False,
        noise_seed: int | None = None,
        max_subframes: int = 6,
        screen: NDArray[np.uint8] | None = None,
    ) -> RenderedFrame:
        """Render one frame.

        pose: T_world_cam (4, 4), or ``pose_at(dt_s (M,)) -> (M, 4, 4)`` for motion blur
        and rolling shutter (see the module docstring for the timing convention).
        brightness: illumination x gain x exposure / 10 ms (1 = textures as stored).
        gripper_width_m: draw the fingers at this opening (None: no fingers).
        noise_seed: seed of this frame's sensor noise (None: no noise).
        screen: what the scene's screen shows during this exposure (gray uint8 image).
        """
        if screen is not None:
            self._draw_screen(screen)
        if callable(pose):
            pose_at = pose
        else:
            fixed = np.asarray(pose, dtype=np.float64)

            def pose_at(dt: NDArray[np.float64]) -> NDArray[np.float64]:
                return np.repeat(fixed[None], len(np.atleast_1d(dt)), axis=0)

        fingers = None
        if self.fingers and gripper_width_m is not None:
            fingers = self._finger_planes(float(gripper_width_m))
        W, H = self.camera.width, self.camera.height
        poses_mid = self._poses_rows(pose_at, 0.0)
        mid, coarse, mixed = self._maps(poses_mid, fingers)
        mx, my = mid.x.reshape(H, W), mid.y.reshape(H, W)
        assert mid.mip is not None
        sharp = self._lookup(mx, my, mid.mip.reshape(H, W))
        blur = 0.0
        if exposure_s > 0 and callable(pose):
            flow = self._flow(
                coarse,
                poses_mid,
                self._poses_rows(pose_at, -0.5 * exposure_s),
                self._poses_rows(pose_at, 0.5 * exposure_s),
            )
            blur = float(np.sqrt((flow**2).sum(-1).max()))
        n_sub = int(np.clip(np.ceil(blur / 1.5), 1, max_subframes))  # a sub-exposure every ~1.5 pixels
        if n_sub == 1:
            acc = sharp.astype(np.float32)
        else:
            # Blur in the image: each pixel averages the sharp mid-exposure image along its own
            # image motion (upsampled from the coarse grid), which also smears occlusion edges.
            d = cv2.remap(flow, self.up_x, self.up_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            dx, dy = cv2.split(d)
            acc = np.zeros((H, W) if self.gray else (H, W, 3), np.float32)
            for i in range(n_sub):
                u = np.float32((i + 0.5) / n_sub - 0.5)
                cv2.accumulate(
                    cv2.remap(
                        sharp, self.pix_x + u * dx, self.pix_y + u * dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
                    ),
                    acc,
                )
            acc *= np.float32(1.0 / n_sub)
        gain = self.vignette * np.float32(brightness)
        acc = acc * (gain if self.gray else gain[..., None])
        if self.noise is not None and noise_seed is not None:
            rng = np.random.default_rng([noise_seed, 7004])
            start = int(rng.integers(0, len(self._noise_bank) - acc.size))
            unit = self._noise_bank[start : start + acc.size].reshape(acc.shape)
            if rng.random() < 0.5:
                unit = unit[::-1]
            sigma = np.sqrt(np.float32(self.noise.read**2) + np.float32(self.noise.shot) * np.maximum(acc, 0.0))
            acc += unit * sigma
        image = np.clip(acc + 0.5, 0, 255).astype(np.uint8)
        depth_mm = None
        if depth:
            z = mid.z.reshape(H, W)
            depth_mm = np.clip(np.round(z * 1000.0), 0, 65535).astype(np.uint16)
        return RenderedFrame(image, depth_mm, blur)
