"""``democap gui [--screenshots DIR]``: open the desktop app, or save a picture of each screen."""

from __future__ import annotations

import argparse
import logging
from typing import Any


def cmd_gui(args: argparse.Namespace) -> int:
    if args.screenshots:
        from gui.app import screenshots

        logging.getLogger("gui").setLevel(logging.INFO)
        for p in screenshots(args.screenshots, args.record_seconds):
            print(p)
        return 0
    import sys

    from gui.app import run

    return run(args.home, explicit_home=any(a == "--home" or a.startswith("--home=") for a in sys.argv))


def add_commands(sub: Any) -> None:
    p = sub.add_parser("gui", help="open the desktop app (devices, live capture, calibration, review, export)")
    p.add_argument("--screenshots", metavar="DIR", help="open each main screen in a demo home, save DIR/<screen>.png "
                                                         "and exit (needs a display; use xvfb-run on a server)")
    p.add_argument("--record-seconds", type=float, default=8.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_gui)
