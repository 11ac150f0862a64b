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
