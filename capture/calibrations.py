"""Calibration files under the home folder, named by content hash.

``<home>/calibrations/<sha256 hex>.json`` holds ``RigCalibration.to_dict()``. A file's
name is its content hash, so storing is idempotent and a file never changes.
"""

from __future__ import annotations

import json
from pathlib import Path

from capture.session import atomic_write_json
from democap.errors import CalibrationError
from democap.home import Home
from democap.model import RigCalibration


def calibration_path(home: Home, calib_hash: str) -> Path:
    return home.calibrations / (calib_hash.split(":", 1)[-1] + ".json")


def store_calibration(home: Home, calib: RigCalibration) -> Path:
    """Write the calibration file (if new) and index it in the catalog."""
    from capture.catalog import Catalog

    p = calibration_path(home, calib.hash)
    if not p.exists():
        atomic_write_json(p, calib.to_dict())
    cat = Catalog(home)
    try:
        cat.index_calibration(p)
    finally:
        cat.close()
    return p


def load_calibration(home: Home, calib_hash: str) -> RigCalibration:
    """A stored calibration by hash (full ``sha256:...`` or a unique hex prefix)."""
    hexpart = calib_hash.split(":", 1)[-1]
    matches = sorted(home.calibrations.glob(hexpart + "*.json"))
    if len(matches) != 1:
        raise CalibrationError(
            f"{'no' if not matches else 'more than one'} calibration matches {calib_hash!r}", home.calibrations
        )
    try:
        return RigCalibration.from_dict(json.loads(matches[0].read_text()))
    except (json.JSONDecodeError, KeyError, ValueError) as e:
        raise CalibrationError(f"not a democap calibration ({e})", matches[0]) from e
