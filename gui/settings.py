"""The app's remembered state: window layout, last screen and session, preferences.

Stored with QSettings in ``<home>/gui.ini`` (INI), so each home folder keeps its own.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from democap.home import Home

DEFAULTS = {"export/format": "lerobot", "robot": "", "operator": "", "export/policy": "", "export/split_val": 0.1}


def settings_for(home: Home) -> QSettings:
    return QSettings(str(Path(home.root) / "gui.ini"), QSettings.Format.IniFormat)


def get(s: QSettings, key: str) -> object:
    return s.value(key, DEFAULTS.get(key, ""))
