"""Base placement search: where to stand the robot so that most of a demo is feasible.

A frame is feasible when the robot reaches its TCP pose within the profile's tolerances
without self or table collision. Candidates stand on the world plane at the profile's
base height, on rings around the demo's centroid, facing it; the best few are refined
locally. Frames are subsampled evenly, so a whole session costs about as much as an episode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pinocchio as pin
from numpy.typing import NDArray

from ik.checks import CollisionChecker
from ik.retarget import RetargetSettings, retarget_poses
from ik.robot import Robot
from ik.solver import IkSolver

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Placement:
    T_world_base: NDArray[np.float64]
    feasible_share: float  # over the evaluated frames
    candidates: int


def base_pose(x: float, y: float, z: float, yaw: float) -> NDArray[np.float64]:
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = [x, y, z]
    return T


def feasible_mask(
    robot: Robot,
    T_world_base: NDArray[np.float64],
    t_ns: NDArray[np.int64],
    T_world_tcp: NDArray[np.float64],
    solver: IkSolver | None = None,
    settings: RetargetSettings | None = None,
    table: bool = True,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Frames (N,) the robot at T_world_base reaches within tolerance, without collision,
    off its joint limits and away from singularities; and the manipulability (N,) there."""
    p = robot.profile
    res = retarget_poses(
        robot,
        t_ns,
        np.linalg.inv(T_world_base) @ T_world_tcp,
        settings or RetargetSettings(smooth_window_s=0.0, enforce_limits=False),
        solver=solver,
    )
    ok = (res.position_error_m <= p.position_tol_m) & (res.orientation_error_rad <= p.orientation_tol_rad)
    margin = np.minimum(res.q_ik - robot.lower, robot.upper - res.q_ik).min(axis=1)
    ok &= margin >= p.joint_limit_margin_rad
    cc = CollisionChecker(robot, T_world_base, table=table)
    manip = np.zeros(len(t_ns))
    for i in np.flatnonzero(ok):
        s, tb = cc.check(res.q_ik[i])
        J = pin.getFrameJacobian(robot.model, cc.data, robot.tcp_frame, pin.LOCAL) if False else None
        del J
        pin.computeJointJacobians(robot.model, cc.data, res.q_ik[i])
        Jt = pin.getFrameJacobian(robot.model, cc.data, robot.tcp_frame, pin.LOCAL)
        manip[i] = np.sqrt(max(np.linalg.det(Jt @ Jt.T), 0.0))
        ok[i] = s < 0 and tb < 0 and manip[i] >= p.manipulability_min
    return ok, manip


def place_base(
    robot: Robot,
    t_ns: NDArray[np.int64],
    T_world_tcp: NDArray[np.float64],
    max_frames: int = 60,
    radii: tuple[float, ...] = (0.3, 0.45, 0.6, 0.75),
    n_angles: int = 12,
    table: bool = True,
) -> Placement:
    """The base pose maximising the share of feasible frames of T_world_tcp (N, 4, 4)."""
    n = len(t_ns)
    if n == 0:
        return Placement(robot.profile.T_world_base.copy(), 0.0, 0)
    sel = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int))
    t_sub, T_sub = np.asarray(t_ns)[sel], T_world_tcp[sel]
    solver = IkSolver(robot)
    z = float(robot.profile.T_world_base[2, 3])
    centre = T_sub[:, :2, 3].mean(axis=0)

    def score(T_wb: NDArray[np.float64]) -> tuple[float, float]:
        """(share of feasible frames, their mean manipulability): the second breaks ties."""
        ok, manip = feasible_mask(robot, T_wb, t_sub, T_sub, solver, table=table)
        return float(ok.mean()), float(manip[ok].mean()) if ok.any() else 0.0

    scored: list[tuple[tuple[float, float], int, NDArray[np.float64]]] = []
    candidates = [robot.profile.T_world_base.copy()]
    for r in radii:
        for a in np.linspace(0, 2 * np.pi, n_angles, endpoint=False):
            x, y = centre + r * np.array([np.cos(a), np.sin(a)])
            candidates.append(base_pose(x, y, z, a + np.pi))  # facing the centre
    for k, T_wb in enumerate(candidates):
        scored.append((score(T_wb), -k, T_wb))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    best_score, _, best = scored[0]
    evaluated = len(scored)
    # Refine the best few locally.
    for score0, _, T0 in scored[:3]:
        yaw0 = float(np.arctan2(T0[1, 0], T0[0, 0]))
        for dx in (-0.07, 0.0, 0.07):
            for dy in (-0.07, 0.0, 0.07):
                for dyaw in (-0.35, 0.0, 0.35):
                    if dx == dy == dyaw == 0.0:
                        continue
                    T_wb = base_pose(T0[0, 3] + dx, T0[1, 3] + dy, z, yaw0 + dyaw)
                    sc = score(T_wb)
                    evaluated += 1
                    if sc > best_score:
                        best_score, best = sc, T_wb
        if score0[0] < best_score[0] - 0.2:
            break
    log.info(
        "base placement for %s: %.0f %% of %d frames feasible (%d candidates)",
        robot.name,
        100 * best_score[0],
        len(sel),
        evaluated,
    )
    return Placement(best, best_score[0], evaluated)
