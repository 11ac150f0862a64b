"""Robot profiles: the one reader of robot profile YAML files (built-in and user).

A profile says which URDF/SRDF describe the arm and everything the URDF does not: where
the base stands in the world (table tag frame, z up), the flange-to-TCP transform of the
gripper, the gripper's width range, joint velocity/acceleration limits, the tolerances
used to call a pose reachable, and the robot's camera for observation-gap comparisons.

Built-in profiles ship in ``ik/robots/*.yaml``; user profiles live in ``Home.robots``
and override a built-in of the same name. Paths in a profile are relative to the YAML
file; ``erd:<path>`` names a file inside example-robot-data's ``robots`` folder.

TCP frames. The rig's TCP frame (``T_cam_tcp`` in its calibration) has the first camera's
axes, as the virtual rig and UMI-like rigs do: x along the finger closing axis (image
right), y down, z the approach direction; origin at the centre between the fingertips.
A robot's TCP frame is its flange frame moved by ``tcp``; the built-in profiles put y on
the finger axis and z on the approach. ``rig_tcp_to_tcp`` (T_rigtcp_tcp) maps the robot's
TCP frame into the rig's, so the robot follows ``T_world_tcp = T_world_rigtcp @ T_rigtcp_tcp``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from democap.errors import RobotError
from democap.home import Home
from democap.model import CameraModel

BUILTIN_DIR = Path(__file__).resolve().parent / "robots"

_TOP_KEYS = {
    "name",
    "description",
    "urdf",
    "srdf",
    "flange_frame",
    "tcp",
    "base",
    "rig_tcp_to_tcp",
    "default_cam_to_tcp",
    "locked_joints",
    "rest_posture",
    "limits",
    "gripper",
    "tolerances",
    "checks",
    "camera",
    "gripper_box",
    "bases",
}


def pose_from_xyz_rpy(xyz: Sequence[float], rpy: Sequence[float]) -> NDArray[np.float64]:
    """4x4 pose from a translation (m) and roll-pitch-yaw (rad, URDF convention R = Rz(y) Ry(p) Rx(r))."""
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    T = np.eye(4)
    T[:3, :3] = [
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ]
    T[:3, 3] = [float(v) for v in xyz]
    return T


@dataclass(frozen=True, eq=False)
class RobotCamera:
    """The robot's own camera: intrinsics and where it is mounted.

    ``mount`` is ``tcp`` (wrist camera, ``T_mount_cam`` = T_tcp_cam) or ``base``
    (fixed camera, ``T_mount_cam`` = T_base_cam).
    """

    camera: CameraModel
    mount: str
    T_mount_cam: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class RobotProfile:
    """Everything democap needs to know about one robot arm (see module docstring for frames)."""

    name: str
    source: Path  # the YAML file it came from
    urdf: Path
    srdf: Path | None
    package_dirs: tuple[Path, ...]
    flange_frame: str
    T_flange_tcp: NDArray[np.float64]
    T_world_base: NDArray[np.float64]
    T_rigtcp_tcp: NDArray[np.float64]  # rig TCP frame -> robot TCP frame (identity when both follow the convention)
    T_cam_tcp_default: NDArray[np.float64]  # used when a rig calibration has no T_cam_tcp
    locked_joints: Mapping[str, float] = field(default_factory=dict)
    rest_posture: tuple[float, ...] | None = None
    velocity_limits: tuple[float, ...] | None = None  # rad/s per active joint; None = URDF's
    acceleration_limits: tuple[float, ...] | None = None  # rad/s^2 per active joint
    gripper_min_m: float = 0.0
    gripper_max_m: float = 0.08
    gripper_tolerance_m: float = 0.002  # width readings this far outside the range are sensor noise
    gripper_symmetric: bool = True  # a parallel gripper turned half a turn about its approach axis grasps the same
    position_tol_m: float = 0.005
    orientation_tol_rad: float = 0.035
    joint_limit_margin_rad: float = 0.05
    manipulability_min: float = 0.005
    table_ignored_links: tuple[str, ...] = ()
    camera: RobotCamera | None = None
    # A box standing in for a gripper the URDF lacks: size (m) and pose in the flange frame.
    gripper_box_size: tuple[float, ...] | None = None
    T_flange_gripperbox: NDArray[np.float64] | None = None
    rig_bases: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)  # per-rig T_world_base overrides
    description: str = ""
    builtin: bool = False

    def T_world_base_for(self, rig: str) -> NDArray[np.float64]:
        """The base pose a rig's demos are retargeted to (bimanual sessions give each rig its own)."""
        return self.rig_bases.get(rig, self.T_world_base)

    def settings_dict(self) -> dict[str, Any]:
        """What the retarget result depends on, for input hashes (paths by name, not location)."""
        return {
            "name": self.name,
            "urdf": self.urdf.name,
            "srdf": self.srdf.name if self.srdf else None,
            "flange_frame": self.flange_frame,
            "T_flange_tcp": self.T_flange_tcp,
            "T_world_base": self.T_world_base,
            "T_rigtcp_tcp": self.T_rigtcp_tcp,
            "T_cam_tcp_default": self.T_cam_tcp_default,
            "locked_joints": dict(self.locked_joints),
            "rest_posture": self.rest_posture,
            "velocity_limits": self.velocity_limits,
            "acceleration_limits": self.acceleration_limits,
            "gripper": [self.gripper_min_m, self.gripper_max_m, self.gripper_tolerance_m, self.gripper_symmetric],
            "tolerances": [self.position_tol_m, self.orientation_tol_rad],
            "checks": [self.joint_limit_margin_rad, self.manipulability_min, list(self.table_ignored_links)],
            "gripper_box": [self.gripper_box_size, self.T_flange_gripperbox],
            "rig_bases": dict(self.rig_bases),
        }


def _erd_root() -> Path:
    try:
        from example_robot_data.robots_loader import getModelPath
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise RobotError("example-robot-data is not installed (pip install example-robot-data)") from e
    return Path(getModelPath("panda_description")).resolve()


def _resolve_path(value: Any, base: Path, source: Path, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise RobotError(f"'{key}' must be a file path", source)
    p = _erd_root() / value[4:] if value.startswith("erd:") else (base / value).expanduser()
    if not p.exists():
        raise RobotError(f"'{key}' file not found: {p}", source)
    return p.resolve()


def _pose(d: Any, source: Path, key: str) -> NDArray[np.float64]:
    if d is None:
        return np.eye(4)
    if not isinstance(d, Mapping) or set(d) - {"xyz", "rpy"}:
        raise RobotError(f"'{key}' must be a mapping with 'xyz' (m) and 'rpy' (rad)", source)
    xyz, rpy = d.get("xyz", [0, 0, 0]), d.get("rpy", [0, 0, 0])
    if len(xyz) != 3 or len(rpy) != 3:
        raise RobotError(f"'{key}': xyz and rpy need three numbers each", source)
    try:
        return pose_from_xyz_rpy(xyz, rpy)
    except (TypeError, ValueError) as e:
        raise RobotError(f"'{key}': {e}", source) from e


def _floats(v: Any, source: Path, key: str) -> tuple[float, ...] | None:
    if v is None:
        return None
    try:
        out = tuple(float(x) for x in v)
    except (TypeError, ValueError) as e:
        raise RobotError(f"'{key}' must be a list of numbers", source) from e
    if any(not np.isfinite(x) for x in out):
        raise RobotError(f"'{key}' holds a non-finite number", source)
    return out


def _positive(v: Any, source: Path, key: str, default: float) -> float:
    if v is None:
        return default
    try:
        x = float(v)
    except (TypeError, ValueError) as e:
        raise RobotError(f"'{key}' must be a number", source) from e
    if not x >= 0:
        raise RobotError(f"'{key}' must be >= 0 (got {v})", source)
    return x


def load_profile(path: Path, builtin: bool = False) -> RobotProfile:
    """Read one profile YAML. Every problem raises ``RobotError`` naming the file."""
    path = Path(path)
    try:
        d = yaml.safe_load(path.read_text())
    except OSError as e:
        raise RobotError(f"cannot read robot profile ({e.strerror})", path) from e
    except yaml.YAMLError as e:
        raise RobotError(f"not valid YAML ({e})", path) from e
    if not isinstance(d, Mapping):
        raise RobotError("a robot profile must be a mapping", path)
    unknown = set(d) - _TOP_KEYS
    if unknown:
        raise RobotError(f"unknown keys {sorted(unknown)}; expected some of {sorted(_TOP_KEYS)}", path)
    for k in ("name", "urdf", "flange_frame"):
        if k not in d:
            raise RobotError(f"missing required key '{k}'", path)
    base = path.parent
    limits = d.get("limits") or {}
    grip = d.get("gripper") or {}
    tol = d.get("tolerances") or {}
    checks = d.get("checks") or {}
    gmin = _positive(grip.get("min_width_m"), path, "gripper.min_width_m", 0.0)
    gmax = _positive(grip.get("max_width_m"), path, "gripper.max_width_m", 0.08)
    if gmax <= gmin:
        raise RobotError(f"gripper.max_width_m ({gmax}) must exceed min_width_m ({gmin})", path)
    cam = None
    if d.get("camera"):
        c = d["camera"]
        try:
            cam = RobotCamera(
                CameraModel.from_dict(c["model"]),
                str(c.get("mount", "tcp")),
                _pose(c.get("T_mount_cam"), path, "camera.T_mount_cam"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RobotError(f"camera: {e}", path) from e
        if cam.mount not in ("tcp", "base"):
            raise RobotError(f"camera.mount must be 'tcp' or 'base' (got {cam.mount!r})", path)
    box_size, T_box = None, None
    if d.get("gripper_box"):
        gb = d["gripper_box"]
        if not isinstance(gb, Mapping) or "size" not in gb:
            raise RobotError("'gripper_box' needs 'size' [x, y, z] (m) and optionally 'xyz', 'rpy'", path)
        box_size = _floats(gb["size"], path, "gripper_box.size")
        if box_size is None or len(box_size) != 3 or min(box_size) <= 0:
            raise RobotError("'gripper_box.size' needs three positive numbers", path)
        T_box = _pose({k: v for k, v in gb.items() if k != "size"}, path, "gripper_box")
    bases = d.get("bases") or {}
    if not isinstance(bases, Mapping):
        raise RobotError("'bases' must map rig names to poses", path)
    rig_bases = {str(k): _pose(v, path, f"bases.{k}") for k, v in bases.items()}
    locked = d.get("locked_joints") or {}
    if not isinstance(locked, Mapping):
        raise RobotError("'locked_joints' must map joint names to positions", path)
    return RobotProfile(
        name=str(d["name"]),
        source=path.resolve(),
        description=str(d.get("description", "")),
        urdf=_resolve_path(d["urdf"], base, path, "urdf"),
        srdf=_resolve_path(d["srdf"], base, path, "srdf") if d.get("srdf") else None,
        package_dirs=(_erd_root().parent.parent, _erd_root(), base),
        flange_frame=str(d["flange_frame"]),
        T_flange_tcp=_pose(d.get("tcp"), path, "tcp"),
        T_world_base=_pose(d.get("base"), path, "base"),
        T_rigtcp_tcp=_pose(d.get("rig_tcp_to_tcp"), path, "rig_tcp_to_tcp"),
        T_cam_tcp_default=_pose(d.get("default_cam_to_tcp"), path, "default_cam_to_tcp"),
        locked_joints={str(k): float(v) for k, v in locked.items()},
        rest_posture=_floats(d.get("rest_posture"), path, "rest_posture"),
        velocity_limits=_floats(limits.get("velocity"), path, "limits.velocity"),
        acceleration_limits=_floats(limits.get("acceleration"), path, "limits.acceleration"),
        gripper_min_m=gmin,
        gripper_max_m=gmax,
        position_tol_m=_positive(tol.get("position_m"), path, "tolerances.position_m", 0.005),
        orientation_tol_rad=_positive(tol.get("orientation_rad"), path, "tolerances.orientation_rad", 0.035),
        joint_limit_margin_rad=_positive(
            checks.get("joint_limit_margin_rad"), path, "checks.joint_limit_margin_rad", 0.05
        ),
        manipulability_min=_positive(checks.get("manipulability_min"), path, "checks.manipulability_min", 0.005),
        table_ignored_links=tuple(str(x) for x in checks.get("table_ignored_links", ())),
        camera=cam,
        gripper_box_size=box_size,
        T_flange_gripperbox=T_box,
        rig_bases=rig_bases,
        builtin=builtin,
    )


def _profile_files(home: Home | None) -> dict[str, tuple[Path, bool]]:
    """Profile name (file stem) -> (file, is_builtin); user files override built-ins."""
    out = {p.stem: (p, True) for p in sorted(BUILTIN_DIR.glob("*.yaml"))}
    if home is not None and home.robots.is_dir():
        out.update({p.stem: (p, False) for p in sorted(home.robots.glob("*.yaml"))})
    return out


def list_profiles(home: Home | None = None) -> list[tuple[str, Path, bool]]:
    """(name, file, builtin) of every available profile, sorted by name."""
    return [(n, p, b) for n, (p, b) in sorted(_profile_files(home).items())]


def find_profile(name: str, home: Home | None = None) -> RobotProfile:
    """A profile by name (user profiles first), or a YAML file path."""
    if name.endswith((".yaml", ".yml")) and Path(name).exists():
        return load_profile(Path(name))
    files = _profile_files(home)
    if name not in files:
        raise RobotError(f"no robot profile named {name!r}; available: {', '.join(sorted(files))}")
    p, builtin = files[name]
    return load_profile(p, builtin=builtin)
