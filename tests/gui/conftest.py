"""GUI tests run offscreen; each gets a fresh home folder and a main window on it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture
def window(home, qtbot):
    from gui.main_window import MainWindow

    win = MainWindow(home)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.jobs.wait(30000)
    win.devices.shutdown()


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory):
    from democap.home import Home
    from gui.app import seed_demo_home

    h = Home.resolve(tmp_path_factory.mktemp("demo-home"))
    seed_demo_home(h)
    return h


@pytest.fixture
def demo_home(home, _demo_template):
    """A home with two generated sessions (3 episodes each, flags run, Panda joints); a fresh copy per test."""
    import shutil

    from capture.catalog import rebuild

    shutil.copytree(_demo_template.sessions, home.sessions, dirs_exist_ok=True)
    rebuild(home)
    return home
