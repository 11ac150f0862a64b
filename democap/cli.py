"""The ``democap`` command line: thin over the library; one line per error, never a traceback.

Commands of other packages plug in through ``<package>.cli.add_commands(subparsers)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import democap
from democap.errors import DemocapError, SessionNotFoundError
from democap.home import Home

log = logging.getLogger("democap")

PLUGIN_PACKAGES = ("devices", "capture", "calib", "slam", "ik", "flags", "export", "gui")


# ------------------------------------------------------------------ helpers


def resolve_session(home: Home, ident: str):
    """A session by id, unique id prefix, or ``last`` (the newest)."""
    from capture.session import Session

    if (home.sessions / ident / "manifest.json").exists():
        return Session(home.sessions / ident)
    candidates = sorted(p.parent for p in home.sessions.glob("*/manifest.json"))
    if ident == "last":
        if not candidates:
            raise SessionNotFoundError("no sessions yet; run `democap import` or `democap record`", home.sessions)
        return Session(max(candidates, key=lambda p: p.stat().st_mtime_ns))
    matches = [p for p in candidates if p.name.startswith(ident)]
    if len(matches) == 1:
        return Session(matches[0])
    if not matches:
        raise SessionNotFoundError(f"no session {ident!r} (see `democap sessions list`)", home.sessions)
    raise SessionNotFoundError(f"{ident!r} matches {len(matches)} sessions; give more of the id", home.sessions)


def _fmt_ns(session, t_ns: int | None) -> str:
    if t_ns is None:
        return "-"
    if session.manifest.get("clock_domain") == "dataset":
        return f"{t_ns / 1e9:.3f} s"
    rt = session.clock.to_realtime(int(t_ns))
    return dt.datetime.fromtimestamp(rt / 1e9, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ----------------------------------------------------------------- commands


def cmd_import(args: argparse.Namespace) -> int:
    from capture.importers import detect_format, importer

    path = Path(args.path)
    if not path.exists():
        raise DemocapError("no such file or folder", path)
    fmt = args.format or detect_format(path)
    s = importer(fmt)(path, args.home, operator=args.operator, lossless=not args.lossy)
    for name, spec in s.streams.items():
        print(f"  {name:<16} {spec['kind']:<7} {spec['count']:>6} samples")
    print(s.id)
    return 0


def cmd_sessions_list(args: argparse.Namespace) -> int:
    from capture.catalog import Catalog

    cat = Catalog(args.home)
    rows = cat.sessions(args.where)
    cat.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no sessions (import one with `democap import PATH` or record with `democap record --virtual`)")
        return 0
    out = []
    for r in rows:
        when = dt.datetime.fromtimestamp(r["created_realtime_ns"] / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M")
        out.append([r["id"], when, r["source_kind"], r["status"], f"{r['duration_s']:.1f}", r["n_episodes"]])
    print(_table(out, ["id", "created (UTC)", "source", "status", "seconds", "episodes"]))
    return 0


def cmd_sessions_show(args: argparse.Namespace) -> int:
    from capture.artifacts import read_stage, session_flags
    from democap.model import review_of

    s = resolve_session(args.home, args.id)
    m = s.manifest
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    print(f"session   {s.id}")
    print(f"path      {s.path}")
    print(f"status    {m['status']}   source {m['source'].get('kind')} {m['source'].get('path', '')}")
    print(f"software  democap {m['software_version']}   schema v{m['schema_version']}   clock {m['clock_domain']}")
    for rig, info in m.get("rigs", {}).items():
        dev = info.get("device", {})
        print(
            f"rig       {rig}: {dev.get('serial', '?')} ({dev.get('hardware', '?')}, firmware "
            f"{dev.get('firmware', '?')}), calibration {str(info.get('calibration', 'none'))[:19]}"
        )
    rows = []
    for name, sp in sorted(m["streams"].items()):
        t0, t1 = sp.get("t0_ns"), sp.get("t1_ns")
        dur = f"{(t1 - t0) / 1e9:.2f}" if t0 is not None and t1 is not None else "-"
        rate = f"{sp['rate_hz']:.1f}" if sp.get("rate_hz") else "-"
        extra = f"{sp['width']}x{sp['height']} {sp['pix_fmt']} {sp['codec']}" if sp["kind"] == "video" else ""
        rows.append(
            [
                name,
                sp["kind"],
                sp.get("count", "?"),
                rate,
                t0 if t0 is not None else "-",
                t1 if t1 is not None else "-",
                dur,
                extra,
            ]
        )
    print("\nstreams")
    print(_table(rows, ["stream", "kind", "count", "Hz", "t0 [ns]", "t1 [ns]", "seconds", "format"]))
    decisions = s.decisions()
    print("\nepisodes")
    erows = [
        [e.index, e.source, _fmt_ns(s, e.t0_ns), f"{e.duration_s:.2f}", review_of(decisions, e.index).status, e.task]
        for e in s.episodes
    ]
    print(_table(erows, ["#", "source", "start", "seconds", "review", "task"]) if erows else "  none")
    stages_dir = s.path / "stages"
    recs = [str(p.parent.relative_to(stages_dir)) for p in sorted(stages_dir.glob("**/stage.json"))]
    print("\nstages")
    for r in recs:
        rec = read_stage(s, r)
        if rec is not None:
            when = dt.datetime.fromtimestamp(rec.created_realtime_ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M")
            print(f"  {r:<20} v{rec.version}  {when}  {', '.join(rec.outputs)}")
    if not recs:
        print("  none yet (run `democap process`)")
    flags = session_flags(s)
    if flags:
        counts: dict[str, int] = {}
        for f in flags:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        print("\nflags     " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    return 0


def cmd_catalog_rebuild(args: argparse.Namespace) -> int:
    from capture.catalog import rebuild

    counts = rebuild(args.home)
    print("catalog rebuilt: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0 if counts.get("problems", 0) == 0 else 1


def cmd_verify(args: argparse.Namespace) -> int:
    s = resolve_session(args.home, args.id)
    problems = s.verify()
    if problems:
        for p in problems:
            print(f"problem: {p}", file=sys.stderr)
        print(f"{s.id}: {len(problems)} problem(s)")
        return 1
    n = sum(sp.get("count", 0) for sp in s.streams.values())
    print(f"{s.id}: ok ({len(s.streams)} streams, {n} samples, every chunk's SHA-256 matches)")
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    from democap.pipeline import process, process_pending

    if args.pending:
        outcome = process_pending(args.home, robot=args.robot)
        for sid, res in outcome.items():
            print(f"{sid}: {res}")
        if not outcome:
            print("nothing pending")
        return 0 if all(v == "ok" for v in outcome.values()) else 1
    if not args.id:
        raise DemocapError("give a session id or --pending")
    s = resolve_session(args.home, args.id)
    runs = process(s, args.home, robot=args.robot, force=args.force, method=args.method, place_base=args.place_base,
                   map_name=args.map)  # fmt: skip
    for r in runs:
        state = "ran" if r.ran else "up to date"
        extra = ""
        if r.stage == "trajectory":
            extra = "  " + "  ".join(
                f"{rig}: {v.get('share_ok', 0):.0%} ok ({v.get('method')}, world "
                f"{v.get('world_anchor')}){' - ' + v['reason'] if v.get('reason') else ''}"
                for rig, v in r.summary.items()
                if isinstance(v, dict)
            )
        print(f"{r.stage:<18} {state:<11} {r.seconds:6.1f} s{extra}")
    return 0


def cmd_trajectory(args: argparse.Namespace) -> int:
    from capture.artifacts import load_trajectory
    from democap.formats.tum import write_tum

    s = resolve_session(args.home, args.id)
    traj = load_trajectory(s, args.rig)
    if args.format != "tum":
        raise DemocapError(f"format {args.format!r} is not supported; use tum")
    out = Path(args.output)
    if out.exists() and not args.force:
        raise DemocapError("exists; refusing to overwrite (pass --force)", out)
    write_tum(out, traj.t_ns, traj.T_world_body)
    print(f"wrote {len(traj)} poses T_world_{traj.body} (TUM: t tx ty tz qx qy qz qw) to {out}")
    return 0


# ------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="democap",
        description="Handheld-gripper demonstrations: capture, SLAM, retargeting, gap flags and dataset export.",
    )
    p.add_argument("--home", help="home folder (default: $DEMOCAP_HOME or the user data folder)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    p.add_argument("--version", action="version", version=f"democap {democap.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sp = sub.add_parser("import", help="import a recording (EuRoC, TUM RGB-D, GoPro MP4, RealSense) as a session")
    sp.add_argument("path")
    sp.add_argument("--format", choices=["euroc", "tum", "gopro", "realsense"])
    sp.add_argument("--operator", default="", help="pseudonymous operator id")
    sp.add_argument("--lossy", action="store_true", help="store video as H.264 instead of lossless FFV1")
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("sessions", help="list or show sessions")
    ss = sp.add_subparsers(dest="sessions_cmd", metavar="list|show", required=True)
    x = ss.add_parser("list", help="all sessions in the catalog")
    x.add_argument("--where", help="SQL condition over the sessions table, e.g. \"source_kind = 'euroc'\"")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_sessions_list)
    x = ss.add_parser("show", help="one session: streams with counts and time ranges, episodes, stages")
    x.add_argument("id", help="session id, unique prefix, or 'last'")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_sessions_show)

    sp = sub.add_parser("catalog", help="the SQLite index of the home folder")
    cs = sp.add_subparsers(dest="catalog_cmd", metavar="rebuild", required=True)
    cs.add_parser("rebuild", help="recreate the catalog from the files").set_defaults(func=cmd_catalog_rebuild)

    sp = sub.add_parser("verify", help="check a session's checksums and stream integrity")
    sp.add_argument("id")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("process", help="run a session's stale stages (trajectory, retarget, flags)")
    sp.add_argument("id", nargs="?")
    sp.add_argument("--pending", action="store_true", help="process every session with stale stages")
    sp.add_argument("--robot", help="robot to retarget to (see `democap robots list`)")
    sp.add_argument("--method", help="trajectory method (vio or simple)")
    sp.add_argument("--force", action="store_true", help="re-run stages even if up to date")
    sp.add_argument("--map", help="track in this workspace map (`democap map build`); '' drops the map")
    sp.add_argument(
        "--place-base", action="store_true", help="search the robot base pose that makes most frames feasible"
    )
    sp.set_defaults(func=cmd_process)

    sp = sub.add_parser("trajectory", help="write a session's trajectory to a file")
    sp.add_argument("id")
    sp.add_argument("--format", default="tum", choices=["tum"])
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--rig", default="rig0")
    sp.add_argument("--force", action="store_true", help="overwrite the output file")
    sp.set_defaults(func=cmd_trajectory)

    for pkg in PLUGIN_PACKAGES:
        try:
            mod = importlib.import_module(f"{pkg}.cli")
        except ModuleNotFoundError as e:
            if e.name != f"{pkg}.cli":
                log.debug("commands of %s unavailable: %s", pkg, e)
            continue
        mod.add_commands(sub)
    return p


def _crash_log(home: Home | None) -> Path | None:
    """Write the traceback to the home's logs (or, if that disk is full, the temp folder)."""
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
    for base in ([home.root / "logs"] if home else [Path.cwd() / "logs"]) + [Path(tempfile.gettempdir())]:
        try:
            base.mkdir(parents=True, exist_ok=True)
            (base / name).write_text(traceback.format_exc())
            return base / name
        except OSError:
            continue
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    home = None
    try:
        home = Home.resolve(args.home)
        args.home = home
        return int(args.func(args) or 0)
    except DemocapError as e:
        print(f"democap: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("democap: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: no tracebacks for users
        path = _crash_log(home)
        where = f"details in {path}" if path else "no crash log: nowhere to write it"
        print(f"democap: internal error: {type(e).__name__}: {e} ({where}; please report it)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
