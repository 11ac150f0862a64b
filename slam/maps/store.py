"""The one reader/writer of maps on disk: ``<home>/maps/<name>/{manifest.json, map.npz}``.

``map.npz`` holds the arrays, ``manifest.json`` says what they are (format version, frames,
pose encoding, counts, provenance) and the SHA-256 of ``map.npz``. The manifest is written
last, so a folder without one is an unfinished write and is ignored. A map is never
overwritten unless asked (``force``), and then the new one is complete before the old one goes.
docs/maps.md describes the format.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capture.session import atomic_write_bytes, atomic_write_json, sha256_file
from democap.errors import DemocapError
from democap.home import Home
from democap.model import CameraModel

FORMAT = "democap-map"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "map.npz"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

#: What every array in map.npz is; copied into each manifest so the file explains itself.
ARRAY_DOCS = {
    "kf_t_ns": "(K,) int64 host ns of each keyframe (camera timestamps, corrected as the trajectory stage used)",
    "kf_frame": "(K,) int64 frame number of each keyframe in the source session's camera stream",
    "T_world_cam": "(K, 4, 4) float64 keyframe poses: maps camera points to the map world (no quaternions)",
    "points_world": "(L, 3) float64 landmark positions in the map world, metres",
    "descriptors": "(L, 32) uint8 ORB descriptor of each landmark (the medoid of its observations)",
    "obs_keyframe": "(M,) int32 keyframe index of each observation",
    "obs_landmark": "(M,) int32 landmark index of each observation",
    "obs_px": "(M, 2) float32 pixel (u, v) of each observation in the source camera's raw image",
}


class MapError(DemocapError):
    """A map cannot be built, found, read or written."""


@dataclass(frozen=True, eq=False)
class Map:
    """A workspace map. Arrays as in ``ARRAY_DOCS``; ``camera`` is the source session's cam0.

    world_anchor: ``tag`` when the world is the table tag's frame (z up out of the table),
    else ``first_pose`` (gravity-aligned, the source session's first pose with yaw zeroed).
    """

    name: str
    camera: CameraModel
    world_anchor: str
    anchor_tag: int | None
    kf_t_ns: NDArray[np.int64]
    kf_frame: NDArray[np.int64]
    T_world_cam: NDArray[np.float64]
    points_world: NDArray[np.float64]
    descriptors: NDArray[np.uint8]
    obs_keyframe: NDArray[np.int32]
    obs_landmark: NDArray[np.int32]
    obs_px: NDArray[np.float32]
    source: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k, n_l, n_o = len(self.kf_t_ns), len(self.points_world), len(self.obs_keyframe)
        if self.T_world_cam.shape != (k, 4, 4) or self.kf_frame.shape != (k,):
            raise ValueError(f"map keyframe arrays disagree: {k} times, poses {self.T_world_cam.shape}")
        if self.points_world.shape != (n_l, 3) or self.descriptors.shape != (n_l, 32):
            raise ValueError(f"map landmark arrays disagree: {self.points_world.shape}, {self.descriptors.shape}")
        if self.obs_landmark.shape != (n_o,) or self.obs_px.shape != (n_o, 2):
            raise ValueError("map observation arrays disagree")

    @property
    def n_keyframes(self) -> int:
        return len(self.kf_t_ns)

    @property
    def n_landmarks(self) -> int:
        return len(self.points_world)

    def arrays(self) -> dict[str, NDArray[Any]]:
        return {k: getattr(self, k) for k in ARRAY_DOCS}

    def content_id(self) -> str:
        """A hash of the map's arrays: stage outputs computed in this map record it."""
        h = hashlib.sha256()
        for k, v in self.arrays().items():
            h.update(k.encode())
            h.update(np.ascontiguousarray(v).tobytes())
        return "sha256:" + h.hexdigest()[:32]


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise MapError(f"map name {name!r} must be 1-64 letters, digits, '_', '-' or '.' (not starting with one)")
    return name


def map_dir(home: Home, name: str) -> Path:
    return home.maps / check_name(name)


def save_map(home: Home, m: Map, force: bool = False) -> Path:
    """Write ``m`` under ``<home>/maps/<m.name>/``; refuses to replace an existing map unless ``force``."""
    final = map_dir(home, m.name)
    if (final / MANIFEST).exists() and not force:
        raise MapError("a map of this name exists; refusing to overwrite it (pass --force)", final)
    tmp = home.maps / f".{m.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **m.arrays())  # type: ignore[arg-type]  # numpy stubs mistype **arrays
    atomic_write_bytes(tmp / ARRAYS, buf.getvalue())
    atomic_write_json(tmp / MANIFEST, _manifest(m, sha256_file(tmp / ARRAYS)))
    old = None
    if final.exists():
        # Keep the old map until the new one is in place: a crash leaves one of the two complete.
        old = home.maps / f".{m.name}.{os.getpid()}.old"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _manifest(m: Map, npz_sha256: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": m.name,
        "created_realtime_ns": time.time_ns(),
        "content_id": m.content_id(),
        "world": {
            "anchor": m.world_anchor,
            "anchor_tag": m.anchor_tag,
            "frame": (
                "table tag frame: origin at the tag centre, x right and y up as printed, z up out of the table"
                if m.world_anchor == "tag"
                else "first pose of the source session, gravity-aligned (z up), yaw zeroed"
            ),
            "units": "metres",
        },
        "poses": {
            "encoding": "4x4 homogeneous matrices T_world_cam (maps camera points to world); no quaternions on disk",
            "quaternion_order": None,
            "camera_frame": "OpenCV: x right, y down, z forward",
        },
        "camera": m.camera.to_dict(),
        "features": {"kind": "ORB", "descriptor_bytes": 32, "matching": "Hamming"},
        "source": m.source,
        "settings": m.settings,
        "counts": {"keyframes": m.n_keyframes, "landmarks": m.n_landmarks, "observations": len(m.obs_keyframe)},
        "arrays": {"file": ARRAYS, "sha256": npz_sha256, "contents": ARRAY_DOCS},
    }


def read_manifest(path: Path) -> dict[str, Any]:
    mf = path / MANIFEST
    if not mf.exists():
        raise MapError("no map here (manifest.json missing)", path)
    try:
        man = json.loads(mf.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise MapError(f"unreadable map manifest ({e})", mf) from e
    if man.get("format") != FORMAT:
        raise MapError(f"not a democap map (format {man.get('format')!r})", mf)
    if int(man.get("version", 0)) > FORMAT_VERSION:
        raise MapError(f"map format version {man.get('version')} is newer than this democap ({FORMAT_VERSION})", mf)
    return man


def load_map(home: Home | None, name_or_path: str | Path) -> Map:
    """A map by name (under ``home``) or by folder path; checks the arrays' checksum."""
    path = Path(name_or_path)
    if home is not None and not (path.is_absolute() or path.exists()):
        path = map_dir(home, str(name_or_path))
        if not path.exists():
            known = ", ".join(m["name"] for m in list_maps(home)) or "none yet (democap map build)"
            raise MapError(f"no map named {name_or_path!r}; maps: {known}", home.maps)
    man = read_manifest(path)
    npz = path / ARRAYS
    if not npz.exists() or sha256_file(npz) != man["arrays"]["sha256"]:
        raise MapError("map arrays are missing or do not match the manifest's checksum", npz)
    with np.load(npz) as z:
        arrays = {k: z[k] for k in ARRAY_DOCS}
    return Map(
        name=man["name"],
        camera=CameraModel.from_dict(man["camera"]),
        world_anchor=man["world"]["anchor"],
        anchor_tag=man["world"].get("anchor_tag"),
        source=man.get("source", {}),
        settings=man.get("settings", {}),
        **arrays,
    )


def list_maps(home: Home) -> list[dict[str, Any]]:
    """Manifests of the complete maps under ``home`` (unfinished writes are skipped)."""
    out = []
    for p in sorted(home.maps.iterdir()) if home.maps.exists() else []:
        if p.name.startswith(".") or not (p / MANIFEST).exists():
            continue
        with contextlib.suppress(MapError):
            out.append({**read_manifest(p), "path": str(p)})
    return out
