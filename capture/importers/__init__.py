"""Importers: recordings made elsewhere become sessions. One module per source format."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capture.calibrations import store_calibration
from capture.catalog import refresh_session
from capture.session import Session, SessionWriter
from democap.errors import ImportFormatError
from democap.home import Home
from democap.model import ClockPair, Episode, RigCalibration

log = logging.getLogger(__name__)

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


def dataset_writer(
    home: Home,
    kind: str,
    path: Path,
    operator: str,
    t_first_ns: int,
    device: dict[str, Any],
    calibration: RigCalibration | None = None,
) -> SessionWriter:
    """A writer for an imported recording: its own clock serves as host time (``clock_domain: dataset``)."""
    if calibration is not None:
        store_calibration(home, calibration)
    writer = SessionWriter(
        home.sessions,
        source={"kind": kind, "path": str(Path(path).resolve())},
        operator=operator,
        rigs={"rig0": {"device": {"firmware": "unknown", "kind": kind, **device}}},
        clock=ClockPair(t_first_ns, t_first_ns),
        clock_domain="dataset",
    )
    if calibration is not None:
        writer.add_calibration("rig0", calibration)
    return writer


def finish_import(home: Home, writer: SessionWriter, t0_ns: int, t1_ns: int, source: Path) -> Session:
    """Close an imported session as one episode ``[t0, t1)`` and index it in the catalog."""
    session = Session(writer.close(episodes=[Episode(0, int(t0_ns), int(t1_ns), "import")]))
    refresh_session(home, session)
    log.info("imported %s as session %s", source, session.id)
    return session
