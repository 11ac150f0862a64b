"""TUM trajectory files: the one reader/writer.

One pose per line, ``timestamp[s] tx ty tz qx qy qz qw``: seconds as a decimal number,
position in metres, **quaternion order x,y,z,w** (TUM RGB-D benchmark, evo). Lines
starting with ``#`` are comments. The pose maps body points to the world frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from democap import geometry
from democap.errors import ImportFormatError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class TumTrajectory:
    """t_ns: (N,) int64 from the file's seconds; p_world_body (N, 3); q_world_body_xyzw (N, 4)."""

    t_ns: NDArray[np.int64]
    p_world_body: NDArray[np.float64]
    q_world_body_xyzw: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.t_ns)

    @property
    def t_s(self) -> NDArray[np.float64]:
        return self.t_ns.astype(np.float64) * 1e-9

    def T_world_body(self) -> NDArray[np.float64]:
        """Poses (N, 4, 4)."""
        return geometry.se3(geometry.quat_xyzw_to_matrix(self.q_world_body_xyzw), self.p_world_body)


def seconds_to_ns(text: str) -> int:
    """Exact decimal seconds to int ns: no float rounding of 10-digit epoch seconds."""
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("+-").partition(".")
    if "e" in frac.lower() or "e" in whole.lower():
        return int(round(float(text) * 1e9))
    return sign * (int(whole or "0") * 1_000_000_000 + int((frac + "000000000")[:9]))


def read_tum(path: str | Path) -> TumTrajectory:
    """Read a TUM trajectory file (rows of 8 numbers); rows not later than the previous are dropped."""
    path = Path(path)
    t: list[int] = []
    vals: list[list[float]] = []
    try:
        text = path.read_text()
    except OSError as e:
        raise ImportFormatError(f"cannot read TUM trajectory ({e.strerror})", path) from e
    for i, line in enumerate(text.splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if len(parts) != 8:
            raise ImportFormatError(f"line {i + 1} has {len(parts)} values, expected 8 (t tx ty tz qx qy qz qw)", path)
        try:
            t.append(seconds_to_ns(parts[0]))
            vals.append([float(v) for v in parts[1:]])
        except ValueError as e:
            raise ImportFormatError(f"line {i + 1}: {e}", path) from e
    t_ns = np.array(t, dtype=np.int64)
    v = np.array(vals, dtype=np.float64).reshape(-1, 7)
    # Real files repeat a timestamp now and then (TUM fr2_desk: stamps truncated to 0.1 ms):
    # keep the first pose of each repeated or backward stamp rather than refusing the file.
    keep = np.ones(len(t_ns), dtype=bool)
    if len(t_ns) > 1:
        latest = np.maximum.accumulate(t_ns)
        keep[1:] = t_ns[1:] > latest[:-1]
    if not keep.all():
        log.warning("%s: dropped %d rows whose timestamp does not increase", path, int((~keep).sum()))
        t_ns, v = t_ns[keep], v[keep]
    q = v[:, 3:7]
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    if np.any(norm < 1e-6):
        raise ImportFormatError("a quaternion has zero length", path)
    return TumTrajectory(t_ns, v[:, :3], q / norm)


def write_tum(path: str | Path, t_ns: NDArray[np.int64], T_world_body: NDArray[np.float64]) -> None:
    """Write poses (N, 4, 4) at host/device times t_ns (N,) as a TUM file (quaternion x,y,z,w)."""
    t = np.asarray(t_ns, dtype=np.int64)
    T = np.asarray(T_world_body, dtype=np.float64)
    if T.shape != (len(t), 4, 4):
        raise ValueError(f"expected poses ({len(t)}, 4, 4), got {T.shape}")
    q = geometry.matrix_to_quat_xyzw(T[:, :3, :3])
    lines = ["# timestamp[s] tx ty tz qx qy qz qw"]
    for ti, p, qi in zip(t, T[:, :3, 3], q, strict=True):
        sec, ns = divmod(int(ti), 1_000_000_000)
        lines.append(f"{sec}.{ns:09d} {p[0]:.9f} {p[1]:.9f} {p[2]:.9f} {qi[0]:.9f} {qi[1]:.9f} {qi[2]:.9f} {qi[3]:.9f}")
    Path(path).write_text("\n".join(lines) + "\n")
