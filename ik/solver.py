"""Inverse kinematics of the TCP: a damped least-squares (Levenberg-Marquardt) loop on Pinocchio.

Two entry points:

* ``IkSolver.solve`` finds any configuration reaching a pose (within ``tol`` on the
  twist error ``|log6(T_tcp^-1 T_target)|``, metres and radians mixed as in TRAC-IK).
  It starts from whichever is closest to the target in task space: the caller's seed or
  configurations from a table of forward-kinematics samples (built once per robot), then
  tries random restarts until the timeout.
* ``IkSolver.track`` follows a moving target from the previous frame's solution: no
  restarts (so no branch flips), a bounded step per iteration, and a posture term
  pulling towards the rest posture in the Jacobian's null space.

Joint limits are respected by clamping and by freezing joints whose step would leave
the limits (their Jacobian column is dropped and the step recomputed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pinocchio as pin
from numpy.typing import NDArray
from scipy.linalg.lapack import dposv as _dposv
from scipy.spatial import cKDTree

from ik.robot import Robot

_ROT_FEATURE_M = 0.15  # metres per unit of rotation-matrix column in the seed table's distance
_POLISH_BELOW = 1e-3  # twist error under which a failed attempt is continued instead of restarted
_POLISH_ITERS = 60


@dataclass(frozen=True)
class IkResult:
    q: NDArray[np.float64]  # (n,) rad
    success: bool
    position_error_m: float
    orientation_error_rad: float
    iterations: int


def _feature(M: pin.SE3) -> NDArray[np.float64]:
    R = M.rotation
    return np.concatenate([M.translation, _ROT_FEATURE_M * R[:, 0], _ROT_FEATURE_M * R[:, 2]])


def _seed_table(robot: Robot, size: int) -> tuple[cKDTree, NDArray[np.float64]]:
    """Random in-limit configurations indexed by their TCP pose (built once per robot)."""
    key = f"ik_seed_table_{size}"
    if key not in robot.cache:
        rng = np.random.default_rng(20240611)
        qs = rng.uniform(robot.lower, robot.upper, (size, robot.nq))
        data = robot.model.createData()
        feats = np.empty((size, 9))
        for i, q in enumerate(qs):
            pin.forwardKinematics(robot.model, data, q)
            feats[i] = _feature(pin.updateFramePlacement(robot.model, data, robot.tcp_frame))
        robot.cache[key] = (cKDTree(feats, leafsize=64), qs)
    return robot.cache[key]


def _solve_spd(A: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """x with A x = b for the damped, symmetric positive definite J J^T + lambda I.

    LAPACK's Cholesky solve called directly: numpy.linalg.solve's Python-level checks cost
    five times the 6x6 solve itself, and this runs every IK iteration.
    """
    _, x, info = _dposv(A, b)
    return x if info == 0 else np.asarray(np.linalg.solve(A, b), dtype=np.float64)


def as_se3(T: NDArray[np.float64] | pin.SE3) -> pin.SE3:
    return T if isinstance(T, pin.SE3) else pin.SE3(np.asarray(T, dtype=np.float64))


class IkSolver:
    """Per-thread IK state for one robot (Pinocchio data, random generator)."""

    def __init__(
        self,
        robot: Robot,
        seed: int = 0,
        table_size: int = 30000,
        damping: float = 1e-7,
        damping_per_error: float = 0.01,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.robot = robot
        self.model = robot.model
        self.data = robot.model.createData()
        self.frame = robot.tcp_frame
        self.lo, self.hi = robot.lower, robot.upper
        self.rng = np.random.default_rng(seed)
        self.table_size = table_size
        self.damping = damping
        self.damping_per_error = damping_per_error
        self.clock = clock  # what timeouts are measured in (wall time; process time for benchmarks)
        self._eye6 = np.eye(6)

    # ------------------------------------------------------------------ core loop
    def _descend(
        self, target: pin.SE3, q: NDArray[np.float64], tol2: float, iters: int
    ) -> tuple[NDArray[np.float64], bool, int, float]:
        """Damped Gauss-Newton from q; the damping grows with the squared error (Sugihara-style LM).

        The loop is written for few Python-level operations per iteration (it dominates solve time).
        """
        model, data, frame, lo, hi = self.model, self.data, self.frame, self.lo, self.hi
        cjj, ufp, gfj, log6, solve = (
            pin.computeJointJacobians,
            pin.updateFramePlacement,
            pin.getFrameJacobian,
            pin.log6,
            _solve_spd,
        )
        lam0, lamk, eye6, local = self.damping, self.damping_per_error, self._eye6, pin.LOCAL
        lower, upper = np.maximum, np.minimum
        err2 = np.inf
        for k in range(iters):
            cjj(model, data, q)
            e = log6(ufp(model, data, frame).actInv(target)).vector
            err2 = e.dot(e)
            if err2 < tol2:
                return q, True, k, err2
            J = gfj(model, data, frame, local)
            Jt = J.T  # a view: zeroed columns of J below show in it too
            q_new = q + Jt.dot(solve(J.dot(Jt) + (lam0 + lamk * err2) * eye6, e))
            q_clamped = upper(lower(q_new, lo), hi)
            if (q_clamped != q_new).any():
                # Joints pushed past a limit stop there; the others take up their share of the motion.
                J[:, q_clamped != q_new] = 0.0
                q_clamped = upper(lower(q + Jt.dot(solve(J.dot(Jt) + (lam0 + lamk * err2) * eye6, e)), lo), hi)
            q = q_clamped
        return q, False, iters, err2

    def errors(self, target: pin.SE3, q: NDArray[np.float64]) -> tuple[float, float]:
        """(position error m, orientation error rad) of the TCP at q against the target."""
        pin.forwardKinematics(self.model, self.data, q)
        M = pin.updateFramePlacement(self.model, self.data, self.frame)
        return (
            float(np.linalg.norm(M.translation - target.translation)),
            float(np.linalg.norm(pin.log3(M.rotation.T @ target.rotation))),
        )

    # ------------------------------------------------------------------ global solve
    def solve(
        self,
        T_base_tcp: NDArray[np.float64] | pin.SE3,
        q_seed: NDArray[np.float64] | None = None,
        tol: float = 1e-5,
        timeout_s: float = 5e-3,
        start_iters: int = 12,
        n_table_starts: int = 4,
        restart_iters: int = 25,
    ) -> IkResult:
        """Any configuration reaching T_base_tcp; the best attempt (success False) after the timeout."""
        tree, table_q = _seed_table(self.robot, self.table_size)  # built once per robot, outside the timeout
        t0 = self.clock()
        target = as_se3(T_base_tcp)
        tol2 = tol * tol
        dist, idx = tree.query(_feature(target), k=n_table_starts, eps=0.5)
        starts = [(float(dd), table_q[i]) for dd, i in zip(np.atleast_1d(dist), np.atleast_1d(idx), strict=True)]
        if q_seed is not None:
            q_seed = np.clip(np.asarray(q_seed, dtype=np.float64), self.lo, self.hi)
            pin.forwardKinematics(self.model, self.data, q_seed)
            d_seed = float(
                np.linalg.norm(_feature(pin.updateFramePlacement(self.model, self.data, self.frame)) - _feature(target))
            )
            starts.append((d_seed, q_seed))
            starts.sort(key=lambda s: s[0])
        total = 0
        best_q, best_err = starts[0][1], np.inf
        attempts = (q0.copy() for _, q0 in starts)
        iters = start_iters
        while True:
            q0 = next(attempts, None)
            if q0 is None:
                if self.clock() - t0 >= timeout_s:
                    break
                q0, iters = self.rng.uniform(self.lo, self.hi), restart_iters
            q, ok, k, err2 = self._descend(target, q0, tol2, iters)
            total += k
            if not ok and err2 < _POLISH_BELOW**2:
                # Converging, only slowly (near a singular configuration): keep going rather than restart.
                q, ok, k, err2 = self._descend(target, q, tol2, _POLISH_ITERS)
                total += k
            if ok:
                return self._result(target, q, True, total)
            best_q, best_err = self._keep_best(target, q, best_q, best_err)
            if self.clock() - t0 >= timeout_s:
                break
        return self._result(target, best_q, False, total)

    def _keep_best(
        self, target: pin.SE3, q: NDArray[np.float64], best_q: NDArray[np.float64], best_err: float
    ) -> tuple[NDArray[np.float64], float]:
        pe, re = self.errors(target, q)
        return (q, pe + re) if pe + re < best_err else (best_q, best_err)

    def _result(self, target: pin.SE3, q: NDArray[np.float64], ok: bool, iters: int) -> IkResult:
        pe, re = self.errors(target, q)
        return IkResult(q, ok, pe, re, iters)

    # ------------------------------------------------------------------ tracking
    def track(
        self,
        T_base_tcp: NDArray[np.float64] | pin.SE3,
        q_prev: NDArray[np.float64],
        tol: float = 1e-5,
        max_iters: int = 30,
        step_max: float = 0.2,
        posture_gain: float = 0.02,
        posture_step_max: float = 0.005,
        q_rest: NDArray[np.float64] | None = None,
    ) -> tuple[NDArray[np.float64], float, float]:
        """Follow the target from the previous solution: (q, position error m, orientation error rad).

        Once per call (per frame) the redundancy moves ``posture_gain`` of the way to the rest
        posture, at most ``posture_step_max`` rad per joint, in the task's null space: slow
        enough never to look like a demo's motion. Stops when converged or when an iteration
        no longer reduces the error (target out of reach: the closest pose found near ``q_prev``).
        """
        model, data, frame, lo, hi = self.model, self.data, self.frame, self.lo, self.hi
        target = as_se3(T_base_tcp)
        rest = self.robot.q_rest if q_rest is None else q_rest
        lam0, lamk = self.damping, self.damping_per_error
        tol2 = tol * tol
        q = np.asarray(q_prev, dtype=np.float64).copy()
        best_q, best_M, prev = q, None, np.inf
        for k in range(max_iters + 1):
            pin.computeJointJacobians(model, data, q)
            M = pin.updateFramePlacement(model, data, frame)
            e = pin.log6(M.actInv(target)).vector
            err2 = e @ e
            # No longer improving: keep the previous iterate. (Not right after the posture step,
            # whose second-order error the next iterations remove.)
            if k >= 2 and err2 >= tol2 and err2 > prev * (1.0 - 1e-4):
                break
            best_q, best_M, prev = q, M.copy(), err2
            if k == 0:
                z = np.clip(posture_gain * (rest - q), -posture_step_max, posture_step_max)
                if err2 < tol2 and not z.any():
                    break
            elif err2 < tol2:
                break
            else:
                z = None
            J = pin.getFrameJacobian(model, data, frame, pin.LOCAL)
            A = J @ J.T
            A.flat[::7] += lam0 + lamk * err2
            # dq = z + J+ (e - J z): the posture motion z projected into the task's null space.
            dq = J.T @ _solve_spd(A, e) if z is None else z + J.T @ _solve_spd(A, e - J @ z)
            m = np.abs(dq).max()
            if m > step_max:
                dq *= step_max / m
            q = np.minimum(np.maximum(q + dq, lo), hi)
        assert best_M is not None
        return (
            best_q,
            float(np.linalg.norm(best_M.translation - target.translation)),
            float(np.linalg.norm(pin.log3(best_M.rotation.T @ target.rotation))),
        )
