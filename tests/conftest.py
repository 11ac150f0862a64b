"""Shared fixtures: the real data folder, a throwaway home folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_data_root() -> Path:
    return Path(os.environ.get("DEMOCAP_TEST_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def test_data() -> Path:
    root = test_data_root()
    if not root.is_dir():
        pytest.skip(f"shared test data not found at {root} (set DEMOCAP_TEST_DATA)")
    return root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from democap.home import Home

    monkeypatch.setenv("DEMOCAP_HOME", str(tmp_path / "home"))
    return Home.resolve(tmp_path / "home")


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus) -> None:  # type: ignore[no-untyped-def]
    _EXIT_STATUS.append(int(exitstatus))


def pytest_unconfigure(config) -> None:  # type: ignore[no-untyped-def]
    """Leave without interpreter finalisation once Qt has been used (results are already reported).

    With PySide6, pyqtgraph and the native robotics modules loaded, Python's garbage collection
    at finalisation aborts ("none_dealloc") after every test has run and been reported; the app
    avoids the same teardown (gui/cli.py). The exit status is pytest's own.
    """
    import sys

    if "PySide6.QtWidgets" in sys.modules and _EXIT_STATUS:
        if "gui.isolated" in sys.modules:
            sys.modules["gui.isolated"].shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
