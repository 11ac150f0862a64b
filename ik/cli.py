"""``democap retarget`` and ``democap robots``: thin over ik.stage and ik.profile."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np


def cmd_retarget(args: argparse.Namespace) -> int:
    from capture.artifacts import read_flags, stage_dir
    from democap.cli import resolve_session
    from ik import stage

    session = resolve_session(args.home, args.id)
    rec = stage.run(
        session,
        args.robot,
        args.home,
        place_base=args.place_base or args.place_episode is not None,
        progress=not args.json,
        force=args.force,
        place_episode=args.place_episode,
    )
    if args.json:
        print(json.dumps(rec.to_dict(), indent=2))
        return 0
    out = stage_dir(session, rec.stage)
    flags = read_flags(out / "flags.json")
    for rig, s in rec.summary.get("rigs", {}).items():
        base = np.asarray(s["T_world_base"])
        share = f", feasible share {s['feasible_share']:.0%}" if s.get("feasible_share") is not None else ""
        print(f"{rig}: {s['frames']} frames, base at ({base[0, 3]:.2f}, {base[1, 3]:.2f}, {base[2, 3]:.2f}) m{share}")
        for f in (f for f in flags if f.rig == rig):
            print(f"  {f.severity:<5} {f.kind:<30} {(f.t1_ns - f.t0_ns) / 1e9:6.2f} s  {f.message}")
        if not any(f.rig == rig for f in flags):
            print("  no embodiment flags")
    print(f"outputs in {out}")
    return 0


def cmd_robots_list(args: argparse.Namespace) -> int:
    from ik.profile import list_profiles, load_profile

    rows: list[dict[str, Any]] = []
    for name, path, builtin in list_profiles(args.home):
        try:
            desc = load_profile(path, builtin).description
        except Exception as e:  # noqa: BLE001 - a broken user profile is listed with its error, not fatal
            desc = f"(broken: {e})"
        rows.append({"name": name, "source": "built-in" if builtin else "user", "path": str(path), "description": desc})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows) if rows else 4
    for r in rows:
        print(f"{r['name']:<{width}}  {r['source']:<8}  {r['description']}")
    return 0


def cmd_robots_show(args: argparse.Namespace) -> int:
    from ik.profile import find_profile
    from ik.robot import load_robot

    p = find_profile(args.name, args.home)
    r = load_robot(p)
    info = {
        "name": p.name,
        "description": p.description,
        "profile": str(p.source),
        "urdf": str(p.urdf),
        "srdf": str(p.srdf) if p.srdf else None,
        "flange_frame": p.flange_frame,
        "joints": [
            {"name": n, "lower": float(lo), "upper": float(hi), "velocity": float(v), "acceleration": float(a)}
            for n, lo, hi, v, a in zip(r.joint_names, r.lower, r.upper, r.velocity, r.acceleration, strict=True)
        ],
        "T_flange_tcp": p.T_flange_tcp.tolist(),
        "T_world_base": p.T_world_base.tolist(),
        "gripper_m": [p.gripper_min_m, p.gripper_max_m],
        "tolerances": {"position_m": p.position_tol_m, "orientation_rad": p.orientation_tol_rad},
        "collision_pairs": len(r.collision.collisionPairs),
        "camera": p.camera.camera.to_dict() | {"mount": p.camera.mount} if p.camera else None,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{p.name}: {p.description}")
    print(f"profile   {p.source}")
    print(f"urdf      {p.urdf}")
    print(f"srdf      {p.srdf or '-'}   ({info['collision_pairs']} collision pairs checked)")
    print(f"tcp       {p.flange_frame} + xyz {np.round(p.T_flange_tcp[:3, 3], 4).tolist()}")
    print(f"base      world xyz {np.round(p.T_world_base[:3, 3], 3).tolist()}")
    print(f"gripper   {1e3 * p.gripper_min_m:.0f}-{1e3 * p.gripper_max_m:.0f} mm")
    print(f"tolerance {1e3 * p.position_tol_m:.1f} mm, {np.degrees(p.orientation_tol_rad):.1f} deg")
    if p.camera:
        c = p.camera.camera
        print(f"camera    {c.model} {c.width}x{c.height} f {c.fx:.0f} px, mounted on {p.camera.mount}")
    print("joints    name                  lower    upper   vel [rad/s]  acc [rad/s^2]")
    for j in info["joints"]:
        print(
            f"          {j['name']:<20} {j['lower']:7.3f}  {j['upper']:7.3f}  {j['velocity']:8.2f}  "
            f"{j['acceleration']:10.1f}"
        )
    return 0


def add_commands(sub: Any) -> None:
    sp = sub.add_parser("retarget", help="retarget a session's rig trajectories to a robot and flag embodiment gaps")
    sp.add_argument("id", help="session id, unique prefix, or 'last'")
    sp.add_argument("--robot", required=True, help="robot profile name (see `democap robots list`) or YAML file")
    sp.add_argument(
        "--place-base",
        action="store_true",
        help="search the base pose that makes the most frames feasible instead of the profile's",
    )
    sp.add_argument(
        "--place-episode",
        type=int,
        metavar="N",
        help="like --place-base, but maximise the feasible share of episode N only",
    )
    sp.add_argument("--force", action="store_true", help="re-run even if the outputs are up to date")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_retarget)

    sp = sub.add_parser("robots", help="robot profiles (built-in and in the home folder)")
    rs = sp.add_subparsers(dest="robots_cmd", metavar="list|show", required=True)
    x = rs.add_parser("list", help="available robot profiles")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_robots_list)
    x = rs.add_parser("show", help="one robot: joints, limits, TCP, gripper, camera")
    x.add_argument("name")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_robots_show)
