"""``export.run``: sessions in, one training dataset out (LeRobot v3, robomimic, ACT, UMI zarr).

Steps: gather every episode of every session (in the given order), apply the operators'
review and the export policy (``select_frames``), an optional SQL filter over the
episode summaries, assign a deterministic train/val split, then hand the kept episodes
to the format's writer and write the datasheet beside the data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from capture.artifacts import session_flags
from capture.session import Session
from democap.errors import ExportError
from democap.model import DEFAULT_POLICY, ExportPolicy
from democap.progress import Progress
from export import datasheet
from export.episodes import EpisodeFrames, Exclusion, session_episodes
from export.video import VideoSettings
from flags.summary import episode_summary

log = logging.getLogger(__name__)

Format = Literal["lerobot", "robomimic", "act", "umi-zarr"]
FORMATS: tuple[str, ...] = ("lerobot", "robomimic", "act", "umi-zarr")


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    fmt: str
    episodes: int
    frames: int
    excluded: tuple[Exclusion, ...]
    splits: Mapping[str, int]
    files: tuple[Path, ...]
    seconds: float
    datasheet: Path
    fps: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "format": self.fmt,
            "episodes": self.episodes,
            "frames": self.frames,
            "excluded": [e.__dict__ for e in self.excluded],
            "splits": dict(self.splits),
            "seconds": round(self.seconds, 3),
            "datasheet": str(self.datasheet),
            "fps": self.fps,
            **dict(self.extra),
        }


def parse_split(text: str | None) -> dict[str, float] | None:
    """``"val=0.1"`` -> {"val": 0.1}; the rest is train."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, frac = part.partition("=")
        try:
            f = float(frac)
        except ValueError as e:
            raise ExportError(f"--split {text!r}: expected NAME=FRACTION, e.g. val=0.1") from e
        if not name or not 0 <= f < 1:
            raise ExportError(f"--split {text!r}: expected NAME=FRACTION with 0 <= FRACTION < 1")
        out[name.strip()] = f
    if sum(out.values()) >= 1:
        raise ExportError(f"--split {text!r}: the fractions leave nothing for train")
    return out


def assign_splits(keys: Sequence[str], split: Mapping[str, float] | None) -> list[str]:
    """Deterministic split names for episode keys: ranked by a hash of the key, not by chance."""
    names = ["train"] * len(keys)
    if not split or not keys:
        return names
    order = sorted(range(len(keys)), key=lambda i: hashlib.sha256(keys[i].encode()).hexdigest())
    pos = 0
    for name, frac in sorted(split.items()):
        k = int(round(frac * len(keys)))
        if frac > 0 and k == 0 and len(keys) >= 2:
            k = 1  # a requested split is never silently empty
        for i in order[pos : pos + k]:
            names[i] = name
        pos += k
    return names


def where_filter(sessions: Sequence[Session], sql: str) -> set[tuple[str, int]]:
    """(session, episode) pairs whose summary matches an SQL WHERE clause.

    Columns: session, episode, task, duration_s, verdict, review, tracking_ok, flags, error_share, warn_share.
    """
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE episodes (session TEXT, episode INTEGER, task TEXT, duration_s REAL, verdict TEXT, "
        "review TEXT, tracking_ok REAL, flags INTEGER, error_share REAL, warn_share REAL)"
    )
    for s in sessions:
        flags = session_flags(s)
        for e in s.episodes:
            sm = episode_summary(s, e, flags)
            tr = list(sm["tracking_ok_share"].values())
            db.execute(
                "INSERT INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    s.id,
                    e.index,
                    e.task,
                    e.duration_s,
                    sm["verdict"],
                    sm["review"],
                    min(tr) if tr else None,
                    sum(v["count"] for v in sm["flags_by_kind"].values()),
                    sm["error_share"],
                    sm["warn_share"],
                ),
            )
    try:
        rows = db.execute(f"SELECT session, episode FROM episodes WHERE {sql}").fetchall()  # noqa: S608 - local user's own filter
    except sqlite3.Error as e:
        raise ExportError(f"--where {sql!r}: {e}") from e
    return {(r[0], int(r[1])) for r in rows}


def _camera_fps(sessions: Sequence[Session], eps: Sequence[EpisodeFrames]) -> int:
    rates = {round(float(e.session.streams[e.rigs[0].camera].get("rate_hz") or 0)) for e in eps}
    rates.discard(0)
    if not rates:  # no nominal rate: take the measured median frame period
        dt = np.concatenate([np.diff(e.t_ns) for e in eps if len(e) > 1])
        rates = {round(1e9 / float(np.median(dt)))}
    if len(rates) > 1:
        raise ExportError(f"sessions record at different camera rates {sorted(rates)}; export them separately")
    return int(rates.pop())


def run(
    sessions: list[Session],
    fmt: str,
    out_dir: Path,
    policy: ExportPolicy | None = None,
    robot: str | None = None,
    split: Mapping[str, float] | None = None,
    append: bool = False,
    where: str | None = None,
    video: VideoSettings | None = None,
    blur_faces: str = "head",
    robot_profile: Mapping[str, Any] | None = None,
    image_size: tuple[int, int] | None = None,
) -> ExportResult:
    """Export sessions as one dataset in ``out_dir``. See the module docstring.

    ``robot``: joints from ``stages/retarget/<robot>/`` become observation.state (else the TCP
    pose + gripper). ``split``: e.g. {"val": 0.1}. ``append``: add to an existing LeRobot
    dataset. ``blur_faces``: "head" (default: head-camera rigs), "all" or "none".
    ``image_size``: (height, width) for formats that store raw images (robomimic, ACT).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not sessions:
        raise ExportError("no session to export")
    policy = policy or DEFAULT_POLICY
    video = video or VideoSettings()
    t_start = time.monotonic()
    out_dir = Path(out_dir)
    chosen = where_filter(sessions, where) if where else None
    kept: list[EpisodeFrames] = []
    excluded: list[Exclusion] = []
    for s in sessions:
        if not (s.path / "stages" / "flags" / "stage.json").exists():
            # The policy can only act on flags that exist: say so rather than export silently unchecked.
            log.warning(
                "session %s has no observation flags yet (run `democap flags %s`); exporting without them", s.id, s.id
            )
        for item in session_episodes(s, policy, robot):
            if isinstance(item, Exclusion):
                excluded.append(item)
            elif chosen is not None and (s.id, item.episode.index) not in chosen:
                excluded.append(
                    Exclusion(
                        s.id, item.episode.index, item.task, f"not matched by --where {where}", item.episode.duration_s
                    )
                )
            else:
                kept.append(item)
    if not kept:
        reasons = "; ".join(f"{e.session}#{e.episode}: {e.reason}" for e in excluded[:5])
        raise ExportError(f"every episode was excluded ({reasons})")
    names = assign_splits([f"{e.session.id}:{e.episode.index}" for e in kept], split)
    # Train first, then each other split: LeRobot describes splits as contiguous index ranges.
    order = sorted(range(len(kept)), key=lambda i: (names[i] != "train", names[i], i))
    kept, names = [kept[i] for i in order], [names[i] for i in order]
    fps = _camera_fps(sessions, kept)
    total = sum(len(e) for e in kept)
    included: list[tuple[int, EpisodeFrames, str]] = []
    files: list[Path] = []
    extra: dict[str, Any] = {}
    settings = {
        "robot": robot,
        "split": dict(split or {}),
        "where": where,
        "fps": fps,
        "blur_faces": blur_faces,
        "video": video.__dict__,
        "append": append,
    }
    with Progress(f"export {fmt}", total) as bar:
        if fmt == "lerobot":
            from export.lerobot import LeRobotWriter

            w = LeRobotWriter(out_dir, fps, robot or "democap_handheld_gripper", video, append, blur_faces)
            for ep, sp in zip(kept, names, strict=True):
                included.append((w.add(ep, sp, bar), ep, sp))
            w.finish()
            meta = out_dir / "meta" / "democap"
            extra["faces_blurred_frames"] = w.faces_blurred
        else:
            if out_dir.exists() and any(out_dir.iterdir()) and not append:
                raise ExportError("output folder is not empty", out_dir)
            if append:
                raise ExportError(f"--append is supported for lerobot only, not {fmt}")
            meta = out_dir / "democap"
            if fmt == "robomimic":
                from export import robomimic

                files.append(robomimic.write(out_dir / "demo.hdf5", kept, names, fps, image_size, bar, blur_faces))
            elif fmt == "act":
                from export import act

                files += act.write(out_dir, kept, names, fps, image_size, bar, blur_faces)
            else:
                from export import umi_zarr

                files.append(umi_zarr.write(out_dir / "dataset.zarr.zip", kept, fps, bar, blur_faces))
            included = [(i, ep, sp) for i, (ep, sp) in enumerate(zip(kept, names, strict=True))]
    _write_provenance(meta, sessions, included, robot_profile)
    ds = datasheet.build(sessions, included, excluded, policy, fmt, settings)
    if append and (meta / "datasheet.json").exists():
        prior = json.loads((meta / "datasheet.json").read_text())
        ds["previous_exports"] = prior.get("previous_exports", []) + [
            {k: prior[k] for k in ("sessions", "episodes", "excluded", "settings") if k in prior}
        ]
    files += datasheet.write(meta, ds)
    # The datasheet also sits at the top, where a person opening the folder looks first.
    shutil.copyfile(meta / "datasheet.md", out_dir / "DATASHEET.md")
    splits: dict[str, int] = {}
    for sp in names:
        splits[sp] = splits.get(sp, 0) + 1
    res = ExportResult(
        out_dir,
        fmt,
        len(kept),
        total,
        tuple(excluded),
        splits,
        tuple(files),
        time.monotonic() - t_start,
        meta / "datasheet.json",
        float(fps),
        extra,
    )
    log.info(
        "exported %d episodes (%d frames) as %s to %s in %.1f s; %d excluded",
        res.episodes,
        res.frames,
        fmt,
        out_dir,
        res.seconds,
        len(excluded),
    )
    return res


def _write_provenance(
    meta: Path,
    sessions: Sequence[Session],
    included: Sequence[tuple[int, EpisodeFrames, str]],
    robot_profile: Mapping[str, Any] | None,
) -> None:
    """Calibrations, robot profile, flags and the episode-to-source map under the export's democap folder."""
    cal_dir = meta / "calibrations"
    cal_dir.mkdir(parents=True, exist_ok=True)
    for s in sessions:
        for p in sorted((s.path / "calibrations").glob("*.json")):
            shutil.copyfile(p, cal_dir / p.name)
    if robot_profile is not None:
        (meta / "robot.json").write_text(json.dumps(dict(robot_profile), indent=2, sort_keys=True, default=str) + "\n")
    sources_p = meta / "sources.jsonl"
    with open(sources_p, "a", encoding="utf-8") as f:
        for i, ep, sp in included:
            f.write(
                json.dumps(
                    {
                        "index": i,
                        "session": ep.session.id,
                        "episode": ep.episode.index,
                        "split": sp,
                        "t0_ns": int(ep.t_ns[0]),
                        "t1_ns": int(ep.t_ns[-1]),
                        "review": ep.review.status,
                        "notes": list(ep.review.notes),
                    },
                    sort_keys=True,
                )
                + "\n"
            )
    with open(meta / "flags.jsonl", "a", encoding="utf-8") as f:
        for i, ep, _ in included:
            for fl in ep.episode_flags:
                f.write(json.dumps({"index": i, **fl.to_dict()}, sort_keys=True) + "\n")
