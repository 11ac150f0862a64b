"""The home folder: where sessions, calibrations, maps, the catalog and the keystore live.

Chosen by ``--home``, else ``DEMOCAP_HOME``, else the platform's user data folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, explicit: str | Path | None = None) -> Home:
        if explicit:
            root = Path(explicit)
        elif os.environ.get("DEMOCAP_HOME"):
            root = Path(os.environ["DEMOCAP_HOME"])
        else:
            from platformdirs import user_data_dir

            root = Path(user_data_dir("democap", appauthor=False))
        root = root.expanduser().resolve()
        for sub in ("sessions", "calibrations", "maps", "robots", "exports"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return cls(root)

    @property
    def sessions(self) -> Path:
        return self.root / "sessions"

    @property
    def calibrations(self) -> Path:
        return self.root / "calibrations"

    @property
    def maps(self) -> Path:
        return self.root / "maps"

    @property
    def robots(self) -> Path:
        """User robot profiles (YAML) beside the built-in ones."""
        return self.root / "robots"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.sqlite"

    @property
    def keystore(self) -> Path:
        """Per-rig pairing keys; created with mode 0600, never indexed by the catalog."""
        return self.root / "keystore.json"

    @property
    def exports_log(self) -> Path:
        """Append-only record of exports (the catalog's exports table is rebuilt from it)."""
        return self.root / "exports.jsonl"

    def session_path(self, session_id: str) -> Path:
        return self.sessions / session_id
