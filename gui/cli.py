"""``democap gui [--screenshots DIR]``: open the desktop app, or save a picture of each screen."""

from __future__ import annotations

import argparse
import logging
from typing import Any, NoReturn


def cmd_gui(args: argparse.Namespace) -> int:
    if args.screenshots:
        from gui.app import screenshots

        logging.getLogger("gui").setLevel(logging.INFO)
        for p in screenshots(args.screenshots, args.record_seconds):
            print(p)
        return _exit_now(0)
    import sys

    from gui.app import run

    return _exit_now(run(args.home, explicit_home=any(a == "--home" or a.startswith("--home=") for a in sys.argv)))


def _exit_now(code: int) -> NoReturn:
    """Leave without interpreter finalisation once the app is closed and everything is on disk.

    Tearing down Qt, pyqtgraph and the native robotics modules in Python's arbitrary
    finalisation order aborts ("none_dealloc") after the work is done; the files are already
    written and flushed, so skipping the teardown loses nothing and gives the right exit code.
    """
    import os
    import sys

    from gui.isolated import shutdown

    shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("gui", help="open the desktop app (devices, live capture, calibration, review, export)")
    p.add_argument(
        "--screenshots",
        metavar="DIR",
        help="open each main screen in a demo home, save DIR/<screen>.png "
        "and exit (needs a display; use xvfb-run on a server)",
    )
    p.add_argument("--record-seconds", type=float, default=8.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_gui)
