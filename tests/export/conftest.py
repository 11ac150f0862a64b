"""Generated sessions for export tests (fixed seeds, small frames)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.session import Session
from flags import stage
from flags.synthetic import make_session


def tracked_session(root: Path, **kw) -> Session:
    s = Session(make_session(root, **kw))
    stage.run(s)
    return s


@pytest.fixture
def make_tracked():
    """Build a generated session with the flags stage run: ``make_tracked(root, **make_session kwargs)``."""
    return tracked_session


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    """3 episodes of 30 frames; blur in episode 0, lost tracking in episode 2; joints for 'panda'."""
    return tracked_session(
        tmp_path_factory.mktemp("sess"),
        episodes=3,
        blur=tuple(range(10, 16)),
        lost=tuple(range(80, 86)),
        dropped=(40,),
        robot="panda",
        tasks=("pick the cup", "open the drawer"),
    )
