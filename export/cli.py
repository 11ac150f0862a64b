"""``democap export ID... --format FMT -o DIR``: thin over ``export.run``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from capture.session import Session
from democap.errors import ExportError, PolicyError
from democap.home import Home


def _policy(path: str | None):
    from democap.model import DEFAULT_POLICY, ExportPolicy

    if not path:
        return DEFAULT_POLICY
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise PolicyError(f"cannot read ({e.strerror})", p) from e
    if p.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise PolicyError(f"not JSON ({e})", p) from e
    return ExportPolicy.from_dict(data, str(p))


def _catalog_sessions(home: Home) -> list[Session]:
    from capture.catalog import Catalog

    cat = Catalog(home)
    try:
        rows = cat.sessions("status != 'recording'")
    finally:
        cat.close()
    return [Session(Path(r["path"])) for r in rows]


def cmd_export(args: argparse.Namespace) -> int:
    from democap.cli import resolve_session
    from export import run
    from export.pipeline import parse_split
    from export.video import VideoSettings

    if args.ids:
        sessions = [resolve_session(args.home, i) for i in args.ids]
    elif args.where:
        sessions = _catalog_sessions(args.home)  # a query over everything the catalog indexes
    else:
        raise ExportError("give session ids, or --where to export by query over the catalog")
    profile = None
    if args.robot:
        from ik.profile import find_profile

        profile = find_profile(args.robot, args.home).settings_dict()
    size = None
    if args.image_size:
        h, _, w = args.image_size.partition("x")
        size = (int(h), int(w))
    res = run(
        sessions,
        args.format,
        Path(args.out),
        _policy(args.policy),
        robot=args.robot,
        split=parse_split(args.split),
        append=args.append,
        where=args.where,
        video=VideoSettings(codec=args.codec, crf=args.crf),
        blur_faces=args.blur_faces,
        robot_profile=profile,
        image_size=size,
    )
    if getattr(args, "json", False):
        print(json.dumps(res.to_dict(), indent=2))
        return 0
    print(
        f"{res.episodes} episodes, {res.frames} frames at {res.fps:g} fps -> {res.out_dir} "
        f"({res.seconds:.1f} s); splits: " + ", ".join(f"{k} {v}" for k, v in sorted(res.splits.items()))
    )
    for e in res.excluded:
        print(f"  excluded {e.session} episode {e.episode}: {e.reason}")
    print(f"datasheet: {res.datasheet.with_suffix('.md')}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export sessions as a training dataset (LeRobot v3, robomimic, ACT, UMI zarr)")
    p.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="session ids (unique prefixes, or 'last'); none with --where: every session in the catalog",
    )
    p.add_argument("--format", required=True, choices=("lerobot", "robomimic", "act", "umi-zarr"))
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--policy", help="export policy file (JSON or YAML); default: democap.model.DEFAULT_POLICY")
    p.add_argument("--robot", help="robot whose retargeted joints become observation.state")
    p.add_argument("--split", help="e.g. val=0.1 (deterministic per episode)")
    p.add_argument(
        "--where",
        help="SQL condition on episodes: session, episode, task, duration_s, verdict, "
        "review, tracking_ok, flags, error_share, warn_share",
    )
    p.add_argument("--append", action="store_true", help="add episodes to an existing LeRobot dataset")
    p.add_argument("--codec", default="h264", choices=("h264", "av1"), help="LeRobot video codec")
    p.add_argument("--crf", type=int, default=23, help="video quality (lower is better)")
    p.add_argument("--image-size", help="HxW for formats storing raw images (robomimic, act), e.g. 240x320")
    p.add_argument(
        "--blur-faces",
        default="head",
        choices=("head", "all", "none"),
        help="blur faces in head cameras (default), every camera, or none",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)
