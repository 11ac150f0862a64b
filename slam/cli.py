"""SLAM commands: ``democap bench slam`` (thin over ``slam.bench``) and ``democap map ...``
(build / list / check / track, thin over ``slam.maps``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmarks")
    bsub = bench.add_subparsers(dest="bench_topic", required=True)
    p = bsub.add_parser("slam", help="trajectory accuracy and speed of the SLAM methods per sequence")
    p.add_argument("--sequences", help="comma-separated sequence names (default: all available)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of simulated/virtual sequences (s)")
    p.add_argument("--methods", help="estimators to compare: vio, simple, orbslam3 (default: all that can run here)")
    p.add_argument("--quick", action="store_true", help="only the fast sequences (no rendered virtual rig)")
    p.add_argument("--data", help="shared real data folder (default: $DEMOCAP_TEST_DATA or ../shared/data)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=_bench_slam)
    _add_map_commands(sub)


def _bench_slam(args: argparse.Namespace) -> int:
    from slam import bench

    data = Path(args.data) if args.data else bench.data_root_default()
    seqs = args.sequences.split(",") if args.sequences else bench.default_sequences(args.seconds, args.quick)
    as_json = getattr(args, "json", False)
    if not as_json:
        print(bench.format_header(), flush=True)
    rows = bench.run_bench(
        seqs,
        args.seconds,
        args.methods.split(",") if args.methods else bench.default_methods(),
        data,
        on_row=None if as_json else lambda r: print(bench.format_row(r), flush=True),
    )
    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(f"ORB-SLAM3: {bench.orbslam3_status()}")
    return 0


# ---------------------------------------------------------------------- maps


def _add_map_commands(sub: Any) -> None:
    mp = sub.add_parser("map", help="workspace maps that later sessions relocalise in")
    ms = mp.add_subparsers(dest="map_cmd", metavar="build|list|check|track", required=True)
    p = ms.add_parser("build", help="map the scene a session saw (runs its trajectory stage if needed)")
    p.add_argument("id", help="session id, unique prefix, or 'last'")
    p.add_argument("--name", required=True, help="map name (letters, digits, _ - .)")
    p.add_argument("--rig", default="rig0")
    p.add_argument("--force", action="store_true", help="replace an existing map of this name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_map_build)
    p = ms.add_parser("list", help="maps in the home folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_map_list)
    p = ms.add_parser("check", help="does relocalisation work across the workspace? (walk-through session)")
    p.add_argument("id", help="a short walk-through session over the workspace")
    p.add_argument("--map", required=True, help="map name")
    p.add_argument("--rig", default="rig0")
    p.add_argument("--step", type=int, default=3, help="try every n-th frame")
    p.add_argument("--cell", type=float, default=0.10, help="grid cell size (m)")
    p.add_argument("--plot", help="PNG to write (default: <home>/maps/<map>/checks/<session>.png)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_map_check)
    p = ms.add_parser("track", help="run a session's trajectory stage in a map's world (relocalise, join pieces)")
    p.add_argument("id")
    p.add_argument("--map", required=True, help="map name")
    p.add_argument("--method", help="trajectory method (vio; the map is used by vio only)")
    p.add_argument("--force", action="store_true", help="re-run even if up to date")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_map_track)


def _ensure_trajectory(session: Any, rig: str) -> None:
    from capture.artifacts import trajectory_path
    from slam import stage

    if not trajectory_path(session, rig).exists():
        print(f"{session.id}: no trajectory yet; running the trajectory stage", flush=True)
        stage.run(session)


def _map_build(args: argparse.Namespace) -> int:
    from democap.cli import resolve_session
    from slam.maps.build import build_map
    from slam.maps.store import MapError, map_dir, save_map

    s = resolve_session(args.home, args.id)
    path = map_dir(args.home, args.name)
    if (path / "manifest.json").exists() and not args.force:
        raise MapError("a map of this name exists; refusing to overwrite it (pass --force)", path)
    _ensure_trajectory(s, args.rig)
    m, stats = build_map(s, args.name, args.rig)
    out = save_map(args.home, m, force=args.force)
    if getattr(args, "json", False):
        print(json.dumps({"path": str(out), **stats, "landmarks": m.n_landmarks}, indent=2))
    else:
        print(
            f"map {m.name}: {m.n_keyframes} keyframes, {m.n_landmarks} landmarks, world {m.world_anchor}"
            f"{' (tag ' + str(m.anchor_tag) + ')' if m.anchor_tag is not None else ''}, "
            f"built in {stats['build_s']:.1f} s -> {out}"
        )
    return 0


def _map_list(args: argparse.Namespace) -> int:
    import datetime as dt

    from slam.maps.store import list_maps

    maps = list_maps(args.home)
    if getattr(args, "json", False):
        print(json.dumps(maps, indent=2))
        return 0
    if not maps:
        print("no maps yet (democap map build SESSION --name NAME)")
        return 0
    print(f"{'name':<20} {'session':<24} {'keyframes':>9} {'landmarks':>9}  world      created")
    for m in maps:
        when = dt.datetime.fromtimestamp(m["created_realtime_ns"] / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M")
        c = m["counts"]
        print(
            f"{m['name']:<20} {m['source'].get('session', ''):<24} {c['keyframes']:>9} {c['landmarks']:>9}  "
            f"{m['world']['anchor']:<10} {when}"
        )
    return 0


def _map_check(args: argparse.Namespace) -> int:
    from democap.cli import resolve_session
    from slam.maps.check import check_map, plot_check
    from slam.maps.store import load_map, map_dir

    m = load_map(args.home, args.map)
    s = resolve_session(args.home, args.id)
    _ensure_trajectory(s, args.rig)
    res = check_map(s, m, args.rig, step=args.step, cell_m=args.cell)
    plot = Path(args.plot) if args.plot else map_dir(args.home, m.name) / "checks" / f"{s.id}-{args.rig}.png"
    plot_check(res, plot)
    if getattr(args, "json", False):
        print(json.dumps({**res.as_dict(), "plot": str(plot)}, indent=2))
    else:
        print(
            f"{res.relocalised}/{res.tried} frames of {s.id} relocalise in map {m.name} ({res.share:.0%}), "
            f"{res.ms_per_frame:.0f} ms per frame"
        )
        symbols = {1: "#", 0: "X", -1: "."}
        print(
            f"workspace cells ({res.x_edges[1] - res.x_edges[0]:.2f} m; # relocalises, X fails, . not visited), "
            f"y up, x right from {res.x_edges[0]:+.2f} m:"
        )
        for row in res.grid[::-1]:
            print("  " + " ".join(symbols[int(v)] for v in row))
        print(f"plot: {plot}")
        print(res.verdict)
    return 0 if res.works else 1


def _map_track(args: argparse.Namespace) -> int:
    from democap.cli import resolve_session
    from slam import stage
    from slam.maps.store import load_map

    load_map(args.home, args.map)  # a missing map is an error before any work
    s = resolve_session(args.home, args.id)
    rec = stage.run(s, {"map": args.map}, method=args.method, force=args.force)
    if getattr(args, "json", False):
        print(json.dumps(rec.summary, indent=2, default=str))
        return 0
    for rig, v in rec.summary.items():
        if not isinstance(v, dict):
            continue
        mp = v.get("map", {})
        states = ", ".join(f"{k} {n}" for k, n in v.get("states", {}).items() if n)
        via = f" (from map {args.map})" if mp.get("world_from_map") else ""
        print(
            f"{rig}: world {v.get('world_anchor')}{via}; "
            f"{mp.get('relocalised_ok', 0)}/{mp.get('relocalised_tried', 0)} frames relocalised, "
            f"{mp.get('joined_pieces', 0)} piece(s) joined; states: {states}"
        )
    return 0
