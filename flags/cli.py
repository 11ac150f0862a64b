"""``democap flags ID``: compute observation-gap flags and print each episode's verdict."""

from __future__ import annotations

import argparse
import json


def _robot_camera(name: str | None, home):
    """(CameraModel, T_tcp_cam) of a robot profile's wrist camera, or (None, None)."""
    if not name:
        return None, None
    from ik.profile import find_profile

    prof = find_profile(name, home)
    if prof.camera is None or prof.camera.mount != "tcp":
        return None, None  # a fixed (base) camera sees something else: no like-for-like comparison
    return prof.camera.camera, prof.camera.T_mount_cam


def cmd_flags(args: argparse.Namespace) -> int:
    from capture.artifacts import session_flags
    from democap.cli import resolve_session
    from flags import stage
    from flags.summary import episode_summary

    session = resolve_session(args.home, args.id)
    cam, T_tcp_cam = _robot_camera(args.robot, args.home)
    rec = stage.run(session, robot_camera=cam, robot_T_tcp_cam=T_tcp_cam, force=args.force)
    flags = session_flags(session)
    summaries = [episode_summary(session, e, flags) for e in session.episodes]
    if getattr(args, "json", False):
        print(
            json.dumps(
                {
                    "stage": rec.to_dict(),
                    "flags": [f.to_dict() for f in flags if f.kind.startswith("observation.")],
                    "episodes": summaries,
                },
                indent=2,
            )
        )
        return 0
    t0 = min((e.t0_ns for e in session.episodes), default=0)
    for f in flags:
        if not f.kind.startswith("observation."):
            continue
        start, length = (f.t0_ns - t0) / 1e9, (f.t1_ns - f.t0_ns) / 1e9
        print(f"{f.rig:<5} {f.severity:<5} {f.kind:<34} {start:8.2f} s +{length:6.2f} s  {f.message}")
    print()
    for s in summaries:
        ok = ", ".join(f"{r} {v:.0%}" for r, v in s["tracking_ok_share"].items()) or "no trajectory"
        why = "; ".join(s["reasons"]) or "no problems found"
        print(f"episode {s['episode']:>3}  {s['verdict']:<6} tracking ok {ok}  {why}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("flags", help="flag observation gaps (blur, exposure, hands, tracking, timing) of a session")
    p.add_argument("id", help="session id, unique prefix, or 'last'")
    p.add_argument("--robot", help="robot profile whose wrist camera the rig camera is compared with")
    p.add_argument("--force", action="store_true", help="recompute even when the stored flags are current")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_flags)
