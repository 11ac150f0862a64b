"""Trajectory error metrics: ATE after 4-DoF / Sim(3) / no alignment, rotation RMSE, RPE.

Pure functions on (N, 4, 4) pose arrays already associated in time (same length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from democap import geometry


def align_4dof(p_est: NDArray[np.float64], p_ref: NDArray[np.float64]) -> NDArray[np.float64]:
    """T_ref_est (4, 4): yaw about z plus translation minimising position error (gravity-aligned VIO)."""
    me, mr = p_est.mean(axis=0), p_ref.mean(axis=0)
    a, b = p_est - me, p_ref - mr
    # Closed form for the yaw angle: maximise sum b . Rz a over the horizontal components.
    s = np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    c = np.sum(a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1])
    R = geometry.rot_z(float(np.arctan2(s, c)))
    return geometry.se3(R, mr - R @ me)


def align_sim3(p_est: NDArray[np.float64], p_ref: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Umeyama: (T_ref_est with rotation+translation, scale) so that p_ref ~ s R p_est + t."""
    me, mr = p_est.mean(axis=0), p_ref.mean(axis=0)
    a, b = p_est - me, p_ref - mr
    U, D, Vt = np.linalg.svd(b.T @ a / len(a))
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1
    R = U @ S @ Vt
    scale = float(np.trace(np.diag(D) @ S) / np.mean(np.sum(a * a, axis=1)))
    return geometry.se3(R, mr - scale * R @ me), scale


@dataclass(frozen=True)
class TrajectoryErrors:
    ate_rmse_m: float
    rot_rmse_deg: float
    rpe_trans_rmse_m: float  # over rpe_delta_s
    rpe_rot_rmse_deg: float
    scale: float
    errors_m: NDArray[np.float64]  # (N,) per-frame position error after alignment


def trajectory_errors(t_ns: NDArray[np.int64], T_est: NDArray[np.float64], T_ref: NDArray[np.float64],
                      alignment: str = "4dof", rpe_delta_s: float = 1.0) -> TrajectoryErrors:
    """alignment: '4dof' (position+yaw), 'sim3' (pure mono) or 'none' (both already in one world frame)."""
    T_est = np.asarray(T_est, dtype=np.float64).copy()
    scale = 1.0
    if alignment == "4dof":
        A = align_4dof(T_est[:, :3, 3], T_ref[:, :3, 3])
    elif alignment == "sim3":
        A, scale = align_sim3(T_est[:, :3, 3], T_ref[:, :3, 3])
        T_est[:, :3, 3] *= scale
        A[:3, 3] = A[:3, 3]  # translation already accounts for the scale
    elif alignment == "none":
        A = np.eye(4)
    else:
        raise ValueError(f"unknown alignment {alignment!r}")
    T_al = A @ T_est
    err = np.linalg.norm(T_al[:, :3, 3] - T_ref[:, :3, 3], axis=1)
    dR = np.einsum("nji,njk->nik", T_al[:, :3, :3], T_ref[:, :3, :3])
    ang = np.degrees(np.arccos(np.clip((np.trace(dR, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    # RPE: pairs (i, j) with t_j ~ t_i + delta.
    j = np.searchsorted(t_ns, t_ns + int(rpe_delta_s * 1e9))
    ok = j < len(t_ns)
    i, j = np.flatnonzero(ok), j[ok]
    if len(i):
        rel_e = np.einsum("nij,njk->nik", np.linalg.inv(T_al[i]), T_al[j])
        rel_r = np.einsum("nij,njk->nik", np.linalg.inv(T_ref[i]), T_ref[j])
        d = np.einsum("nij,njk->nik", np.linalg.inv(rel_r), rel_e)
        rpe_t = float(np.sqrt(np.mean(np.sum(d[:, :3, 3] ** 2, axis=1))))
        rpe_r = float(np.sqrt(np.mean(np.degrees(np.arccos(np.clip((np.trace(d[:, :3, :3], axis1=1, axis2=2) - 1) / 2,
                                                                        -1, 1))) ** 2)))
    else:
        rpe_t = rpe_r = float("nan")
    return TrajectoryErrors(float(np.sqrt(np.mean(err**2))), float(np.sqrt(np.mean(ang**2))), rpe_t, rpe_r, scale, err)
