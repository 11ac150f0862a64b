"""Camera-IMU calibration: rotation and time offset, then the lever arm, each with a 1-sigma.

Input is the camera's pose against a static target over time (from target PnP) and the
IMU's gyro and accelerometer samples. Steps:

1. Rotation ``R_imu_cam``, time offset and gyro bias from angular velocity. The visual
   angular velocity over each frame interval, ``log(R_target_cam(i)^T R_target_cam(i+1)) / dt``,
   is compared with the *mean* gyro reading over the same interval shifted by the offset
   (differences of the integrated gyro), so both sides have the same bandwidth. A coarse
   offset comes from correlating the angular-speed magnitudes (rotation-free), the rest from
   one nonlinear least-squares problem.
2. Translation from the accelerometer, with rotation and offset fixed. Specific force at the
   IMU, ``f = R_imu_target (a_target_imu - g_target) + b_a`` with
   ``a_target_imu = p''_cam + R_target_cam (W^2 + A) t_cam_imu`` (W, A: skew matrices of the
   camera's angular velocity and acceleration, from the gyro), is linear in the IMU position
   in the camera frame ``t_cam_imu``, gravity in the target frame ``g_target`` and the accel
   bias; the same zero-phase low-pass is applied to every column so spline smoothing of
   positions and raw accelerometer noise are matched.

Conventions: ``time_offset_ns`` as ``democap.model.CameraCalibration``: a frame stamped
``t_cam`` was taken at IMU time ``t_cam + offset``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import CubicSpline
from scipy.optimize import least_squares
from scipy.signal import butter, sosfiltfilt

from democap import geometry
from democap.errors import CalibrationError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class RotationOffsetResult:
    R_imu_cam: NDArray[np.float64]
    time_offset_ns: int
    gyro_bias: NDArray[np.float64]  # (3,) rad/s, imu frame
    sigma_rotation_deg: float
    sigma_offset_ms: float
    rms_gyro_rad_s: float
    n_intervals: int
    interval_start: NDArray[np.int64] | None = None  # (K,) index of each interval's first frame
    interval_error: NDArray[np.float64] | None = None  # (K,) |gyro - R w_cam - b| in rad/s


@dataclass(frozen=True, eq=False)
class CameraImuResult:
    """``T_imu_cam`` maps camera points to the IMU frame; sigmas are 1-sigma."""

    T_imu_cam: NDArray[np.float64]
    time_offset_ns: int
    gyro_bias: NDArray[np.float64]
    accel_bias: NDArray[np.float64]
    gravity_target: NDArray[np.float64]  # (3,) m/s^2 in the target frame
    sigma_rotation_deg: float
    sigma_translation_m: NDArray[np.float64]  # (3,) of T_imu_cam's translation
    sigma_offset_ms: float
    rms_gyro_rad_s: float
    rms_accel_m_s2: float
    n_frames: int

    def to_json(self) -> dict[str, Any]:
        return {
            "T_imu_cam": self.T_imu_cam.tolist(), "time_offset_ns": self.time_offset_ns,
            "time_offset_ms": self.time_offset_ns * 1e-6, "sigma_offset_ms": self.sigma_offset_ms,
            "sigma_rotation_deg": self.sigma_rotation_deg,
            "sigma_translation_mm": (self.sigma_translation_m * 1e3).tolist(),
            "gyro_bias": self.gyro_bias.tolist(), "accel_bias": self.accel_bias.tolist(),
            "gravity_norm": float(np.linalg.norm(self.gravity_target)),
            "rms_gyro_rad_s": self.rms_gyro_rad_s, "rms_accel_m_s2": self.rms_accel_m_s2, "frames": self.n_frames,
        }  # fmt: skip


def _integrated(t_s: NDArray, x: NDArray) -> NDArray:
    """Cumulative trapezoid integral (M, 3) of samples x (M, 3) at times t_s (M,)."""
    inc = 0.5 * (x[1:] + x[:-1]) * np.diff(t_s)[:, None]
    return np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(inc, axis=0)])


def _interp(t_q: NDArray, t: NDArray, x: NDArray) -> NDArray:
    return np.stack([np.interp(t_q, t, x[:, k]) for k in range(x.shape[1])], axis=1)


def estimate_rotation_offset(
    t_cam_ns: NDArray[np.int64], T_target_cam: NDArray[np.float64], t_imu_ns: NDArray[np.int64],
    gyro_imu: NDArray[np.float64], max_offset_s: float = 0.2, max_interval_s: float = 0.15,
) -> RotationOffsetResult:  # fmt: skip
    """Step 1: ``R_imu_cam``, time offset and gyro bias (see module docstring)."""
    t_imu_ns = np.asarray(t_imu_ns, np.int64)
    t0 = int(t_imu_ns[0])
    ti = (t_imu_ns - t0) * 1e-9
    tc = (np.asarray(t_cam_ns, np.int64) - t0) * 1e-9
    G = _integrated(ti, np.asarray(gyro_imu, np.float64))
    R_tc = np.asarray(T_target_cam)[:, :3, :3]
    dt = np.diff(tc)
    ok = (dt > 0) & (dt < max_interval_s)
    first = np.flatnonzero(ok)
    a, b, dt = tc[:-1][ok], tc[1:][ok], dt[ok]
    w_cam = geometry.so3_log(np.swapaxes(R_tc[:-1][ok], 1, 2) @ R_tc[1:][ok]) / dt[:, None]
    if len(w_cam) < 20:
        raise CalibrationError(f"only {len(w_cam)} usable frame intervals; need a longer sequence")
    speed = float(np.median(np.linalg.norm(w_cam, axis=1)))
    if speed < 0.05:
        raise CalibrationError(f"the camera hardly rotates (median {speed:.3f} rad/s); rotate it about all axes")

    def gyro_mean(d: float, sel: NDArray | slice = slice(None)) -> NDArray:
        return (_interp(b[sel] + d, ti, G) - _interp(a[sel] + d, ti, G)) / dt[sel, None]

    # Keep intervals whose shifted window stays inside the IMU record for every candidate offset.
    inside = (a - max_offset_s > ti[0]) & (b + max_offset_s < ti[-1])
    if inside.sum() < 20:
        raise CalibrationError("camera and IMU records barely overlap in time")
    a, b, dt, w_cam, first = a[inside], b[inside], dt[inside], w_cam[inside], first[inside]

    # Coarse: correlate angular speeds (independent of the unknown rotation), 1 ms steps.
    mag_c = np.linalg.norm(w_cam, axis=1)
    mag_c = mag_c - mag_c.mean()
    cands = np.arange(-max_offset_s, max_offset_s + 1e-9, 1e-3)
    scores = []
    for d in cands:
        m = np.linalg.norm(gyro_mean(d), axis=1)
        scores.append(float(np.dot(m - m.mean(), mag_c) / (np.linalg.norm(m - m.mean()) + 1e-12)))
    d0 = float(cands[int(np.argmax(scores))])
    g0 = gyro_mean(d0)
    R0 = geometry.kabsch(g0 - g0.mean(0), w_cam - w_cam.mean(0))
    b0 = np.mean(g0 - w_cam @ R0.T, axis=0)

    def residual(x: NDArray) -> NDArray:
        R = geometry.so3_exp(x[:3]) @ R0
        return (gyro_mean(x[3]) - w_cam @ R.T - x[4:7]).ravel()

    x0 = np.concatenate([np.zeros(3), [d0], b0])
    scale = float(np.median(np.abs(residual(x0)))) * 1.4826 + 1e-6
    sol = least_squares(
        residual, x0, loss="huber", f_scale=3 * scale, x_scale=[0.01, 0.01, 0.01, 1e-3, 0.01, 0.01, 0.01]
    )
    r = residual(sol.x)
    dof = max(len(r) - 7, 1)
    s2 = float(r @ r) / dof
    cov = s2 * np.linalg.pinv(sol.jac.T @ sol.jac)
    R = geometry.so3_exp(sol.x[:3]) @ R0
    res = RotationOffsetResult(
        R_imu_cam=R, time_offset_ns=int(round(sol.x[3] * 1e9)), gyro_bias=sol.x[4:7].copy(),
        sigma_rotation_deg=float(np.degrees(np.sqrt(np.trace(cov[:3, :3])))),
        sigma_offset_ms=float(np.sqrt(cov[3, 3]) * 1e3), rms_gyro_rad_s=float(np.sqrt(np.mean(r**2))),
        n_intervals=len(w_cam), interval_start=first,
        interval_error=np.linalg.norm(r.reshape(-1, 3), axis=1),
    )  # fmt: skip
    log.info("camera-imu rotation/offset: offset %.3f ms (coarse %.0f ms), sigma %.3f ms, %.3f deg",
             res.time_offset_ns * 1e-6, d0 * 1e3, res.sigma_offset_ms, res.sigma_rotation_deg)  # fmt: skip
    return res


def estimate_translation(
    t_cam_ns: NDArray[np.int64], T_target_cam: NDArray[np.float64], t_imu_ns: NDArray[np.int64],
    gyro_imu: NDArray[np.float64], accel_imu: NDArray[np.float64], rot: RotationOffsetResult,
    grid_hz: float = 100.0, cutoff_hz: float = 3.0, gravity_target: NDArray[np.float64] | None = None,
    anchor_cam: NDArray[np.float64] | None = None,
) -> tuple[NDArray, NDArray, NDArray, NDArray, float]:  # fmt: skip
    """Step 2. Returns (t_cam_imu (3,), its covariance (3, 3), accel bias, g_target, rms).

    ``gravity_target``: gravity (3,) in the target frame when known (a level table of tags),
    else estimated with the rest. ``anchor_cam``: a point (3,) in the camera frame whose position
    PnP determines best (the middle of the observed target); its track replaces the optical
    centre's, which carries the PnP rotation error times the viewing distance. The lever arm
    is solved from that point and shifted back.
    """
    t0 = int(t_imu_ns[0])
    ti = (np.asarray(t_imu_ns, np.int64) - t0) * 1e-9
    tc = (np.asarray(t_cam_ns, np.int64) - t0) * 1e-9
    d = rot.time_offset_ns * 1e-9
    tg = np.arange(tc[0] + 0.25, tc[-1] - 0.25, 1.0 / grid_hz)
    tg = tg[(tg + d > ti[0]) & (tg + d < ti[-1])]
    # Grid points far from any camera frame (detection gaps) are interpolation, not data.
    near = np.abs(tc[np.clip(np.searchsorted(tc, tg), 0, len(tc) - 1)] - tg)
    near = np.minimum(near, np.abs(tc[np.clip(np.searchsorted(tc, tg) - 1, 0, len(tc) - 1)] - tg))
    valid = near < 0.1
    if valid.sum() < 10 * grid_hz / cutoff_hz:
        raise CalibrationError("too few frames with the target for the camera-IMU translation")
    c = np.zeros(3) if anchor_cam is None else np.asarray(anchor_cam, np.float64)
    p_tc = np.asarray(T_target_cam)[:, :3, 3] + np.asarray(T_target_cam)[:, :3, :3] @ c
    acc_cam = CubicSpline(tc, p_tc, axis=0)(tg, 2)  # p''_cam in the target frame
    t_grid_ns = (np.round(tg * 1e9) + t0).astype(np.int64)
    R_tc = geometry.interpolate_poses(np.asarray(t_cam_ns, np.int64), np.asarray(T_target_cam), t_grid_ns)[:, :3, :3]
    R_ic = rot.R_imu_cam
    R_ci = R_ic.T
    w_c = (_interp(tg + d, ti, np.asarray(gyro_imu, np.float64)) - rot.gyro_bias) @ R_ci.T  # (G, 3) camera frame
    f_i = _interp(tg + d, ti, np.asarray(accel_imu, np.float64))
    alpha_c = np.gradient(w_c, tg, axis=0)
    W = geometry.skew(w_c)
    M = W @ W + geometry.skew(alpha_c)  # (G, 3, 3)
    R_it = R_ic @ np.swapaxes(R_tc, 1, 2)  # imu <- target
    # y = R_it p''_cam - f = R_it g - R_ic M t_ci - b_a
    y = np.einsum("nij,nj->ni", R_it, acc_cam) - f_i
    A = np.concatenate([R_it, -np.einsum("ij,njk->nik", R_ic, M), -np.broadcast_to(np.eye(3), R_it.shape)], axis=2)
    sos = butter(4, cutoff_hz, fs=grid_hz, output="sos")
    y_f = sosfiltfilt(sos, y, axis=0)[valid].reshape(-1)
    A_f = sosfiltfilt(sos, A, axis=0)[valid].reshape(-1, 9)
    if gravity_target is not None:
        g_known = np.asarray(gravity_target, np.float64)
        y_f = y_f - A_f[:, :3] @ g_known
        A_f = np.concatenate([np.zeros_like(A_f[:, :3]), A_f[:, 3:]], axis=1)
        A_f[:, :3] = 0.0
    sol_cols = slice(3, 9) if gravity_target is not None else slice(0, 9)
    x = np.zeros(9)
    x[sol_cols], *_ = np.linalg.lstsq(A_f[:, sol_cols], y_f, rcond=None)
    if gravity_target is not None:
        x[:3] = g_known
    r = y_f - A_f @ x
    # Filtered rows are correlated: about grid_hz / (2 cutoff) of them carry one sample's information.
    n_par = A_f[:, sol_cols].shape[1]
    s2 = float(r @ r) / max(len(r) - n_par, 1) * (grid_hz / (2 * cutoff_hz))
    cov = np.zeros((9, 9))
    cov[sol_cols, sol_cols] = s2 * np.linalg.inv(A_f[:, sol_cols].T @ A_f[:, sol_cols])
    g, t_ci, b_a = x[:3], x[3:6] + c, x[6:9]
    return t_ci, cov[3:6, 3:6], b_a, g, float(np.sqrt(np.mean(r**2)))


def calibrate_camera_imu(
    t_cam_ns: NDArray[np.int64], T_target_cam: NDArray[np.float64], t_imu_ns: NDArray[np.int64],
    gyro_imu: NDArray[np.float64], accel_imu: NDArray[np.float64], max_offset_s: float = 0.2,
    gravity_target: NDArray[np.float64] | None = None, anchor_cam: NDArray[np.float64] | None = None,
) -> CameraImuResult:  # fmt: skip
    """Both steps on arrays: camera poses (N, 4, 4) against a static target at t_cam_ns (N,) and
    IMU samples (M, 3) in rad/s and m/s^2 at t_imu_ns (M,), all int ns on one clock.
    ``gravity_target``: gravity in the target frame if known (e.g. (0, 0, -9.81) for tags on a
    level table with z up); it makes the lever arm better determined. ``anchor_cam``: see
    ``estimate_translation`` (``TargetTrack.anchor_cam`` gives it)."""
    order = np.argsort(t_cam_ns)
    t_cam_ns, T_target_cam = np.asarray(t_cam_ns)[order], np.asarray(T_target_cam)[order]
    rot = estimate_rotation_offset(t_cam_ns, T_target_cam, t_imu_ns, gyro_imu, max_offset_s)
    # A wrong PnP pose (a planar target's mirror solution, a misread corner) shows as a burst of
    # angular velocity the gyro did not see: drop the frames on both sides of such intervals.
    err = rot.interval_error
    assert err is not None and rot.interval_start is not None
    limit = max(6.0 * 1.4826 * float(np.median(err)), 0.05)
    bad_iv = rot.interval_start[err > limit]
    if len(bad_iv):
        keep = np.ones(len(t_cam_ns), bool)
        keep[bad_iv] = False
        keep[bad_iv + 1] = False
        log.info("dropping %d of %d frames whose pose disagrees with the gyro", int((~keep).sum()), len(keep))
        t_cam_ns, T_target_cam = t_cam_ns[keep], T_target_cam[keep]
        rot = estimate_rotation_offset(t_cam_ns, T_target_cam, t_imu_ns, gyro_imu, max_offset_s)
    t_ci, cov_t, b_a, g, rms_a = estimate_translation(t_cam_ns, T_target_cam, t_imu_ns, gyro_imu, accel_imu, rot,
                                                      gravity_target=gravity_target, anchor_cam=anchor_cam)  # fmt: skip
    T_cam_imu = geometry.se3(rot.R_imu_cam.T, t_ci)
    T_imu_cam = geometry.se3_inverse(T_cam_imu)
    # t_imu_cam = -R_ic t_ci: rotate the covariance (the rotation's own error is far smaller).
    cov_ic = rot.R_imu_cam @ cov_t @ rot.R_imu_cam.T
    if abs(np.linalg.norm(g) - 9.81) > 0.3:
        log.warning("estimated gravity is %.2f m/s^2; check the accelerometer units and the target size",
                    np.linalg.norm(g))  # fmt: skip
    return CameraImuResult(
        T_imu_cam=T_imu_cam, time_offset_ns=rot.time_offset_ns, gyro_bias=rot.gyro_bias, accel_bias=b_a,
        gravity_target=g, sigma_rotation_deg=rot.sigma_rotation_deg, sigma_translation_m=np.sqrt(np.diag(cov_ic)),
        sigma_offset_ms=rot.sigma_offset_ms, rms_gyro_rad_s=rot.rms_gyro_rad_s, rms_accel_m_s2=rms_a,
        n_frames=len(t_cam_ns),
    )  # fmt: skip
