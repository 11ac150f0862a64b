"""Embodiment-gap checks: what a retargeted demo asks of a robot that it cannot do.

``frame_checks`` computes per-frame evidence (pose error, joint-limit margin, joint
velocity and acceleration against the limits at the demo's own timestamps, self and
table collision through coal, manipulability, gripper width); ``embodiment_flags``
turns it into ``democap.model.Flag`` spans (``embodiment.*``) with that evidence.

The table is a box whose top face is the world plane z = 0 (the table tag's plane),
placed in the robot base frame from ``T_world_base``. Links the profile lists in
``checks.table_ignored_links`` (those standing on the table) and links fixed to the
base are not checked against it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import coal
import numpy as np
import pinocchio as pin
from numpy.typing import NDArray
from scipy.signal import savgol_filter

from democap.model import FLAG_KINDS, Flag, spans_from_mask
from ik.robot import Robot

TABLE_SIZE_M = (3.0, 3.0, 0.1)
MERGE_GAP_S = 0.1  # flagged runs closer than this become one span (no flicker on a threshold)
DYNAMICS_WINDOW_S = 0.2  # Savitzky-Golay window for joint velocity
ACCELERATION_WINDOW_S = 0.3  # and for acceleration: a second derivative needs more smoothing against tracking noise


class CollisionChecker:
    """Self and table collision of one robot standing at ``T_world_base``."""

    def __init__(self, robot: Robot, T_world_base: NDArray[np.float64], table: bool = True) -> None:
        self.robot = robot
        self.model = robot.model
        self.data = robot.model.createData()
        geom = robot.collision.copy()
        n_self = len(geom.collisionPairs)
        self.table_id = -1
        if table:
            T_base_world = np.linalg.inv(T_world_base)
            T_world_box = np.eye(4)
            T_world_box[:3, 3] = [T_world_base[0, 3], T_world_base[1, 3], -0.5 * TABLE_SIZE_M[2]]
            box = pin.GeometryObject("table", 0, 0, pin.SE3(T_base_world @ T_world_box), coal.Box(*TABLE_SIZE_M))
            self.table_id = geom.addGeometryObject(box)
            ignored = set(robot.profile.table_ignored_links)
            for i, go in enumerate(geom.geometryObjects):
                if i == self.table_id or go.parentJoint == 0:
                    continue
                if self.model.frames[go.parentFrame].name in ignored:
                    continue
                geom.addCollisionPair(pin.CollisionPair(i, self.table_id))
        self.geom = geom
        self.gdata = geom.createData()
        self.is_table_pair = np.arange(len(geom.collisionPairs)) >= n_self

    def link_of(self, geom_index: int) -> str:
        return str(self.model.frames[self.geom.geometryObjects[geom_index].parentFrame].name)

    def check(self, q: NDArray[np.float64]) -> tuple[int, int]:
        """(index of a colliding self pair or -1, index of a colliding table pair or -1) at q."""
        if not pin.computeCollisions(self.model, self.data, self.geom, self.gdata, q, False):
            return -1, -1
        self_hit = table_hit = -1
        for k, res in enumerate(self.gdata.collisionResults):
            if res.isCollision():
                if self.is_table_pair[k]:
                    table_hit = k if table_hit < 0 else table_hit
                else:
                    self_hit = k if self_hit < 0 else self_hit
        return self_hit, table_hit

    def pair_links(self, k: int) -> tuple[str, str]:
        cp = self.geom.collisionPairs[k]
        return self.link_of(cp.first), self.link_of(cp.second)


@dataclass(frozen=True, eq=False)
class FrameChecks:
    """Per-frame evidence, all arrays (N,). Joint indices refer to ``robot.joint_names``."""

    t_ns: NDArray[np.int64]
    position_error_m: NDArray[np.float64]
    orientation_error_rad: NDArray[np.float64]
    limit_margin_rad: NDArray[np.float64]  # min over joints of the distance to a limit
    limit_joint: NDArray[np.int64]
    velocity_ratio: NDArray[np.float64]  # max over joints of |qdot| / limit
    velocity_joint: NDArray[np.int64]
    velocity_rad_s: NDArray[np.float64]  # |qdot| of that joint
    acceleration_ratio: NDArray[np.float64]
    acceleration_joint: NDArray[np.int64]
    acceleration_rad_s2: NDArray[np.float64]
    self_pair: NDArray[np.int64]  # colliding self pair index or -1
    table_pair: NDArray[np.int64]  # colliding table pair index or -1
    manipulability: NDArray[np.float64]  # sqrt(det(J J^T)) of the TCP Jacobian (local frame)
    gripper_m: NDArray[np.float64]  # NaN where unknown
    valid: NDArray[np.bool_]  # frames the checks apply to (trusted poses)
    dynamics_valid: NDArray[np.bool_]  # frames whose derivatives are meaningful


def _savgol_window(dt: float, seconds: float) -> int:
    return max(5, int(round(seconds / max(dt, 1e-6))) | 1)


def joint_derivatives(
    t_ns: NDArray[np.int64], q: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Joint velocity and acceleration (N, n) by Savitzky-Golay fits (quadratic) over
    ``DYNAMICS_WINDOW_S`` and ``ACCELERATION_WINDOW_S``; timestamps assumed near-uniform."""
    n = len(q)
    if n < 3:
        return np.zeros_like(q), np.zeros_like(q)
    dt = float(np.median(np.diff(t_ns))) * 1e-9
    wv, wa = _savgol_window(dt, DYNAMICS_WINDOW_S), _savgol_window(dt, ACCELERATION_WINDOW_S)
    if n < wa:
        t = (t_ns - t_ns[0]) * 1e-9
        v = np.gradient(q, t, axis=0)
        return v, np.gradient(v, t, axis=0)
    v = savgol_filter(q, wv, 2, deriv=1, delta=dt, axis=0, mode="interp")
    a = savgol_filter(q, wa, 2, deriv=2, delta=dt, axis=0, mode="interp")
    return v, a


def frame_checks(
    robot: Robot,
    T_world_base: NDArray[np.float64],
    t_ns: NDArray[np.int64],
    q: NDArray[np.float64],
    position_error_m: NDArray[np.float64],
    orientation_error_rad: NDArray[np.float64],
    gripper_m: NDArray[np.float64] | None = None,
    valid: NDArray[np.bool_] | None = None,
    collisions: CollisionChecker | None = None,
    smooth: NDArray[np.bool_] | None = None,
) -> FrameChecks:
    """Evidence for every embodiment check at joint positions q (N, n) (the per-frame IK solution).

    ``valid``: frames with a trusted pose (the others are not checked). ``smooth``: frames
    whose pose continues the previous one (not a relocalisation jump); velocity and
    acceleration are not judged within a derivative window of a frame that is not, nor
    across a time gap of more than three frame periods.
    """
    t = np.asarray(t_ns, dtype=np.int64)
    n = len(t)
    valid = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
    margins = np.minimum(q - robot.lower, robot.upper - q)
    v, a = joint_derivatives(t, q)
    vr = np.abs(v) / robot.velocity
    ar = np.abs(a) / robot.acceleration
    vj, aj = np.argmax(vr, axis=1), np.argmax(ar, axis=1)
    rows = np.arange(n)
    steady = valid.copy() if smooth is None else valid & np.asarray(smooth, bool)
    if n > 1:
        period = float(np.median(np.diff(t)))
        gap = np.diff(t) > 3 * period
        steady[1:] &= ~gap
        steady[:-1] &= ~gap
    dyn_valid = steady.copy()
    if not steady.all() and n > 1:
        half = max(2, int(round(0.5 * ACCELERATION_WINDOW_S / max(period * 1e-9, 1e-6))))
        dyn_valid = steady & ~(np.convolve((~steady).astype(float), np.ones(2 * half + 1), mode="same") > 0)
    cc = collisions or CollisionChecker(robot, T_world_base)
    self_pair = np.full(n, -1, np.int64)
    table_pair = np.full(n, -1, np.int64)
    manip = np.empty(n)
    model, data, frame = robot.model, cc.data, robot.tcp_frame
    for i in range(n):
        s, tb = cc.check(q[i])  # runs forward kinematics at q[i]
        self_pair[i], table_pair[i] = s, tb
        pin.computeJointJacobians(model, data, q[i])
        J = pin.getFrameJacobian(model, data, frame, pin.LOCAL)
        manip[i] = np.sqrt(max(np.linalg.det(J @ J.T), 0.0))
    g = np.full(n, np.nan) if gripper_m is None else np.asarray(gripper_m, dtype=np.float64)
    return FrameChecks(
        t,
        np.asarray(position_error_m, float),
        np.asarray(orientation_error_rad, float),
        margins.min(axis=1),
        margins.argmin(axis=1),
        vr[rows, vj],
        vj,
        np.abs(v[rows, vj]),
        ar[rows, aj],
        aj,
        np.abs(a[rows, aj]),
        self_pair,
        table_pair,
        manip,
        g,
        valid,
        dyn_valid,
    )


def kind_masks(robot: Robot, c: FrameChecks) -> dict[str, NDArray[np.bool_]]:
    """Per-frame mask of every embodiment flag kind."""
    p = robot.profile
    g = c.gripper_m
    with np.errstate(invalid="ignore"):
        tol = p.gripper_tolerance_m
        grip_bad = np.isfinite(g) & ((g < p.gripper_min_m - tol) | (g > p.gripper_max_m + tol))
    return {
        "embodiment.unreachable": c.valid
        & ((c.position_error_m > p.position_tol_m) | (c.orientation_error_rad > p.orientation_tol_rad)),
        "embodiment.joint_limit": c.valid & (c.limit_margin_rad < p.joint_limit_margin_rad),
        "embodiment.joint_velocity": c.dynamics_valid & (c.velocity_ratio > 1.0),
        "embodiment.joint_acceleration": c.dynamics_valid & (c.acceleration_ratio > 1.0),
        "embodiment.self_collision": c.valid & (c.self_pair >= 0),
        "embodiment.table_collision": c.valid & (c.table_pair >= 0),
        "embodiment.singularity": c.valid & (c.manipulability < p.manipulability_min),
        "embodiment.gripper_range": grip_bad,
    }


def close_gaps(t_ns: NDArray[np.int64], mask: NDArray[np.bool_], gap_s: float) -> NDArray[np.bool_]:
    """The mask with unflagged runs shorter than ``gap_s`` between two flagged runs filled in."""
    out = np.asarray(mask, bool).copy()
    idx = np.flatnonzero(out)
    if len(idx) < 2:
        return out
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if b - a > 1 and (t_ns[b] - t_ns[a]) * 1e-9 <= gap_s:
            out[a:b] = True
    return out


def embodiment_flags(
    robot: Robot, c: FrameChecks, rig: str = "rig0", collisions: CollisionChecker | None = None
) -> list[Flag]:
    """Flags (one per contiguous flagged run, per kind) with the run's evidence."""
    p = robot.profile
    names = robot.joint_names
    out: list[Flag] = []
    for kind, mask in kind_masks(robot, c).items():
        for t0, t1, sl in spans_from_mask(c.t_ns, close_gaps(c.t_ns, mask, MERGE_GAP_S)):
            ev: dict[str, float] = {"frames": float(sl.stop - sl.start)}
            msg = FLAG_KINDS[kind].description
            if kind == "embodiment.unreachable":
                ev.update(
                    max_position_error_m=float(c.position_error_m[sl].max()),
                    max_orientation_error_rad=float(c.orientation_error_rad[sl].max()),
                    position_tol_m=p.position_tol_m,
                    orientation_tol_rad=p.orientation_tol_rad,
                )
                msg = (
                    f"TCP off by up to {1e3 * ev['max_position_error_m']:.1f} mm / "
                    f"{np.degrees(ev['max_orientation_error_rad']):.1f} deg"
                )
            elif kind == "embodiment.joint_limit":
                k = sl.start + int(np.argmin(c.limit_margin_rad[sl]))
                ev.update(
                    min_margin_rad=float(c.limit_margin_rad[k]),
                    joint_index=float(c.limit_joint[k]),
                    margin_rad=p.joint_limit_margin_rad,
                )
                msg = f"{names[c.limit_joint[k]]} within {np.degrees(c.limit_margin_rad[k]):.1f} deg of its limit"
            elif kind in ("embodiment.joint_velocity", "embodiment.joint_acceleration"):
                vel = kind == "embodiment.joint_velocity"
                ratio = c.velocity_ratio if vel else c.acceleration_ratio
                joint = c.velocity_joint if vel else c.acceleration_joint
                value = c.velocity_rad_s if vel else c.acceleration_rad_s2
                k = sl.start + int(np.argmax(ratio[sl]))
                j = int(joint[k])
                limit = float((robot.velocity if vel else robot.acceleration)[j])
                ev.update(max_ratio=float(ratio[k]), joint_index=float(j), value=float(value[k]), limit=limit)
                unit = "rad/s" if vel else "rad/s^2"
                msg = f"{names[j]} at {value[k]:.2f} {unit}, {ratio[k]:.1f}x its limit {limit:g} {unit}"
            elif kind in ("embodiment.self_collision", "embodiment.table_collision"):
                pairs = (c.self_pair if kind == "embodiment.self_collision" else c.table_pair)[sl]
                k = Counter(pairs[pairs >= 0].tolist()).most_common(1)[0][0]
                ev.update(pair_index=float(k))
                if collisions is not None:
                    a, b = collisions.pair_links(k)
                    msg = f"{a} hits the table" if kind == "embodiment.table_collision" else f"{a} hits {b}"
            elif kind == "embodiment.singularity":
                ev.update(min_manipulability=float(c.manipulability[sl].min()), threshold=p.manipulability_min)
            elif kind == "embodiment.gripper_range":
                ev.update(
                    min_width_m=float(np.nanmin(c.gripper_m[sl])),
                    max_width_m=float(np.nanmax(c.gripper_m[sl])),
                    range_min_m=p.gripper_min_m,
                    range_max_m=p.gripper_max_m,
                )
                msg = (
                    f"gripper width {1e3 * ev['min_width_m']:.0f}-{1e3 * ev['max_width_m']:.0f} mm outside "
                    f"{1e3 * p.gripper_min_m:.0f}-{1e3 * p.gripper_max_m:.0f} mm"
                )
            out.append(
                Flag(
                    kind, FLAG_KINDS[kind].default_severity, t0, t1, rig=rig, robot=robot.name, evidence=ev, message=msg
                )
            )
    return sorted(out, key=lambda f: (f.t0_ns, f.kind))
