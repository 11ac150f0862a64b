"""Trajectory error metrics: ATE after alignment (4-DoF, SE(3), Sim(3)), rotation error, RPE.

Pure functions on arrays; the conventions of evo / the EuRoC literature: the estimate is
aligned to the reference by the transform minimising squared position error, then the
RMSE of the remaining position differences is the ATE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from democap import geometry

Alignment = Literal["none", "4dof", "se3", "sim3"]


def umeyama(
    src: NDArray[np.float64], dst: NDArray[np.float64], with_scale: bool = False, yaw_only: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """R, t, s minimising sum |dst - (s R src + t)|^2 over points (N, 3). ``yaw_only``: R about z."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    if yaw_only:
        # Closed form for a rotation about z: maximise sum of the 2-D cross/dot terms.
        num = np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
        den = np.sum(a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1])
        R = geometry.rot_z(float(np.arctan2(num, den)))
        s = 1.0
    else:
        U, S, Vt = np.linalg.svd(b.T @ a / len(src))
        D = np.eye(3)
        if np.linalg.det(U) * np.linalg.det(Vt) < 0:
            D[2, 2] = -1
        R = U @ D @ Vt
        s = float(np.trace(np.diag(S) @ D) / (a**2).sum(1).mean()) if with_scale else 1.0
    t = mu_d - s * R @ mu_s
    return R, t, s


@dataclass(frozen=True)
class TrajectoryError:
    ate_rmse_m: float
    ate_max_m: float
    rot_rmse_deg: float
    per_frame_m: NDArray[np.float64]  # (N,) position error after alignment
    per_frame_deg: NDArray[np.float64]
    alignment: Alignment
    scale: float = 1.0


def ate(T_est: NDArray[np.float64], T_ref: NDArray[np.float64], alignment: Alignment = "4dof") -> TrajectoryError:
    """Absolute trajectory error of matched poses (N, 4, 4) (same times, same body frame)."""
    p_e, p_r = T_est[:, :3, 3], T_ref[:, :3, 3]
    if alignment == "none" or len(p_e) < 3:
        R, t, s = np.eye(3), np.zeros(3), 1.0
    elif np.linalg.norm(p_r - p_r.mean(0), axis=1).max() < 0.05:
        # Nearly still: positions cannot fix the rotation, so align orientations instead.
        M = np.einsum("nij,nkj->ik", T_ref[:, :3, :3], T_est[:, :3, :3])  # sum R_ref R_est^T
        if alignment == "4dof":
            R = geometry.rot_z(float(np.arctan2(M[1, 0] - M[0, 1], M[0, 0] + M[1, 1])))
        else:
            R = geometry.nearest_rotation(M)
        s = 1.0
        t = p_r.mean(0) - R @ p_e.mean(0)
    else:
        R, t, s = umeyama(p_e, p_r, with_scale=alignment == "sim3", yaw_only=alignment == "4dof")
    p_al = s * p_e @ R.T + t
    err = np.linalg.norm(p_al - p_r, axis=1)
    R_al = np.einsum("ij,njk->nik", R, T_est[:, :3, :3])
    rot = np.degrees(geometry.rotation_angle(np.swapaxes(R_al, 1, 2) @ T_ref[:, :3, :3]))
    return TrajectoryError(
        float(np.sqrt(np.mean(err**2))) if len(err) else float("nan"),
        float(err.max()) if len(err) else float("nan"),
        float(np.sqrt(np.mean(rot**2))) if len(rot) else float("nan"),
        err,
        rot,
        alignment,
        s,
    )


def rpe(
    t_ns: NDArray[np.int64], T_est: NDArray[np.float64], T_ref: NDArray[np.float64], delta_s: float = 1.0
) -> tuple[float, float]:
    """RMSE of relative translation (m) and rotation (deg) errors over pairs ``delta_s`` apart."""
    j = np.searchsorted(t_ns, t_ns + int(delta_s * 1e9))
    ok = j < len(t_ns)
    i, j = np.flatnonzero(ok), j[ok]
    if len(i) == 0:
        return float("nan"), float("nan")
    rel_e = geometry.se3_inverse(T_est[i]) @ T_est[j]
    rel_r = geometry.se3_inverse(T_ref[i]) @ T_ref[j]
    d = geometry.se3_inverse(rel_r) @ rel_e
    return (
        float(np.sqrt(np.mean(np.sum(d[:, :3, 3] ** 2, 1)))),
        float(np.sqrt(np.mean(np.degrees(geometry.rotation_angle(d[:, :3, :3])) ** 2))),
    )


def match_reference(
    t_est: NDArray[np.int64], t_ref: NDArray[np.int64], T_ref: NDArray[np.float64], max_gap_s: float = 0.02
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Reference poses interpolated at the estimate's times, where the reference covers them.

    Returns (valid (N,), T_ref_at (N, 4, 4)); a time is valid when reference samples lie
    within ``max_gap_s`` on both sides.
    """
    i = np.searchsorted(t_ref, t_est)
    lo = np.clip(i - 1, 0, len(t_ref) - 1)
    hi = np.clip(i, 0, len(t_ref) - 1)
    gap = int(max_gap_s * 1e9)
    valid = (t_est >= t_ref[0]) & (t_est <= t_ref[-1]) & (t_est - t_ref[lo] <= gap) & (t_ref[hi] - t_est <= gap)
    return valid, geometry.interpolate_poses(t_ref, T_ref, t_est)
