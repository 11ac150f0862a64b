"""``democap record``: record a session from the virtual rig or a paired rig."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from democap.errors import DemocapError

if TYPE_CHECKING:
    from capture.session import Session


def cmd_record(args: argparse.Namespace) -> int:
    if args.virtual:
        from capture.virtual import record_virtual

        s = record_virtual(
            args.home,
            seconds=args.seconds or 20.0,
            seed=args.seed,
            motion=args.motion,
            cameras=args.cameras,
            operator=args.operator,
            realtime=args.realtime,
        )
    else:
        from capture.rig import record_from_rig

        if not args.rig:
            raise DemocapError("give --virtual, or --rig SERIAL|ADDRESS of a paired rig (see `democap devices list`)")
        s = record_from_rig(args.home, args.rig, seconds=args.seconds, operator=args.operator)
    for name, spec in s.streams.items():
        print(f"  {name:<18} {spec['kind']:<9} {spec.get('count', 0):>7}")
    print(f"{len(s.episodes)} episode(s)")
    print(s.id)
    return _stopped_early(s)


def _stopped_early(s: Session) -> int:
    """Exit 4 when the recording ended by itself (disk full): it is saved, but shorter than asked."""
    stopped = s.manifest.get("stopped")
    if not stopped:
        return 0
    lost = s.manifest.get("write_errors", [])
    print(
        f"recording stopped early after {stopped.get('after_s', 0):.1f} s: {stopped['message']}. "
        f"Everything before it is saved in session {s.id}"
        + (f" (unfinished chunks given up: {len(lost)})" if lost else "")
        + ". Free space or choose another --home, then record again.",
        file=sys.stderr,
    )
    return 4


def cmd_demo(args: argparse.Namespace) -> int:
    import json

    from democap.demo import as_dict, run_demo, summary_lines

    r = run_demo(args.home, seconds=args.seconds, seed=args.seed)
    if args.json:
        print(json.dumps(as_dict(r), indent=2))
    else:
        print("\n".join(summary_lines(r)))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record",
        help="record a session (virtual rig or a paired rig)",
        epilog="Exit status 4: the recording stopped by itself before its end (the disk filled up); "
        "what was recorded until then is saved.",
    )
    p.add_argument("--virtual", action="store_true", help="record the built-in virtual rig (no hardware needed)")
    p.add_argument("--rig", help="serial or address of a paired rig")
    p.add_argument("--seconds", type=float, help="stop after this long (default: 20 s virtual, until Ctrl-C real)")
    p.add_argument("--seed", type=int, default=0, help="virtual rig: seed of the scripted motion and noise")
    p.add_argument(
        "--motion",
        default="pick_place",
        help="virtual rig: pick_place, pour, wipe or mixed; gripper_clip (close/open fully, for calib gripper) "
        "or screen_clip (films the clock monitor, for calib latency)",
    )
    p.add_argument(
        "--cameras",
        default="stereo-pinhole",
        help="virtual rig: mono-pinhole, stereo-pinhole, mono-fisheye or stereo-fisheye",
    )
    p.add_argument("--realtime", action="store_true", help="virtual rig: pace samples in real time")
    p.add_argument("--operator", default="", help="pseudonymous operator id")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("demo", help="the whole job on the virtual rig: record, track, retarget, flag, export")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_demo)
