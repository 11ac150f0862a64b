"""EuRoC / ASL dataset folders (``mav0/<sensor>/data.csv`` + ``data/``): the one reader.

Layout: ``cam*/data.csv`` (``#timestamp [ns],filename``) with ``cam*/data/*.png``;
``imu0/data.csv`` (``timestamp, w_RS_S_{x,y,z} [rad/s], a_RS_S_{x,y,z} [m/s^2]``);
``state_groundtruth_estimate0/data.csv`` (``timestamp, p_RS_R_{x,y,z}, q_RS_{w,x,y,z}, ...``:
**quaternion order w,x,y,z**, pose of the body S in the world R). Each sensor folder has a
``sensor.yaml`` (read by ``democap.formats.kalibr``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from democap.errors import ImportFormatError


@dataclass(frozen=True, eq=False)
class EurocCamera:
    name: str
    t_ns: NDArray[np.int64]
    files: tuple[Path, ...]
    sensor_yaml: Path | None


@dataclass(frozen=True, eq=False)
class EurocImu:
    t_ns: NDArray[np.int64]
    gyro: NDArray[np.float64]  # (N, 3) rad/s
    accel: NDArray[np.float64]  # (N, 3) m/s^2
    sensor_yaml: Path | None


@dataclass(frozen=True, eq=False)
class EurocGroundTruth:
    t_ns: NDArray[np.int64]
    p_world_body: NDArray[np.float64]  # (N, 3)
    q_world_body_wxyz: NDArray[np.float64]  # (N, 4), w,x,y,z


@dataclass(frozen=True, eq=False)
class EurocFolder:
    root: Path  # the mav0 folder
    cameras: dict[str, EurocCamera] = field(default_factory=dict)
    imu: EurocImu | None = None
    groundtruth: EurocGroundTruth | None = None


def _csv_rows(path: Path, min_cols: int) -> list[list[str]]:
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < min_cols:
            raise ImportFormatError(f"line {i + 1} has {len(parts)} columns, expected at least {min_cols}", path)
        rows.append(parts)
    return rows


def _without_header(rows: list[list[str]]) -> list[list[str]]:
    """Rows without a header line that lacks the ``#`` (``timestamp [ns],filename``)."""
    return rows[1:] if rows and not rows[0][0].lstrip("-").isdigit() else rows


def _ints(rows: list[list[str]], path: Path) -> NDArray[np.int64]:
    try:
        return np.array([int(r[0]) for r in rows], dtype=np.int64)
    except ValueError as e:
        raise ImportFormatError(f"timestamp column must hold integer nanoseconds ({e})", path) from e


def read_groundtruth_csv(path: Path) -> EurocGroundTruth:
    rows = _csv_rows(path, 8)
    vals = np.array([[float(v) for v in r[1:8]] for r in rows]) if rows else np.zeros((0, 7))
    return EurocGroundTruth(_ints(rows, path), vals[:, :3], vals[:, 3:7])


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def read_camera_folder(cdir: Path) -> EurocCamera:
    """One ``cam*`` folder: ``data.csv`` (timestamp ns, file name) and the images in ``data/``.

    A listed image missing under its own name is taken from the file with the same stem and
    another image suffix (some datasets list ``.png`` but ship ``.jpg``).
    """
    csv = cdir / "data.csv"
    if not csv.exists():
        raise ImportFormatError("camera folder has no data.csv", cdir)
    rows = _without_header(_csv_rows(csv, 2))
    files = []
    for r in rows:
        f = cdir / "data" / r[1]
        if not f.exists():
            f = next((g for g in (f.with_suffix(x) for x in _IMAGE_SUFFIXES) if g.exists()), f)
        files.append(f)
    missing = [f for f in files if not f.exists()]
    if missing:
        raise ImportFormatError(
            f"{len(missing)} images listed in data.csv are missing, first {missing[0].name}", cdir / "data"
        )
    return EurocCamera(
        cdir.name, _ints(rows, csv), tuple(files), cdir / "sensor.yaml" if (cdir / "sensor.yaml").exists() else None
    )


def read_pose_csv(path: Path) -> EurocGroundTruth:
    """A pose CSV of an ASL folder (motion capture, ground truth): ``timestamp [ns], x, y, z`` and a
    quaternion in the order its header names: ``qw, qx, qy, qz`` (EuRoC's ``q_RS_w`` first) or
    ``qx, qy, qz, qw`` (yac, TUM-like). A file without such a header is refused: the order would be a guess.
    """
    path = Path(path)
    header = next((ln for ln in path.read_text().splitlines() if ln.strip()), "")
    names = [n.strip().lstrip("#").strip().split(" ")[0].lower() for n in header.split(",")]
    if len(names) < 8 or names[0][:1].isdigit() or names[0].startswith("-"):
        raise ImportFormatError("pose CSV needs a header naming its columns (timestamp, x, y, z, quaternion)", path)
    quat = names[4:8]
    rows = _without_header(_csv_rows(path, 8))
    vals = np.array([[float(v) for v in r[1:8]] for r in rows]) if rows else np.zeros((0, 7))
    if quat[0].endswith("w"):
        q_wxyz = vals[:, 3:7]
    elif quat[3].endswith("w"):
        q_wxyz = vals[:, [6, 3, 4, 5]]
    else:
        raise ImportFormatError(f"cannot tell the quaternion order from the header columns {quat}", path)
    return EurocGroundTruth(_ints(rows, path), vals[:, :3], q_wxyz)


def read_euroc(path: Path) -> EurocFolder:
    """Read an EuRoC folder (the dataset root holding ``mav0``, or ``mav0`` itself)."""
    path = Path(path)
    root = path / "mav0" if (path / "mav0").is_dir() else path
    if not root.is_dir():
        raise ImportFormatError("not a folder", path)
    cams = {cdir.name: read_camera_folder(cdir) for cdir in sorted(root.glob("cam*"))}
    imu = None
    if (root / "imu0" / "data.csv").exists():
        csv = root / "imu0" / "data.csv"
        rows = _csv_rows(csv, 7)
        vals = np.array([[float(v) for v in r[1:7]] for r in rows]) if rows else np.zeros((0, 6))
        imu = EurocImu(
            _ints(rows, csv),
            vals[:, :3],
            vals[:, 3:6],
            root / "imu0" / "sensor.yaml" if (root / "imu0" / "sensor.yaml").exists() else None,
        )
    gt = None
    gt_csv = root / "state_groundtruth_estimate0" / "data.csv"
    if gt_csv.exists():
        gt = read_groundtruth_csv(gt_csv)
    if not cams and imu is None:
        raise ImportFormatError(
            "no cam*/data.csv and no imu0/data.csv: not an EuRoC/ASL folder (expected mav0/...)", path
        )
    return EurocFolder(root, cams, imu, gt)
