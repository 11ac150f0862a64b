"""Rigid-body maths on numpy arrays: SE(3) matrices, quaternions, SLERP.

Conventions: a pose ``T_a_b`` is a (4, 4) matrix mapping points in frame b to frame a.
Quaternion order is always in the function name (``wxyz`` or ``xyzw``); internally
rotations are matrices. Functions accept a single item or a leading batch axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
#: Anything ``np.asarray`` turns into a float array (arrays, nested lists, scalars).
ArrayIn = Any


def se3(R: ArrayIn, t: ArrayIn) -> F64:
    """Pose(s) from rotation(s) (..., 3, 3) and translation(s) (..., 3)."""
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    T = np.zeros(R.shape[:-2] + (4, 4))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def se3_inverse(T: ArrayIn) -> F64:
    """Inverse of pose(s) (..., 4, 4), using the rotation's transpose."""
    T = np.asarray(T, dtype=np.float64)
    Rt = np.swapaxes(T[..., :3, :3], -1, -2)
    return se3(Rt, -np.einsum("...ij,...j->...i", Rt, T[..., :3, 3]))


def transform_points(T_a_b: ArrayIn, points_b: ArrayIn) -> F64:
    """Map points (N, 3) from frame b to frame a."""
    T = np.asarray(T_a_b, dtype=np.float64)
    p = np.asarray(points_b, dtype=np.float64)
    return p @ T[:3, :3].T + T[:3, 3]


def skew(v: ArrayIn) -> F64:
    v = np.asarray(v, dtype=np.float64)
    S = np.zeros(v.shape[:-1] + (3, 3))
    S[..., 0, 1], S[..., 0, 2] = -v[..., 2], v[..., 1]
    S[..., 1, 0], S[..., 1, 2] = v[..., 2], -v[..., 0]
    S[..., 2, 0], S[..., 2, 1] = -v[..., 1], v[..., 0]
    return S


def so3_exp(w: ArrayIn) -> F64:
    """Rotation matrix (..., 3, 3) from rotation vector(s) (..., 3) (Rodrigues)."""
    w = np.asarray(w, dtype=np.float64)
    theta = np.linalg.norm(w, axis=-1)[..., None, None]
    K = skew(w)
    small = theta < 1e-8
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    return np.eye(3) + a * K + b * (K @ K)


def so3_log(R: ArrayIn) -> F64:
    """Rotation vector(s) (..., 3) of rotation matrices (..., 3, 3); stable near 0 and pi."""
    q = matrix_to_quat_wxyz(R)
    w = np.clip(q[..., 0], -1.0, 1.0)
    v = q[..., 1:]
    n = np.linalg.norm(v, axis=-1)
    angle = 2.0 * np.arctan2(n, w)
    scale = np.where(n < 1e-12, 2.0, angle / np.where(n < 1e-12, 1.0, n))
    return v * scale[..., None]


def rotation_angle(R: ArrayIn) -> F64:
    """Angle(s) in radians of rotation matrices (..., 3, 3)."""
    return np.linalg.norm(so3_log(R), axis=-1)


def quat_wxyz_to_matrix(q: ArrayIn) -> F64:
    """Rotation matrix (..., 3, 3) from unit quaternion(s) in w,x,y,z order."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    R = np.empty(q.shape[:-1] + (3, 3))
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 0, 1] = 2 * (x * y - z * w)
    R[..., 0, 2] = 2 * (x * z + y * w)
    R[..., 1, 0] = 2 * (x * y + z * w)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 1, 2] = 2 * (y * z - x * w)
    R[..., 2, 0] = 2 * (x * z - y * w)
    R[..., 2, 1] = 2 * (y * z + x * w)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def quat_xyzw_to_matrix(q: ArrayIn) -> F64:
    q = np.asarray(q, dtype=np.float64)
    return quat_wxyz_to_matrix(np.concatenate([q[..., 3:4], q[..., :3]], axis=-1))


def matrix_to_quat_wxyz(R: ArrayIn) -> F64:
    """Unit quaternion(s) w,x,y,z with w >= 0 from rotation matrices (..., 3, 3)."""
    R = np.asarray(R, dtype=np.float64)
    m = R.reshape(-1, 3, 3)
    tr = np.trace(m, axis1=1, axis2=2)
    # Candidate from the largest of (w, x, y, z) for numerical stability.
    cand = np.stack(
        [
            tr,
            m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2],
            m[:, 1, 1] - m[:, 0, 0] - m[:, 2, 2],
            m[:, 2, 2] - m[:, 0, 0] - m[:, 1, 1],
        ],
        axis=1,
    )
    k = np.argmax(cand, axis=1)
    q = np.empty((m.shape[0], 4))
    s = np.sqrt(np.maximum(1.0 + cand[np.arange(len(k)), k], 1e-300)) * 2.0
    for i in range(4):
        sel = k == i
        if not np.any(sel):
            continue
        mm, ss = m[sel], s[sel]
        if i == 0:
            q[sel] = np.stack(
                [
                    0.25 * ss,
                    (mm[:, 2, 1] - mm[:, 1, 2]) / ss,
                    (mm[:, 0, 2] - mm[:, 2, 0]) / ss,
                    (mm[:, 1, 0] - mm[:, 0, 1]) / ss,
                ],
                axis=1,
            )
        elif i == 1:
            q[sel] = np.stack(
                [
                    (mm[:, 2, 1] - mm[:, 1, 2]) / ss,
                    0.25 * ss,
                    (mm[:, 0, 1] + mm[:, 1, 0]) / ss,
                    (mm[:, 0, 2] + mm[:, 2, 0]) / ss,
                ],
                axis=1,
            )
        elif i == 2:
            q[sel] = np.stack(
                [
                    (mm[:, 0, 2] - mm[:, 2, 0]) / ss,
                    (mm[:, 0, 1] + mm[:, 1, 0]) / ss,
                    0.25 * ss,
                    (mm[:, 1, 2] + mm[:, 2, 1]) / ss,
                ],
                axis=1,
            )
        else:
            q[sel] = np.stack(
                [
                    (mm[:, 1, 0] - mm[:, 0, 1]) / ss,
                    (mm[:, 0, 2] + mm[:, 2, 0]) / ss,
                    (mm[:, 1, 2] + mm[:, 2, 1]) / ss,
                    0.25 * ss,
                ],
                axis=1,
            )
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q.reshape(R.shape[:-2] + (4,))


def matrix_to_quat_xyzw(R: ArrayIn) -> F64:
    q = matrix_to_quat_wxyz(R)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def slerp_wxyz(q0: ArrayIn, q1: ArrayIn, u: ArrayIn) -> F64:
    """Spherical interpolation between quaternions (..., 4) at fractions u (...)."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64).copy()
    u = np.asarray(u, dtype=np.float64)[..., None]
    d = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(d < 0, -q1, q1)
    d = np.abs(d)
    theta = np.arccos(np.clip(d, -1.0, 1.0))
    sin_t = np.sin(theta)
    near = sin_t < 1e-9
    safe = np.where(near, 1.0, sin_t)
    w0 = np.where(near, 1.0 - u, np.sin((1.0 - u) * theta) / safe)
    w1 = np.where(near, u, np.sin(u * theta) / safe)
    q = w0 * q0 + w1 * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def interpolate_poses(t_src: ArrayIn, T_src: ArrayIn, t_query: ArrayIn) -> F64:
    """Poses at t_query: linear in translation, SLERP in rotation; clamped at the ends.

    t_src (N,) must be increasing; T_src (N, 4, 4); returns (M, 4, 4).
    """
    t_src = np.asarray(t_src)
    T_src = np.asarray(T_src, dtype=np.float64)
    tq = np.asarray(t_query)
    if len(t_src) == 1:
        return np.repeat(T_src, len(tq), axis=0)
    i1 = np.clip(np.searchsorted(t_src, tq, side="right"), 1, len(t_src) - 1)
    i0 = i1 - 1
    span = (t_src[i1] - t_src[i0]).astype(np.float64)
    u = np.clip((tq - t_src[i0]).astype(np.float64) / np.where(span == 0, 1.0, span), 0.0, 1.0)
    q = matrix_to_quat_wxyz(T_src[:, :3, :3])
    R = quat_wxyz_to_matrix(slerp_wxyz(q[i0], q[i1], u))
    p = T_src[i0, :3, 3] * (1 - u)[:, None] + T_src[i1, :3, 3] * u[:, None]
    return se3(R, p)


def nearest_rotation(M: ArrayIn) -> F64:
    """The rotation closest (Frobenius) to a 3x3 matrix, e.g. a sum of rotations or a correlation matrix."""
    U, _, Vt = np.linalg.svd(np.asarray(M, dtype=np.float64))
    return U @ np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))]) @ Vt


def kabsch(a: ArrayIn, b: ArrayIn, weights: ArrayIn | None = None) -> F64:
    """The rotation R minimising sum_i w_i |a_i - R b_i|^2 for vectors a, b (N, 3) (no translation)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    w = np.ones(len(a)) if weights is None else np.asarray(weights, dtype=np.float64)
    return nearest_rotation((a * w[:, None]).T @ b)


def gravity_aligned_rotation(accel_imu: ArrayIn) -> F64:
    """R_world_imu with world z along the measured specific force (up), yaw zero.

    accel_imu: mean accelerometer reading (3,) of a resting IMU, in m/s^2.
    """
    a = np.asarray(accel_imu, dtype=np.float64)
    z = a / np.linalg.norm(a)  # at rest the accelerometer reads +g along "up"
    # Pick the imu axis least aligned with up to fix yaw deterministically.
    ref = np.eye(3)[int(np.argmin(np.abs(z)))]
    x = ref - z * (ref @ z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R_imu_world = np.stack([x, y, z], axis=1)  # columns: world axes in imu frame
    return R_imu_world.T


def yaw_of(R: ArrayIn) -> float:
    """Heading (rotation about world z) of a rotation matrix, in radians."""
    R = np.asarray(R, dtype=np.float64)
    return float(np.arctan2(R[1, 0], R[0, 0]))


def rot_z(yaw: float) -> F64:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
