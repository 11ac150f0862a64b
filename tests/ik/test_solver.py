"""IK accuracy from random seeds, and continuity when tracking a moving target."""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from ik.retarget import limit_motion, retarget_poses
from ik.solver import IkSolver


def test_solve_reaches_random_reachable_poses_within_tolerance(panda):
    rng = np.random.default_rng(3)
    solver = IkSolver(panda, seed=3)
    n, solved = 150, 0
    for _ in range(n):
        q_true = rng.uniform(panda.lower, panda.upper)
        target = panda.fk(q_true)
        r = solver.solve(target, rng.uniform(panda.lower, panda.upper), tol=1e-5, timeout_s=0.02)
        if r.success:
            solved += 1
            T = panda.fk(r.q)
            assert np.linalg.norm(pin.log6(pin.SE3(np.linalg.inv(T) @ target)).vector) < 1e-5
            assert np.all(r.q >= panda.lower - 1e-12) and np.all(r.q <= panda.upper + 1e-12)
    assert solved / n >= 0.98


def test_unreachable_pose_reports_failure_with_its_error(panda):
    target = panda.fk(panda.q_rest)
    target[:3, 3] = [2.0, 0.0, 0.5]  # far outside the Panda's 0.855 m reach
    r = IkSolver(panda).solve(target, panda.q_rest, timeout_s=0.005)
    assert not r.success and r.position_error_m > 0.9


def test_tracking_is_continuous_without_branch_flips(panda):
    # A path through a large part of the workspace, including a full turn of the wrist.
    n = 900
    s = np.linspace(0, 1, n)
    q_path = panda.q_rest + np.stack(
        [
            1.2 * np.sin(2 * np.pi * s),
            0.3 * np.sin(4 * np.pi * s),
            0.5 * s,
            -0.4 * s,
            0.6 * np.sin(2 * np.pi * s),
            0.3 * s,
            1.5 * np.sin(2 * np.pi * s),
        ],
        1,
    )
    q_path = np.clip(q_path, panda.lower + 0.05, panda.upper - 0.05)
    T = panda.fk(q_path)
    t_ns = np.arange(n, dtype=np.int64) * 33_333_333
    res = retarget_poses(panda, t_ns, T)
    assert res.position_error_m.max() < 1e-4 and res.orientation_error_rad.max() < 1e-3
    # Continuity: joint steps stay of the order of the TCP's own motion (a branch flip jumps by ~rad).
    step_q = np.abs(np.diff(res.q_ik, axis=0)).max(axis=1)
    step_src = np.abs(np.diff(q_path, axis=0)).max(axis=1)
    assert step_q.max() < 5 * step_src.max() + 0.01
    assert np.abs(np.diff(res.q_ik, axis=0)).max() < 0.1


def test_output_respects_velocity_and_acceleration_limits(panda):
    n = 150
    t_ns = np.arange(n, dtype=np.int64) * 33_333_333
    q_path = np.repeat(panda.q_rest[None], n, 0)
    q_path[60:, 0] += 1.0  # a step in the base joint: infinitely fast
    res = retarget_poses(panda, t_ns, panda.fk(q_path))
    dt = 1 / 30
    v = np.diff(res.q, axis=0) / dt
    a = np.diff(v, axis=0) / dt
    assert np.all(np.abs(v) <= panda.velocity * (1 + 1e-9))
    assert np.all(np.abs(a) <= panda.acceleration * (1 + 1e-6))
    assert np.abs(res.q[-1] - res.q_ik[-1]).max() < 1e-3  # catches up once the demo is slow again
    assert res.q[:, 0].max() < q_path[-1, 0] + 0.05  # without much overshoot


def test_limit_motion_leaves_feasible_motion_unchanged():
    t_ns = np.arange(300, dtype=np.int64) * 33_333_333
    s = t_ns * 1e-9
    q = np.stack([0.5 * np.sin(1.3 * s), 0.2 * np.cos(0.7 * s)], axis=1)  # |v| <= 0.65, |a| <= 0.85
    out = limit_motion(t_ns, q, np.array([2.0, 2.0]), np.array([5.0, 5.0]))
    assert np.abs(out - q).max() < 1e-3


def test_posture_pull_is_slow_and_stays_in_the_null_space(panda):
    # Regression: a per-iteration posture term once swung the wrist by 0.4 rad in one frame
    # while the TCP stood still. The pull must be a slow drift that never moves the TCP.
    q0 = np.clip(panda.q_rest + np.array([1.0, 0.3, -1.0, 0.3, 1.0, -0.3, -1.0]), panda.lower, panda.upper)
    n = 90
    T = np.repeat(panda.fk(q0)[None], n, 0)
    res = retarget_poses(panda, np.arange(n, dtype=np.int64) * 33_333_333, T, q_start=q0)
    assert np.abs(np.diff(res.q_ik, axis=0)).max() <= 0.01
    assert res.position_error_m.max() < 1e-4 and res.orientation_error_rad.max() < 1e-3
    assert np.linalg.norm(res.q_ik[-1] - panda.q_rest) < np.linalg.norm(q0 - panda.q_rest) - 0.05
