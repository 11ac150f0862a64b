"""Shared robots for the ik tests (loading a URDF takes a fraction of a second; do it once)."""

from __future__ import annotations

import pytest

from ik.profile import find_profile
from ik.robot import Robot, load_robot


@pytest.fixture(scope="session")
def panda() -> Robot:
    return load_robot(find_profile("panda"))
