"""Whole-trajectory retargeting: TCP poses over time to joint positions over time.

1. The first frame is solved from the rest posture (so the arm starts in its usual
   branch), falling back to a global solve with restarts.
2. Every later frame is tracked from the previous frame's solution (``IkSolver.track``):
   no restarts, so no branch flips; redundancy is spent on the rest posture.
3. A whole-trajectory pass smooths the joints (zero-phase moving average, to remove
   tracking noise the robot should not reproduce) and then runs them through a tracking
   filter bounded by the joint velocity and acceleration limits, so the output is
   executable at the demo's own timestamps.
   Where the demo is faster than the robot the output lags and the checks flag it.

Per-frame pose errors of step 2 are what the robot could reach; they feed
``embodiment.unreachable``.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from democap.progress import Progress
from ik.robot import Robot
from ik.solver import IkSolver


@dataclass(frozen=True)
class RetargetSettings:
    smooth_window_s: float = 0.1  # moving-average width of the joint smoothing (0 = off)
    enforce_limits: bool = True
    track_iters: int = 30
    step_max_rad: float = 0.2  # per IK iteration, keeps tracking on its branch
    posture_gain: float = 0.02
    tol: float = 1e-5

    def to_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class RetargetResult:
    """t_ns (N,); q (N, n) output joints; q_ik (N, n) per-frame IK before the trajectory pass;
    position_error_m / orientation_error_rad (N,) of q_ik against the targets T_base_tcp (N, 4, 4)."""

    t_ns: NDArray[np.int64]
    q: NDArray[np.float64]
    q_ik: NDArray[np.float64]
    position_error_m: NDArray[np.float64]
    orientation_error_rad: NDArray[np.float64]
    T_base_tcp: NDArray[np.float64]


def solve_start(
    solver: IkSolver, T_base_tcp: NDArray[np.float64], tol: float = 1e-5
) -> tuple[NDArray[np.float64], float, float]:
    """A start configuration for a trajectory: near the rest posture when reachable from it."""
    robot = solver.robot
    q, pe, re = solver.track(T_base_tcp, robot.q_rest, tol=tol, max_iters=200, step_max=0.1)
    if pe < 1e-4 and re < 1e-3:
        return q, pe, re
    r = solver.solve(T_base_tcp, robot.q_rest, tol=tol, timeout_s=0.02)
    if r.position_error_m + r.orientation_error_rad < pe + re:
        return r.q, r.position_error_m, r.orientation_error_rad
    return q, pe, re


_HALF_TURN_Z = np.diag([-1.0, -1.0, 1.0, 1.0])  # TCP turned by pi about its approach axis


def _choose_symmetric_grasp(solver: IkSolver, T_base_tcp: NDArray[np.float64], tol: float) -> NDArray[np.float64]:
    """For a symmetric parallel gripper, the grasp turned half a turn about the approach axis
    is the same grasp: follow whichever of the two the arm starts closest to its rest posture
    in (kept for the whole trajectory, so no flip happens mid-episode)."""
    robot = solver.robot
    if not robot.profile.gripper_symmetric or len(T_base_tcp) == 0:
        return T_base_tcp
    p = robot.profile

    def cost(T0: NDArray[np.float64]) -> float:
        q, pe, re = solve_start(solver, T0, tol)
        reached = pe <= p.position_tol_m and re <= p.orientation_tol_rad
        return (0.0 if reached else 100.0) + float(np.linalg.norm(q - robot.q_rest))

    flipped = T_base_tcp @ _HALF_TURN_Z
    return flipped if cost(flipped[0]) < cost(T_base_tcp[0]) else T_base_tcp


def retarget_poses(
    robot: Robot,
    t_ns: NDArray[np.int64],
    T_base_tcp: NDArray[np.float64],
    settings: RetargetSettings | None = None,
    q_start: NDArray[np.float64] | None = None,
    solver: IkSolver | None = None,
    progress: bool = False,
) -> RetargetResult:
    """Joint trajectory for TCP targets T_base_tcp (N, 4, 4) at times t_ns (N,).

    Without ``q_start``, a symmetric gripper may follow the targets turned half a turn
    about the approach axis (``RetargetResult.T_base_tcp`` holds the targets followed).
    """
    s = settings or RetargetSettings()
    solver = solver or IkSolver(robot)
    n = len(t_ns)
    q_ik = np.empty((n, robot.nq))
    pos_err = np.empty(n)
    rot_err = np.empty(n)
    if n == 0:
        return RetargetResult(np.asarray(t_ns, np.int64), q_ik, q_ik, pos_err, rot_err, T_base_tcp)
    if q_start is None:
        T_base_tcp = _choose_symmetric_grasp(solver, T_base_tcp, s.tol)
        q, pos_err[0], rot_err[0] = solve_start(solver, T_base_tcp[0], s.tol)
    else:
        q, pos_err[0], rot_err[0] = solver.track(
            T_base_tcp[0],
            q_start,
            tol=s.tol,
            max_iters=s.track_iters,
            step_max=s.step_max_rad,
            posture_gain=s.posture_gain,
        )
    q_ik[0] = q
    with Progress(f"retarget {robot.name}", n) if progress else contextlib.nullcontext() as bar:
        ptol, rtol = robot.profile.position_tol_m, robot.profile.orientation_tol_rad
        q_good = q if pos_err[0] <= ptol else robot.q_rest
        failing = False
        for i in range(1, n):
            q, pe, re = solver.track(
                T_base_tcp[i],
                q,
                tol=s.tol,
                max_iters=s.track_iters,
                step_max=s.step_max_rad,
                posture_gain=s.posture_gain,
            )
            if pe > ptol or re > rtol:
                # Out of reach, the arm ends stretched at a limit or singularity, from which a
                # returning target cannot pull it back: also try from the last good solution.
                # That may itself be stretched at the edge of the workspace, so the rest
                # posture is the second fallback.
                for q_from in (q_good, robot.q_rest):
                    q2, pe2, re2 = solver.track(
                        T_base_tcp[i],
                        q_from,
                        tol=s.tol,
                        max_iters=2 * s.track_iters,
                        step_max=s.step_max_rad,
                        posture_gain=s.posture_gain,
                    )
                    if pe2 + re2 < pe + re:
                        q, pe, re = q2, pe2, re2
                    if pe <= ptol and re <= rtol:
                        break
            if pe <= ptol and re <= rtol:
                if failing:
                    # Back in reach after passing the workspace edge (a singularity), where the arm
                    # may have switched branch (elbow, wrist): return to the branch it was on.
                    q2, pe2, re2 = solver.track(
                        T_base_tcp[i],
                        q_good,
                        tol=s.tol,
                        max_iters=4 * s.track_iters,
                        step_max=s.step_max_rad,
                        posture_gain=s.posture_gain,
                    )
                    if pe2 <= ptol and re2 <= rtol and np.linalg.norm(q2 - q_good) < np.linalg.norm(q - q_good):
                        q, pe, re = q2, pe2, re2
                    failing = False
                q_good = q
            else:
                failing = True
            q_ik[i], pos_err[i], rot_err[i] = q, pe, re
            if bar is not None and i % 256 == 0:
                bar.advance(256)
    t = np.asarray(t_ns, dtype=np.int64)
    q_out = smooth_joints(t, q_ik, s.smooth_window_s)
    if s.enforce_limits:
        q_out = limit_motion(t, q_out, robot.velocity, robot.acceleration)
    return RetargetResult(t, q_out, q_ik, pos_err, rot_err, T_base_tcp)


def smooth_joints(t_ns: NDArray[np.int64], q: NDArray[np.float64], window_s: float) -> NDArray[np.float64]:
    """Zero-phase moving average of q (N, n) over ``window_s`` (frames counted from the median period)."""
    if window_s <= 0 or len(q) < 3:
        return q.copy()
    period = float(np.median(np.diff(t_ns))) * 1e-9
    half = int(round(0.5 * window_s / max(period, 1e-6)))
    if half < 1:
        return q.copy()
    k = 2 * half + 1
    padded = np.concatenate([np.repeat(q[:1], half, 0), q, np.repeat(q[-1:], half, 0)])
    c = np.cumsum(np.vstack([np.zeros((1, q.shape[1])), padded]), axis=0)
    return (c[k:] - c[:-k]) / k


def limit_motion(
    t_ns: NDArray[np.int64], q: NDArray[np.float64], vmax: NDArray[np.float64], amax: NDArray[np.float64]
) -> NDArray[np.float64]:
    """q (N, n) followed by a robot bounded by vmax (rad/s) and amax (rad/s^2) per joint.

    A forward tracking filter: the command is the target's own velocity plus a correction
    that can still brake in time (v = sqrt(2 a e), linear near zero), clipped to the
    velocity limit and then to the velocity change the acceleration limit allows. Where the
    demo stays within the limits the output equals it; elsewhere it lags and catches up.
    """
    n = len(q)
    out = q.copy()
    if n < 2:
        return out
    dt = np.diff(t_ns).astype(np.float64) * 1e-9
    x = q[0].copy()
    v = np.clip((q[1] - q[0]) / dt[0], -vmax, vmax)  # already moving as the demo does
    for i in range(1, n):
        h = dt[i - 1]
        v_target = (q[i] - q[i - 1]) / h
        e = q[i - 1] - x  # how far behind the (previous) target the robot is
        v_fix = np.sign(e) * np.minimum(np.sqrt(2.0 * amax * np.abs(e)), np.abs(e) / h)
        v_cmd = np.clip(v_target + v_fix, -vmax, vmax)
        v = np.clip(v_cmd, v - amax * h, v + amax * h)
        x = x + v * h
        out[i] = x
    return out
