"""The datasheet written with every export (``datasheet.json`` + ``datasheet.md``).

How the data was collected, with which devices and firmware (session manifest ``rigs``),
calibration hashes, software version, pseudonymous operator ids, flag statistics, and
what the policy or the operators excluded and why. Deterministic for the same inputs:
no export wall-clock time is recorded (the home folder's export log has it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import democap
from capture.session import Session
from democap.model import ExportPolicy
from export.episodes import EpisodeFrames, Exclusion


def pseudonym(operator: str) -> str:
    """A stable pseudonymous id: never the name typed into the recorder."""
    if not operator:
        return "unknown"
    return "op-" + hashlib.sha256(("democap-operator:" + operator).encode()).hexdigest()[:8]


def build(
    sessions: Sequence[Session],
    included: Sequence[tuple[int, EpisodeFrames, str]],
    excluded: Sequence[Exclusion],
    policy: ExportPolicy,
    fmt: str,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The datasheet as a JSON-able dict. ``included``: (dataset episode index, episode, split)."""
    flag_stats: dict[str, dict[str, float]] = {}
    frames = 0
    for _, ep, _ in included:
        frames += len(ep)
        for f in ep.episode_flags:
            s = flag_stats.setdefault(f.kind, {"count": 0, "seconds": 0.0, "error": 0, "warn": 0, "info": 0})
            s["count"] += 1
            s["seconds"] += (f.t1_ns - f.t0_ns) * 1e-9
            s[f.severity] += 1
    sess = []
    for session in sessions:
        m = session.manifest
        sess.append(
            {
                "id": session.id,
                "source": m.get("source", {}),
                "operator": pseudonym(m.get("operator", "")),
                "software_version": m.get("software_version"),
                "created_realtime_ns": m["created"]["realtime_ns"],
                "rigs": {r: {k: v for k, v in info.items()} for r, info in sorted(m.get("rigs", {}).items())},
                "calibrations": list(m.get("calibrations", [])),
                "streams": {
                    n: {
                        k: v
                        for k, v in spec.items()
                        if k in ("kind", "rate_hz", "width", "height", "pix_fmt", "codec", "count")
                    }
                    for n, spec in sorted(m["streams"].items())
                },
                "episodes": len(m.get("episodes", [])),
                "stages": sorted(
                    str(p.parent.relative_to(session.path / "stages"))
                    for p in (session.path / "stages").glob("**/stage.json")
                ),
            }
        )
    splits: dict[str, int] = {}
    for _, _, sp in included:
        splits[sp] = splits.get(sp, 0) + 1
    return {
        "schema": "democap.datasheet",
        "schema_version": 1,
        "format": fmt,
        "exporter": {"software": "democap", "version": democap.__version__},
        "settings": settings,
        "policy": policy.to_dict(),
        "how_collected": (
            "Handheld-gripper demonstrations recorded with democap rigs (camera, IMU, finger-width "
            "sensing); poses from visual-inertial SLAM; every stream resampled to the camera frames' "
            "latency-corrected host timestamps (SLERP for rotations)."
        ),
        "sessions": sess,
        "episodes": {"included": len(included), "excluded": len(excluded), "frames": frames, "splits": splits},
        "included": [
            {
                "index": i,
                "session": ep.session.id,
                "episode": ep.episode.index,
                "task": ep.task,
                "frames": len(ep),
                "split": sp,
                "review": ep.review.status,
                "notes": list(ep.review.notes),
                "masked_frames": int(ep.masked.sum()),
                "trimmed_frames": int(len(ep.selection.frame_keep) - ep.selection.frame_keep.sum()),
            }
            for i, ep, sp in included
        ],
        "excluded": [
            {
                "session": e.session,
                "episode": e.episode,
                "task": e.task,
                "reason": e.reason,
                "duration_s": round(e.duration_s, 3),
            }
            for e in excluded
        ],
        "flag_statistics": dict(sorted(flag_stats.items())),
    }


def to_markdown(ds: dict[str, Any]) -> str:
    lines = [
        f"# Datasheet: democap {ds['format']} export",
        "",
        f"Exported by democap {ds['exporter']['version']}.",
        "",
        "## How the data was collected",
        "",
        ds["how_collected"],
        "",
        "## Sessions, devices and calibration",
        "",
    ]
    for s in ds["sessions"]:
        lines.append(
            f"- **{s['id']}** (operator {s['operator']}, recorded with democap {s['software_version']}, "
            f"source {s['source'].get('kind', '?')})"
        )
        for r, info in s["rigs"].items():
            desc = ", ".join(f"{k} {v}" for k, v in info.items() if k != "calibration")
            lines.append(f"  - {r}: {desc}; calibration `{info.get('calibration', 'none')}`")
        if "flags" not in s.get("stages", []):
            lines.append("  - **no observation flags were computed for this session**")
    e = ds["episodes"]
    lines += [
        "",
        "## Episodes",
        "",
        f"{e['included']} episodes ({e['frames']} frames) included, "
        f"{e['excluded']} excluded. Splits: " + ", ".join(f"{k} {v}" for k, v in sorted(e["splits"].items())),
        "",
        "| # | session | episode | task | frames | split | review | masked | trimmed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i in ds["included"]:
        lines.append(
            f"| {i['index']} | {i['session']} | {i['episode']} | {i['task']} | {i['frames']} | "
            f"{i['split']} | {i['review']} | {i['masked_frames']} | {i['trimmed_frames']} |"
        )
    lines += ["", "## Excluded and why", ""]
    lines += [
        f"- {x['session']} episode {x['episode']} ({x['task']}, {x['duration_s']} s): {x['reason']}"
        for x in ds["excluded"]
    ] or ["- nothing was excluded"]
    lines += [
        "",
        "## Flag statistics (included episodes)",
        "",
        "| kind | count | seconds | error | warn | info |",
        "|---|---|---|---|---|---|",
    ]
    for k, s in ds["flag_statistics"].items():
        lines.append(f"| {k} | {s['count']} | {s['seconds']:.2f} | {s['error']} | {s['warn']} | {s['info']} |")
    lines += ["", "## Export policy", "", "```json", json.dumps(ds["policy"], indent=2), "```", ""]
    return "\n".join(lines)


def write(folder: Path, ds: dict[str, Any]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    j, m = folder / "datasheet.json", folder / "datasheet.md"
    j.write_text(json.dumps(ds, indent=2, sort_keys=True) + "\n")
    m.write_text(to_markdown(ds))
    return [j, m]
