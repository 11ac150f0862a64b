"""A robot arm as Pinocchio sees it: kinematic model, TCP frame, limits and collision geometry.

``load_robot(profile)`` reads the URDF (and SRDF) once and returns an immutable ``Robot``;
per-call state (``pinocchio.Data``, ``GeometryData``) is created by whoever computes.
Joints the profile locks (e.g. the fingers) are removed from the model, so ``q`` holds
the arm's joints only, in URDF order.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pinocchio as pin
from numpy.typing import NDArray

from democap.errors import RobotError
from democap.model import content_hash
from ik.profile import RobotProfile

log = logging.getLogger(__name__)

TCP_FRAME = "democap_tcp"
DEFAULT_ACCELERATION = 10.0  # rad/s^2 when a profile gives none


@dataclass(frozen=True, eq=False)
class Robot:
    """An arm: ``model`` (locked joints removed), TCP frame id, limits (per joint of ``q``), collision geometry."""

    profile: RobotProfile
    model: pin.Model
    collision: pin.GeometryModel  # robot links only; the table is added per base pose (see ik.checks)
    tcp_frame: int
    joint_names: tuple[str, ...]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    velocity: NDArray[np.float64]
    acceleration: NDArray[np.float64]
    q_rest: NDArray[np.float64]
    cache: dict[str, Any] = field(default_factory=dict)  # lazily built per-robot helpers (IK seed table)

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def nq(self) -> int:
        return int(self.model.nq)

    def fk(self, q: NDArray[np.float64], data: pin.Data | None = None) -> NDArray[np.float64]:
        """T_base_tcp (4, 4) at q (n,), or (N, 4, 4) for q (N, n)."""
        data = data or self.model.createData()
        qs = np.atleast_2d(q)
        out = np.empty((len(qs), 4, 4))
        for i, qi in enumerate(qs):
            pin.forwardKinematics(self.model, data, qi)
            out[i] = pin.updateFramePlacement(self.model, data, self.tcp_frame).homogeneous
        return out if np.ndim(q) == 2 else out[0]


def _check_frame(model: pin.Model, name: str, profile: RobotProfile) -> int:
    if not model.existFrame(name):
        raise RobotError(f"flange_frame {name!r} is not a frame of {profile.urdf.name}", profile.source)
    return int(model.getFrameId(name))


def load_robot(profile: RobotProfile) -> Robot:
    """Build the robot of a profile (URDF + SRDF through Pinocchio, collision geometry through coal)."""
    key = (str(profile.source), content_hash(profile.settings_dict()), _mtime(profile))
    if key in _CACHE:
        return _CACHE[key]
    try:
        full = pin.buildModelFromUrdf(str(profile.urdf))
    except (RuntimeError, ValueError) as e:
        raise RobotError(f"URDF {profile.urdf} cannot be loaded ({e})", profile.source) from e
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pinocchio warns about package dirs it does not need
            geom = pin.buildGeomFromUrdf(
                full, str(profile.urdf), pin.GeometryType.COLLISION, [str(p) for p in profile.package_dirs]
            )
    except (RuntimeError, ValueError) as e:
        raise RobotError(f"collision geometry of {profile.urdf} cannot be loaded ({e})", profile.source) from e
    q_ref = pin.neutral(full)
    locked_ids = []
    for jname, value in profile.locked_joints.items():
        if not full.existJointName(jname):
            raise RobotError(f"locked joint {jname!r} is not a joint of {profile.urdf.name}", profile.source)
        jid = full.getJointId(jname)
        locked_ids.append(jid)
        q_ref[full.joints[jid].idx_q] = value
    if locked_ids:
        model, (geom,) = pin.buildReducedModel(full, [geom], locked_ids, q_ref)
    else:
        model = full
    if model.nq != model.nv:
        raise RobotError(
            "continuous (unbounded) joints are not supported; give them limits in the URDF", profile.source
        )
    flange = _check_frame(model, profile.flange_frame, profile)
    f = model.frames[flange]
    tcp_placement = f.placement * pin.SE3(profile.T_flange_tcp)
    tcp = model.addFrame(pin.Frame(TCP_FRAME, f.parentJoint, flange, tcp_placement, pin.FrameType.OP_FRAME))

    box_id = None
    if profile.gripper_box_size is not None:
        import coal

        assert profile.T_flange_gripperbox is not None
        box = pin.GeometryObject(
            "democap_gripper_box",
            f.parentJoint,
            flange,
            f.placement * pin.SE3(profile.T_flange_gripperbox),
            coal.Box(*profile.gripper_box_size),
        )
        box_id = geom.addGeometryObject(box)
    geom.addAllCollisionPairs()
    if box_id is not None:
        # The SRDF does not know the box: drop its pairs with the wrist (same or adjacent joints).
        j = f.parentJoint
        near = {j, model.parents[j], model.parents[model.parents[j]]}
        for cp in list(geom.collisionPairs):
            other = cp.second if cp.first == box_id else cp.first if cp.second == box_id else None
            if other is not None and geom.geometryObjects[other].parentJoint in near:
                geom.removeCollisionPair(cp)
    if profile.srdf is not None:
        try:
            pin.removeCollisionPairs(model, geom, str(profile.srdf))
        except (RuntimeError, ValueError) as e:
            raise RobotError(f"SRDF {profile.srdf} cannot be applied ({e})", profile.source) from e
    else:
        _remove_adjacent_pairs(model, geom)

    n = model.nq
    names = tuple(model.names[i] for i in range(1, model.njoints))
    lower, upper = model.lowerPositionLimit.copy(), model.upperPositionLimit.copy()
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper)) and np.all(upper > lower)):
        raise RobotError("every joint needs finite position limits in the URDF", profile.source)
    vel = _per_joint(profile.velocity_limits, model.velocityLimit.copy(), n, "limits.velocity", profile)
    acc = _per_joint(profile.acceleration_limits, np.full(n, DEFAULT_ACCELERATION), n, "limits.acceleration", profile)
    if profile.rest_posture is not None:
        rest = _per_joint(profile.rest_posture, None, n, "rest_posture", profile)
    else:
        rest = 0.5 * (lower + upper)
    rest = np.clip(rest, lower, upper)
    robot = Robot(profile, model, geom, int(tcp), names, lower, upper, vel, acc, rest)
    _CACHE[key] = robot
    log.debug("loaded %s: %d joints, %d collision pairs", profile.name, n, len(geom.collisionPairs))
    return robot


#: Robots already built in this process, keyed by profile content and URDF/SRDF modification times.
_CACHE: dict[tuple[str, str, tuple[int, ...]], Robot] = {}


def _mtime(profile: RobotProfile) -> tuple[int, ...]:
    return tuple(p.stat().st_mtime_ns for p in (profile.urdf, profile.srdf) if p is not None)


def _per_joint(
    values: tuple[float, ...] | None, default: NDArray[np.float64] | None, n: int, key: str, profile: RobotProfile
) -> NDArray[np.float64]:
    if values is None:
        assert default is not None
        return default
    if len(values) != n:
        raise RobotError(f"'{key}' has {len(values)} values but the arm has {n} joints", profile.source)
    return np.asarray(values, dtype=np.float64)


def _remove_adjacent_pairs(model: pin.Model, geom: pin.GeometryModel) -> None:
    """Without an SRDF, links on the same or adjacent joints are assumed never to collide."""
    keep = []
    for cp in geom.collisionPairs:
        a = geom.geometryObjects[cp.first].parentJoint
        b = geom.geometryObjects[cp.second].parentJoint
        if a == b or model.parents[a] == b or model.parents[b] == a:
            continue
        keep.append(cp)
    geom.removeAllCollisionPairs()
    for cp in keep:
        geom.addCollisionPair(cp)
