"""Stage outputs inside a session: the one reader/writer of ``stages/<stage>/``.

Every stage writes its files, then ``stage.json`` last, atomically. ``stage.json``
records the stage's version, the hashes of its inputs and settings, the applied time
corrections and each output file's SHA-256, so the pipeline can tell what is stale and
a reader can tell a complete output from an interrupted one.

File formats defined here (see docs/session-format.md):
* trajectory: ``stages/trajectory/<rig>.parquet`` columns ``t_ns, x, y, z, qw, qx, qy, qz,
  state, quality, sigma_m`` (quaternion order **w,x,y,z**; pose ``T_world_<body>``),
  schema metadata ``body`` and ``world_anchor``.
* joints: ``stages/retarget/<robot>/<rig>.parquet`` columns ``t_ns, q_<joint>..., gripper_m``.
* flags: ``stages/<stage>/flags.json``: a list of ``Flag.to_dict()``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from capture.session import Session, atomic_write_bytes, atomic_write_json, sha256_file
from democap import geometry
from democap.errors import SessionFormatError
from democap.model import Flag, Trajectory, content_hash

STAGE_FILE = "stage.json"


@dataclass(frozen=True)
class StageRecord:
    stage: str
    version: int
    input_hash: str
    settings: Mapping[str, Any]
    outputs: Mapping[str, str]  # relative file name -> sha256
    created_realtime_ns: int
    summary: Mapping[str, Any] = field(default_factory=dict)
    corrections: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "version": self.version,
            "input_hash": self.input_hash,
            "settings": dict(self.settings),
            "settings_hash": content_hash(dict(self.settings)),
            "outputs": dict(self.outputs),
            "created_realtime_ns": self.created_realtime_ns,
            "summary": dict(self.summary),
            "corrections": dict(self.corrections),
        }


def stage_dir(session: Session, stage: str) -> Path:
    return session.path / "stages" / stage


def input_hash(parts: Mapping[str, Any]) -> str:
    """Hash of everything a stage's result depends on (stream fingerprints, upstream outputs, settings)."""
    return content_hash(dict(parts))


def read_stage(session: Session, stage: str) -> StageRecord | None:
    p = stage_dir(session, stage) / STAGE_FILE
    if not p.exists():
        return None
    try:
        d = json.loads(p.read_text())
        return StageRecord(
            d["stage"],
            int(d["version"]),
            d["input_hash"],
            d["settings"],
            d["outputs"],
            int(d["created_realtime_ns"]),
            d.get("summary", {}),
            d.get("corrections", {}),
        )
    except (json.JSONDecodeError, KeyError) as e:
        raise SessionFormatError(f"stage record is malformed ({e})", p) from e


def is_current(session: Session, stage: str, version: int, in_hash: str) -> bool:
    rec = read_stage(session, stage)
    if rec is None or rec.version != version or rec.input_hash != in_hash:
        return False
    d = stage_dir(session, stage)
    return all((d / name).exists() for name in rec.outputs)


def commit_stage(
    session: Session,
    stage: str,
    version: int,
    in_hash: str,
    settings: Mapping[str, Any],
    files: Sequence[str],
    summary: Mapping[str, Any] | None = None,
    corrections: Mapping[str, Any] | None = None,
) -> StageRecord:
    """Write ``stage.json`` for output files already written under the stage folder."""
    d = stage_dir(session, stage)
    rec = StageRecord(
        stage,
        version,
        in_hash,
        settings,
        {f: sha256_file(d / f) for f in files},
        time.time_ns(),
        summary or {},
        corrections or {},
    )
    atomic_write_json(d / STAGE_FILE, rec.to_dict())
    return rec


# ------------------------------------------------------------------ trajectory


def write_trajectory(path: Path, traj: Trajectory) -> None:
    q = geometry.matrix_to_quat_wxyz(traj.T_world_body[:, :3, :3]) if len(traj) else np.zeros((0, 4))
    p = traj.positions
    table = pa.table(
        {
            "t_ns": pa.array(traj.t_ns, pa.int64()),
            "x": p[:, 0],
            "y": p[:, 1],
            "z": p[:, 2],
            "qw": q[:, 0],
            "qx": q[:, 1],
            "qy": q[:, 2],
            "qz": q[:, 3],
            "state": pa.array(traj.state, pa.uint8()),
            "quality": pa.array(traj.quality, pa.float32()),
            "sigma_m": pa.array(traj.sigma(), pa.float32()),
        }
    ).replace_schema_metadata(
        {
            "body": traj.body,
            "world_anchor": traj.world_anchor,
            "quaternion_order": "wxyz",
            "pose": f"T_world_{traj.body}",
        }
    )
    _write_parquet_atomic(path, table)


def read_trajectory(path: Path) -> Trajectory:
    if not path.exists():
        raise SessionFormatError("trajectory file missing (run `democap process` first)", path)
    t = pq.read_table(path)
    meta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items()}
    c = {n: t.column(n).to_numpy() for n in t.column_names}
    R = (
        geometry.quat_wxyz_to_matrix(np.stack([c["qw"], c["qx"], c["qy"], c["qz"]], axis=1))
        if t.num_rows
        else np.zeros((0, 3, 3))
    )
    T = geometry.se3(R, np.stack([c["x"], c["y"], c["z"]], axis=1)) if t.num_rows else np.zeros((0, 4, 4))
    return Trajectory(
        c["t_ns"].astype(np.int64),
        T,
        c["state"].astype(np.uint8),
        c["quality"].astype(np.float32),
        c["sigma_m"].astype(np.float32),
        body=meta.get("body", "imu"),
        world_anchor=meta.get("world_anchor", "first_pose"),
    )


def trajectory_path(session: Session, rig: str = "rig0") -> Path:
    return stage_dir(session, "trajectory") / f"{rig}.parquet"


def load_trajectory(session: Session, rig: str = "rig0") -> Trajectory:
    return read_trajectory(trajectory_path(session, rig))


# ---------------------------------------------------------------------- joints


@dataclass(frozen=True, eq=False)
class JointTrajectory:
    """Joint positions of one robot following one rig: q (N, nq) rad or m, gripper (N,) m."""

    robot: str
    joint_names: tuple[str, ...]
    t_ns: NDArray[np.int64]
    q: NDArray[np.float64]
    gripper_m: NDArray[np.float64]
    T_world_base: NDArray[np.float64] = field(default_factory=lambda: np.eye(4))


def write_joints(path: Path, jt: JointTrajectory) -> None:
    cols: dict[str, Any] = {"t_ns": pa.array(jt.t_ns, pa.int64())}
    for i, n in enumerate(jt.joint_names):
        cols[f"q_{n}"] = jt.q[:, i]
    cols["gripper_m"] = jt.gripper_m
    meta = {
        "robot": jt.robot,
        "joint_names": json.dumps(list(jt.joint_names)),
        "T_world_base": json.dumps(np.asarray(jt.T_world_base).tolist()),
    }
    _write_parquet_atomic(path, pa.table(cols).replace_schema_metadata(meta))


def read_joints(path: Path) -> JointTrajectory:
    if not path.exists():
        raise SessionFormatError("joint trajectory missing (run `democap retarget` first)", path)
    t = pq.read_table(path)
    meta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items()}
    names = tuple(json.loads(meta["joint_names"]))
    q = np.stack([t.column(f"q_{n}").to_numpy() for n in names], axis=1) if names else np.zeros((t.num_rows, 0))
    return JointTrajectory(
        meta["robot"],
        names,
        t.column("t_ns").to_numpy().astype(np.int64),
        q,
        t.column("gripper_m").to_numpy(),
        np.asarray(json.loads(meta["T_world_base"])),
    )


# ----------------------------------------------------------------------- flags


def write_flags(path: Path, flags: Sequence[Flag]) -> None:
    atomic_write_json(path, [f.to_dict() for f in flags])


def read_flags(path: Path) -> list[Flag]:
    try:
        return [Flag.from_dict(d) for d in json.loads(path.read_text())]
    except (json.JSONDecodeError, KeyError, ValueError) as e:
        raise SessionFormatError(f"flags file is malformed ({e})", path) from e


def session_flags(session: Session) -> list[Flag]:
    """All flags every stage of the session has written, ordered by time."""
    out: list[Flag] = []
    root = session.path / "stages"
    if root.exists():
        for p in sorted(root.glob("**/flags.json")):
            out.extend(read_flags(p))
    return sorted(out, key=lambda f: (f.t0_ns, f.kind))


def _write_parquet_atomic(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
