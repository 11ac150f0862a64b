"""Seeded synthetic calibration sequences with known truth, for tests and benchmarks.

A camera sways in front of a static target (target frame = world, board in z = 0,
camera about 0.6 m in front looking along -z); a rigidly attached IMU sees the
matching gyro and specific force plus noise and bias. Camera frames are stamped so
that a frame stamped ``t`` was taken at IMU time ``t + time_offset_ns`` (the
convention of ``CameraCalibration.time_offset_ns``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from calib.targets import AprilGrid
from democap import geometry
from democap.model import CameraModel

G_TARGET = np.array([0.0, -9.81, 0.0])  # board on a wall, target y axis pointing up


@dataclass(frozen=True, eq=False)
class CameraImuSequence:
    t_cam_ns: NDArray[np.int64]  # (N,) camera stamps
    T_target_cam_true: NDArray[np.float64]  # (N, 4, 4) at the instants the frames were taken
    T_target_cam_meas: NDArray[np.float64]  # (N, 4, 4) with PnP-like noise
    t_imu_ns: NDArray[np.int64]  # (M,)
    gyro: NDArray[np.float64]  # (M, 3) rad/s
    accel: NDArray[np.float64]  # (M, 3) m/s^2
    T_imu_cam: NDArray[np.float64]
    time_offset_ns: int
    gyro_bias: NDArray[np.float64]
    accel_bias: NDArray[np.float64]


class _Motion:
    """Smooth camera motion: sums of sinusoids in position and rotation vector."""

    def __init__(self, rng: np.random.Generator, amp_pos: float = 0.12, amp_rot_deg: float = 20.0) -> None:
        self.fp = rng.uniform(0.2, 1.0, (3, 3))
        self.pp = rng.uniform(0, 2 * np.pi, (3, 3))
        self.ap = rng.uniform(0.3, 1.0, (3, 3)) * amp_pos / 2
        self.fr = rng.uniform(0.3, 1.2, (3, 3))
        self.pr = rng.uniform(0, 2 * np.pi, (3, 3))
        self.ar = rng.uniform(0.3, 1.0, (3, 3)) * np.radians(amp_rot_deg) / 2
        self.center = np.array([0.3, 0.25, 0.6])
        self.R0 = np.diag([1.0, -1.0, -1.0])  # camera z toward the board

    def T_target_cam(self, tau: NDArray) -> NDArray:
        tau = np.atleast_1d(tau)[:, None, None]
        p = self.center + np.sum(self.ap * np.sin(2 * np.pi * self.fp * tau + self.pp), axis=2)
        w = np.sum(self.ar * np.sin(2 * np.pi * self.fr * tau + self.pr), axis=2)
        return geometry.se3(self.R0 @ geometry.so3_exp(w), p)


def default_T_imu_cam() -> NDArray[np.float64]:
    return geometry.se3(geometry.so3_exp(np.radians([3.0, -2.0, 91.0])), [0.021, -0.045, 0.012])


def camera_imu_sequence(
    seed: int = 0, duration_s: float = 30.0, cam_hz: float = 30.0, imu_hz: float = 200.0,
    T_imu_cam: NDArray[np.float64] | None = None, time_offset_ns: int = 7_300_000,
    pose_noise_m: float = 0.0005, pose_noise_deg: float = 0.05, gyro_noise: float = 0.003, accel_noise: float = 0.03,
    t0_ns: int = 1_000_000_000_000,
) -> CameraImuSequence:  # fmt: skip
    rng = np.random.default_rng(seed)
    motion = _Motion(rng)
    T_ic = default_T_imu_cam() if T_imu_cam is None else np.asarray(T_imu_cam, np.float64)
    T_ci = geometry.se3_inverse(T_ic)
    bg = rng.normal(0, 0.01, 3)
    ba = rng.normal(0, 0.05, 3)

    def T_target_imu(tau: NDArray) -> NDArray:
        return motion.T_target_cam(tau) @ T_ci

    tau_imu = np.arange(0.0, duration_s, 1.0 / imu_hz)
    h = 1e-4
    Tm, T0, Tp = T_target_imu(tau_imu - h), T_target_imu(tau_imu), T_target_imu(tau_imu + h)
    gyro = geometry.so3_log(np.swapaxes(Tm[:, :3, :3], 1, 2) @ Tp[:, :3, :3]) / (2 * h)
    acc_t = (Tp[:, :3, 3] - 2 * T0[:, :3, 3] + Tm[:, :3, 3]) / h**2
    f = np.einsum("nji,nj->ni", T0[:, :3, :3], acc_t - G_TARGET)
    gyro = gyro + bg + rng.normal(0, gyro_noise, gyro.shape)
    accel = f + ba + rng.normal(0, accel_noise, f.shape)
    t_imu_ns = t0_ns + np.round(tau_imu * 1e9).astype(np.int64)

    # Frames taken at IMU times tau (within the IMU record), stamped tau - offset.
    tau_cam = np.arange(0.3, duration_s - 0.3, 1.0 / cam_hz)
    T_true = motion.T_target_cam(tau_cam)
    t_cam_ns = t0_ns + np.round(tau_cam * 1e9).astype(np.int64) - time_offset_ns
    noise_R = geometry.so3_exp(rng.normal(0, np.radians(pose_noise_deg), (len(tau_cam), 3)))
    T_meas = T_true.copy()
    T_meas[:, :3, :3] = T_true[:, :3, :3] @ noise_R
    T_meas[:, :3, 3] += rng.normal(0, pose_noise_m, (len(tau_cam), 3))
    return CameraImuSequence(t_cam_ns, T_true, T_meas, t_imu_ns, gyro, accel, T_ic, time_offset_ns, bg, ba)


def render_aprilgrid_view(grid: AprilGrid, camera: CameraModel, T_cam_target: NDArray[np.float64],
                         px_per_m: float = 2500.0, margin_m: float = 0.02,
                         _cache: dict | None = None) -> NDArray[np.uint8]:  # fmt: skip
    """Image of an AprilGrid seen from ``T_cam_target`` through ``camera`` (distortion included:
    an undistorted pinhole is one homography; otherwise every pixel's ray meets the board)."""
    key = (grid, px_per_m, margin_m)
    cache = _RENDERS if _cache is None else _cache
    if key not in cache:
        art = grid.render(px_per_m, margin_m)
        cache[key] = cv2.GaussianBlur(art, (0, 0), 1.0)
    art = cache[key]
    s = 1.0 / px_per_m
    off = margin_m + grid.tag_spacing * grid.tag_size_m
    # Render pixel (u, v) -> target (x, y): row 0 of tags sits at the bottom of the print.
    A = np.array([[s, 0, -off], [0, -s, (art.shape[0] - 0.5) * s - off], [0, 0, 1]])
    A[0, 2] += 0.5 * s  # pixel centres
    if camera.model == "pinhole-radtan" and not any(camera.distortion):
        H_plane = camera.K @ np.column_stack([T_cam_target[:3, 0], T_cam_target[:3, 1], T_cam_target[:3, 3]])
        return cv2.warpPerspective(art, H_plane @ A, (camera.width, camera.height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=160)  # fmt: skip
    rays_cam = _pixel_rays(camera)
    shape = (camera.height, camera.width)
    R, t = T_cam_target[:3, :3], T_cam_target[:3, 3]
    origin = -R.T @ t  # camera centre in the target frame
    rays = rays_cam @ R  # = (R^T d) per row
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = -origin[2] / rays[:, 2]
    X = origin + depth[:, None] * rays
    px = np.linalg.solve(A, np.stack([X[:, 0], X[:, 1], np.ones(len(X))]))
    bad = ~(depth > 0)
    map_x = np.where(bad, -1.0, px[0]).reshape(shape).astype(np.float32)
    map_y = np.where(bad, -1.0, px[1]).reshape(shape).astype(np.float32)
    return cv2.remap(art, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=160)


_RENDERS: dict = {}


@functools.lru_cache(maxsize=4)
def _pixel_rays(camera: CameraModel) -> NDArray[np.float64]:
    """Unit rays (H*W, 3) of every pixel, row-major."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    return camera.unproject(np.stack([u.ravel(), v.ravel()], 1))
