"""One exception family per area; each carries the file or value at fault.

The CLI turns any ``DemocapError`` into a single line and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path


class DemocapError(Exception):
    """Base of every error democap reports to a user."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class SessionFormatError(DemocapError):
    """A session folder, manifest or stream file is missing, truncated or malformed."""


class SessionNotFoundError(DemocapError):
    """No session with that id in the home folder."""


class ImportFormatError(DemocapError):
    """A folder given to an importer is not in the expected layout."""


class CatalogError(DemocapError):
    """The SQLite catalog cannot be opened or migrated."""


class CalibrationError(DemocapError):
    """A calibration cannot be computed, read or found."""


class PolicyError(DemocapError):
    """An export policy file does not follow the schema."""


class StageError(DemocapError):
    """A pipeline stage cannot run on its inputs (and says why)."""


class ProtocolError(DemocapError):
    """A rig-link frame or message is malformed."""


class RobotError(DemocapError):
    """A robot profile or URDF cannot be loaded."""


class ExportError(DemocapError):
    """A dataset cannot be written."""


class DiskSpaceError(DemocapError):
    """Not enough free space to record safely."""
