"""Robot visual meshes for display: the URDF's visual geometry decimated to a small triangle budget.

The review's 3-D view draws the retargeted robot with QPainter, so each link must be a few
hundred triangles, not the tens of thousands of the URDF's meshes. ``load_meshes`` reads
the visual geometry through Pinocchio (which resolves ``package://`` paths and loads the
meshes with coal), decimates each with open3d's quadric decimation and caches the result
in ``<home>/cache/meshes`` keyed by the URDF's content, the locked joints and the budget,
so a robot is decimated once per home. ``visual_placements`` gives each geometry's pose
(T_world_geom) by forward kinematics.

Pinocchio and open3d are imported inside the functions: the GUI unpickles ``RobotMeshes``
from its helper process (``gui.isolated``) without loading either extension.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from democap.home import Home

log = logging.getLogger(__name__)

#: Triangles for the whole robot (a Panda has 11 visual meshes: ~350 per link).
DEFAULT_BUDGET = 4000
MIN_LINK_TRIANGLES = 60
_CACHE_VERSION = 1


@dataclass(frozen=True, eq=False)
class LinkMesh:
    """One visual geometry: ``vertices_geom`` (V, 3) in the geometry's frame (scaled, m), ``faces`` (F, 3).

    Faces are wound counter-clockwise seen from outside (as in the URDF's meshes).
    """

    name: str
    vertices_geom: NDArray[np.float32]
    faces: NDArray[np.int32]
    rgba: tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class RobotMeshes:
    """The visual meshes of a robot, in the order of its visual GeometryModel (and of ``visual_placements``)."""

    robot: str
    links: tuple[LinkMesh, ...]

    @property
    def n_faces(self) -> int:
        return sum(len(m.faces) for m in self.links)


def visual_model(robot: Any) -> Any:
    """The URDF's visual GeometryModel reduced like ``robot.model`` (locked joints removed).

    ``robot`` is an ``ik.robot.Robot``; geometries hang on the same joint indices as its model.
    """
    import pinocchio as pin

    prof = robot.profile
    full = pin.buildModelFromUrdf(str(prof.urdf))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pinocchio warns about package dirs it does not need
        visual = pin.buildGeomFromUrdf(
            full, str(prof.urdf), pin.GeometryType.VISUAL, [str(p) for p in prof.package_dirs]
        )
    q_ref = pin.neutral(full)
    locked = []
    for jname, value in prof.locked_joints.items():
        jid = full.getJointId(jname)
        locked.append(jid)
        q_ref[full.joints[jid].idx_q] = value
    if locked:
        _, (visual,) = pin.buildReducedModel(full, [visual], locked, q_ref)
    return visual


def decimate(
    vertices: NDArray[np.float64], faces: NDArray[np.int64], target_triangles: int
) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """Quadric decimation to at most about ``target_triangles`` (vertices (V, 3), faces (F, 3))."""
    import open3d as o3d

    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.asarray(vertices, np.float64)), o3d.utility.Vector3iVector(np.asarray(faces))
    )
    # Mesh files split vertices along sharp edges (one normal per corner); merged, decimation keeps seams shut.
    mesh.remove_duplicated_vertices()
    mesh.remove_degenerate_triangles()
    if len(mesh.triangles) > target_triangles:
        mesh = mesh.simplify_quadric_decimation(target_number_of_triangles=int(target_triangles))
    mesh.remove_degenerate_triangles()
    mesh.remove_unreferenced_vertices()
    return np.asarray(mesh.vertices, np.float32), np.asarray(mesh.triangles, np.int32)


def _geometry_arrays(geometry: Any) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Vertices and faces of a coal BVH mesh (as Pinocchio loaded it, mesh scale applied)."""
    V = np.asarray(geometry.vertices(), np.float64).reshape(-1, 3)
    F = np.empty((geometry.num_tris, 3), np.int64)
    for i in range(geometry.num_tris):
        tri = geometry.tri_indices(i)
        F[i] = (tri[0], tri[1], tri[2])
    return V, F


def _area(V: NDArray[np.float64], F: NDArray[np.int64]) -> float:
    if not len(F):
        return 0.0
    return float(0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1).sum())


def cache_key(robot: Any, budget: int) -> str:
    """Hash of what the decimated meshes depend on: URDF text, locked joints, budget, this code's version."""
    prof = robot.profile
    h = hashlib.sha256(Path(prof.urdf).read_bytes())
    h.update(json.dumps([sorted(prof.locked_joints.items()), int(budget), _CACHE_VERSION]).encode())
    return h.hexdigest()[:24]


def cache_path(home: Home, robot: Any, budget: int) -> Path:
    return home.root / "cache" / "meshes" / f"{robot.name}-{cache_key(robot, budget)}.npz"


def build_meshes(robot: Any, budget: int = DEFAULT_BUDGET) -> RobotMeshes:
    """Decimate every visual mesh; the budget is shared by surface area (at least ``MIN_LINK_TRIANGLES`` each)."""
    visual = visual_model(robot)
    raw = []
    for g in visual.geometryObjects:
        if not hasattr(g.geometry, "num_tris"):  # a primitive (box, cylinder): not drawn as a mesh
            log.info("visual geometry %s of %s is not a mesh; not drawn", g.name, robot.name)
            raw.append((g, np.zeros((0, 3)), np.zeros((0, 3), np.int64)))
            continue
        raw.append((g, *_geometry_arrays(g.geometry)))
    areas = np.array([_area(V, F) for _, V, F in raw])
    share = areas / max(float(areas.sum()), 1e-12)
    links = []
    for (g, V, F), s in zip(raw, share, strict=True):
        target = max(MIN_LINK_TRIANGLES, int(budget * s))
        Vd, Fd = decimate(V, F, target) if len(F) else (V.astype(np.float32), F.astype(np.int32))
        rgba = tuple(float(c) for c in np.asarray(g.meshColor, np.float64).reshape(-1)[:4])
        links.append(LinkMesh(str(g.name), Vd, Fd, rgba))  # type: ignore[arg-type]
    meshes = RobotMeshes(robot.name, tuple(links))
    log.info("decimated %s visual meshes to %d triangles", robot.name, meshes.n_faces)
    return meshes


def _save(path: Path, meshes: RobotMeshes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "names": np.array([m.name for m in meshes.links]),
        "rgba": np.array([m.rgba for m in meshes.links], np.float64).reshape(-1, 4),
    }
    for i, m in enumerate(meshes.links):
        arrays[f"v{i}"], arrays[f"f{i}"] = m.vertices_geom, m.faces
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def _load(path: Path, robot_name: str) -> RobotMeshes:
    with np.load(path) as z:
        names, rgba = z["names"], z["rgba"]
        links = tuple(
            LinkMesh(str(n), z[f"v{i}"].astype(np.float32), z[f"f{i}"].astype(np.int32), tuple(rgba[i]))
            for i, n in enumerate(names)
        )
    return RobotMeshes(robot_name, links)


def load_meshes(robot: Any, home: Home | None, budget: int = DEFAULT_BUDGET) -> RobotMeshes:
    """The robot's decimated visual meshes, from the home's cache when there (else built and cached)."""
    if home is None:
        return build_meshes(robot, budget)
    path = cache_path(home, robot, budget)
    if path.exists():
        try:
            return _load(path, robot.name)
        except (OSError, KeyError, ValueError) as e:  # a damaged cache file is rebuilt
            log.warning("mesh cache %s unreadable (%s); rebuilding", path, e)
    meshes = build_meshes(robot, budget)
    try:
        _save(path, meshes)
    except OSError as e:  # a read-only home still gets its meshes, just not cached
        log.warning("cannot cache meshes in %s: %s", path, e)
    return meshes


def visual_placements(
    robot: Any, visual: Any, q: NDArray[np.float64], T_world_base: NDArray[np.float64]
) -> NDArray[np.float64]:
    """T_world_geom (N, G, 4, 4) of each visual geometry at joint positions q (N, nq)."""
    import pinocchio as pin

    data, gdata = robot.model.createData(), visual.createData()
    qs = np.atleast_2d(np.asarray(q, np.float64))
    out = np.empty((len(qs), len(visual.geometryObjects), 4, 4))
    for k, qk in enumerate(qs):
        pin.forwardKinematics(robot.model, data, qk)
        pin.updateGeometryPlacements(robot.model, data, visual, gdata)
        for g in range(len(visual.geometryObjects)):
            out[k, g] = T_world_base @ gdata.oMg[g].homogeneous
    return out


_VISUALS: dict[str, Any] = {}


def review_meshes(
    robot_name: str,
    home: Home,
    q: NDArray[np.float64],
    T_world_base: NDArray[np.float64],
    max_samples: int,
    budget: int = DEFAULT_BUDGET,
) -> tuple[NDArray[np.int64], RobotMeshes, NDArray[np.float64]]:
    """For the review (runs in ``gui.isolated``'s helper): sample indices, meshes and T_world_geom (M, G, 4, 4).

    The samples are those of ``ik.live.skeleton_points`` for the same q and ``max_samples``.
    """
    from ik.live import robot as cached_robot

    rob = cached_robot(robot_name, home)
    meshes = load_meshes(rob, home, budget)
    if robot_name not in _VISUALS:
        _VISUALS[robot_name] = visual_model(rob)
    idx = np.linspace(0, len(q) - 1, min(len(q), max_samples)).astype(int)
    T_world_geom = visual_placements(rob, _VISUALS[robot_name], np.asarray(q)[idx], np.asarray(T_world_base))
    return idx, meshes, T_world_geom
