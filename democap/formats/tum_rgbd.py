"""TUM RGB-D dataset folders: the one reader of their layout.

``rgb.txt`` / ``depth.txt``: ``timestamp[s] filename`` lines; ``accelerometer.txt``:
``timestamp[s] ax ay az`` (Kinect accelerometer, m/s^2); ``groundtruth.txt``: a TUM
trajectory (``timestamp tx ty tz qx qy qz qw``, quaternion **x,y,z,w**, read by
``democap.formats.tum``). Depth PNGs are 16-bit with 5000 units per metre.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from democap.errors import ImportFormatError
from democap.formats.tum import seconds_to_ns
from democap.model import CameraModel

DEPTH_UNITS_PER_M = 5000.0

#: Published intrinsics of the Freiburg Kinects (TUM RGB-D "file formats" page).
FREIBURG_CAMERAS = {
    "freiburg1": CameraModel(
        "pinhole-radtan", 640, 480, 517.3, 516.5, 318.6, 255.3, (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)
    ),
    "freiburg2": CameraModel(
        "pinhole-radtan", 640, 480, 520.9, 521.0, 325.1, 249.7, (0.2312, -0.7849, -0.0033, -0.0001, 0.9172)
    ),
    "freiburg3": CameraModel("pinhole-radtan", 640, 480, 535.4, 539.2, 320.1, 247.6, ()),
}
DEFAULT_CAMERA = CameraModel("pinhole-radtan", 640, 480, 525.0, 525.0, 319.5, 239.5, ())


@dataclass(frozen=True, eq=False)
class TumList:
    t_ns: NDArray[np.int64]
    files: tuple[Path, ...]


@dataclass(frozen=True, eq=False)
class TumRgbdFolder:
    root: Path
    rgb: TumList
    depth: TumList | None
    accel_t_ns: NDArray[np.int64] | None
    accel: NDArray[np.float64] | None  # (N, 3) m/s^2
    groundtruth: Path | None
    camera: CameraModel


def _rows(path: Path, ncols: int) -> list[list[str]]:
    out = []
    for i, line in enumerate(path.read_text().splitlines()):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) < ncols:
            raise ImportFormatError(f"line {i + 1} has {len(parts)} fields, expected {ncols}", path)
        out.append(parts)
    return out


def _list(root: Path, name: str) -> TumList | None:
    p = root / name
    if not p.exists():
        return None
    rows = _rows(p, 2)
    files = tuple(root / r[1] for r in rows)
    missing = [f for f in files if not f.exists()]
    if missing:
        raise ImportFormatError(f"{len(missing)} files listed are missing, first {missing[0]}", p)
    try:
        t = np.array([seconds_to_ns(r[0]) for r in rows], dtype=np.int64)
    except ValueError as e:
        raise ImportFormatError(f"timestamps must be decimal seconds ({e})", p) from e
    return TumList(t, files)


def read_tum_rgbd(path: Path) -> TumRgbdFolder:
    root = Path(path)
    rgb = _list(root, "rgb.txt")
    if rgb is None:
        raise ImportFormatError(
            "no rgb.txt: not a TUM RGB-D folder (expected rgb.txt, depth.txt, accelerometer.txt, groundtruth.txt)", root
        )
    accel_t = accel = None
    if (root / "accelerometer.txt").exists():
        rows = _rows(root / "accelerometer.txt", 4)
        accel_t = np.array([seconds_to_ns(r[0]) for r in rows], dtype=np.int64)
        accel = np.array([[float(v) for v in r[1:4]] for r in rows]).reshape(-1, 3)
    camera = next((c for k, c in FREIBURG_CAMERAS.items() if k in root.name), DEFAULT_CAMERA)
    gt = root / "groundtruth.txt"
    return TumRgbdFolder(root, rgb, _list(root, "depth.txt"), accel_t, accel, gt if gt.exists() else None, camera)
