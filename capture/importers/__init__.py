"""Importers: recordings made elsewhere become sessions. One module per source format."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from democap.errors import ImportFormatError

#: format name -> "module:function"; every importer is ``f(path, home, *, operator, lossless) -> Session``.
IMPORTERS = {
    "euroc": "capture.importers.euroc:import_euroc",
    "tum": "capture.importers.tum:import_tum_rgbd",
    "gopro": "capture.importers.gopro:import_gopro",
    "realsense": "capture.importers.realsense:import_realsense",
}


def importer(fmt: str) -> Callable[..., Any]:
    if fmt not in IMPORTERS:
        raise ImportFormatError(f"unknown format {fmt!r}; choose from {', '.join(IMPORTERS)}")
    mod, fn = IMPORTERS[fmt].split(":")
    return getattr(importlib.import_module(mod), fn)


def detect_format(path: Path) -> str:
    """The format of a folder or file, from its layout or suffix."""
    p = Path(path)
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix in (".mp4", ".mov"):
            return "gopro"
        if suffix in (".db3", ".bag"):
            return "realsense"
        raise ImportFormatError(
            f"cannot tell the format of a {suffix or 'suffix-less'} file: expected a GoPro "
            ".mp4 or a RealSense .db3/.bag recording; pass --format",
            p,
        )
    if (p / "mav0").is_dir() or (p / "cam0" / "data.csv").exists() or (p / "imu0" / "data.csv").exists():
        return "euroc"
    if (p / "rgb.txt").exists():
        return "tum"
    if any(p.glob("*.db3")):
        return "realsense"
    raise ImportFormatError(
        "cannot tell the format: expected an EuRoC folder (mav0/cam0/data.csv), a TUM "
        "RGB-D folder (rgb.txt), a GoPro .mp4 or a RealSense .db3/.bag; pass --format",
        p,
    )
