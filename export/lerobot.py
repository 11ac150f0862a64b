"""LeRobot dataset v3.0 writer (pyarrow + PyAV; lerobot itself is not imported).

Layout (what lerobot's ``CODEBASE_VERSION = "v3.0"`` reads)::

    meta/info.json            codebase_version, fps, features, totals, splits, path templates
    meta/stats.json           per feature: min, max, mean, std, count, q01, q10, q50, q90, q99
    meta/tasks.parquet        task_index, indexed by the task text (pandas index)
    meta/episodes/chunk-000/file-000.parquet   one row per episode (see EPISODE_COLUMNS)
    data/chunk-000/file-000.parquet            one file per episode here
    videos/<key>/chunk-000/file-000.mp4        one file per episode and camera
    meta/democap/             calibrations, robot, flags, sources, datasheet (ours)

Conventions: ``timestamp`` is ``frame_index / fps`` (what LeRobot's video decoding
matches); the real capture times sit beside it as ``timestamp_host_ns`` (raw host
arrival), ``timestamp_corrected_ns`` (latency-corrected, what all streams were
interpolated to) and ``time_real_s`` (corrected, from the episode's first frame).
Dropped camera frames therefore show up as steps in ``time_real_s``, never as faked
times, and are flagged. Quaternions are w,x,y,z. ``action`` is the next frame's state.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from democap.errors import ExportError
from democap.progress import Progress
from export.episodes import FLAG_COLUMNS, EpisodeFrames, RigFrames
from export.images import prefetch
from export.privacy import FaceBlurrer
from export.video import Mp4Writer, VideoSettings, video_info

log = logging.getLogger(__name__)

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


def video_key(rig: str, camera: str) -> str:
    return f"observation.images.{rig}_{camera.split('.', 1)[1]}"


def _chunk_file(n: int) -> tuple[int, int]:
    return n // CHUNKS_SIZE, n % CHUNKS_SIZE


# ------------------------------------------------------------------- statistics


def array_stats(x: NDArray) -> dict[str, Any]:
    """LeRobot's per-feature statistics of (N, D) values (over axis 0)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    out: dict[str, Any] = {
        "min": x.min(0),
        "max": x.max(0),
        "mean": x.mean(0),
        "std": x.std(0),
        "count": np.array([len(x)]),
    }
    for q in QUANTILES:
        out[f"q{round(q * 100):02d}"] = np.quantile(x, q, axis=0)
    return out


class ImageStats:
    """Per-channel pixel statistics of a video feature from 256-bin histograms, in [0, 1]."""

    def __init__(self) -> None:
        self.hist = np.zeros((3, 256), np.int64)
        self.frames = 0

    def add(self, rgb: NDArray[np.uint8]) -> None:
        sub = rgb[::4, ::4].reshape(-1, 3)  # a 16th of the pixels: the histogram barely changes
        for c in range(3):
            self.hist[c] += np.bincount(sub[:, c], minlength=256)
        self.frames += 1

    def stats(self) -> dict[str, Any]:
        v = np.arange(256) / 255.0
        tot = self.hist.sum(1).astype(np.float64)
        mean = (self.hist * v).sum(1) / tot
        std = np.sqrt(np.maximum((self.hist * v**2).sum(1) / tot - mean**2, 0))
        cdf = np.cumsum(self.hist, 1) / tot[:, None]
        out: dict[str, Any] = {
            "min": np.array([v[np.flatnonzero(h)[0]] for h in self.hist]),
            "max": np.array([v[np.flatnonzero(h)[-1]] for h in self.hist]),
            "mean": mean,
            "std": std,
            "count": np.array([self.frames]),
        }
        for q in QUANTILES:
            out[f"q{round(q * 100):02d}"] = np.array([v[np.searchsorted(c, q)] for c in cdf])
        return {k: (val if k == "count" else val.reshape(3, 1, 1)) for k, val in out.items()}


def aggregate_stats(parts: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Combine per-episode statistics: exact min/max/mean/std, count-weighted quantiles (as lerobot)."""
    out: dict[str, dict[str, Any]] = {}
    keys = sorted({k for p in parts for k in p})
    for k in keys:
        ps = [p[k] for p in parts if k in p]
        n = np.array([float(np.asarray(p["count"]).ravel()[0]) for p in ps])
        w = (n / n.sum()).reshape((-1,) + (1,) * np.asarray(ps[0]["mean"]).ndim)
        mean = np.sum([np.asarray(p["mean"], float) * wi for p, wi in zip(ps, w, strict=True)], axis=0)
        sq = np.sum(
            [
                (np.asarray(p["std"], float) ** 2 + np.asarray(p["mean"], float) ** 2) * wi
                for p, wi in zip(ps, w, strict=True)
            ],
            axis=0,
        )
        agg: dict[str, Any] = {
            "min": np.min([np.asarray(p["min"], float) for p in ps], axis=0),
            "max": np.max([np.asarray(p["max"], float) for p in ps], axis=0),
            "mean": mean,
            "std": np.sqrt(np.maximum(sq - mean**2, 0)),
            "count": np.array([int(n.sum())]),
        }
        for q in QUANTILES:
            key = f"q{round(q * 100):02d}"
            if all(key in p for p in ps):
                agg[key] = np.sum([np.asarray(p[key], float) * wi for p, wi in zip(ps, w, strict=True)], axis=0)
        out[k] = agg
    return out


def _jsonable(stats: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


# ------------------------------------------------------------------- features


def features_for(ep: EpisodeFrames, video: VideoSettings) -> dict[str, dict[str, Any]]:
    """info.json ``features`` for episodes shaped like ``ep`` (video info filled after encoding)."""
    _, state_names = ep.state()
    _, pose_names = ep.ee_pose()
    _, delta_names = ep.ee_delta()
    feats: dict[str, dict[str, Any]] = {}
    for r in ep.rigs:
        h, w = r.image_size
        feats[video_key(r.rig, r.camera)] = {
            "dtype": "video",
            "shape": [h, w, 3],
            "names": ["height", "width", "channels"],
            "info": None,
        }
    feats["observation.state"] = {"dtype": "float32", "shape": [len(state_names)], "names": state_names}
    feats["action"] = {"dtype": "float32", "shape": [len(state_names)], "names": state_names}
    feats["observation.ee_pose"] = {"dtype": "float32", "shape": [len(pose_names)], "names": pose_names}
    feats["ee_pose_delta"] = {"dtype": "float32", "shape": [len(delta_names)], "names": delta_names}
    feats["timestamp_host_ns"] = {"dtype": "int64", "shape": [1], "names": None}
    feats["timestamp_corrected_ns"] = {"dtype": "int64", "shape": [1], "names": None}
    feats["time_real_s"] = {"dtype": "float64", "shape": [1], "names": None}
    feats["gap_flags"] = {"dtype": "bool", "shape": [len(FLAG_COLUMNS)], "names": list(FLAG_COLUMNS)}
    feats["frame_masked"] = {"dtype": "bool", "shape": [1], "names": None}
    feats.update(DEFAULT_FEATURES)
    return feats


def _fixed(values: NDArray, typ: pa.DataType) -> pa.Array:
    n, d = values.shape
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), typ), d)


def _write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy")


def _tasks_table(tasks: Sequence[str]) -> pa.Table:
    """tasks.parquet as pandas writes ``DataFrame({"task_index": ...}, index=tasks)`` (lerobot reads it with pandas)."""
    meta = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": "__index_level_0__",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    t = pa.table(
        {"task_index": pa.array(range(len(tasks)), pa.int64()), "__index_level_0__": pa.array(list(tasks), pa.string())}
    )
    return t.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})


def read_tasks(root: Path) -> list[str]:
    p = root / "meta" / "tasks.parquet"
    if not p.exists():
        return []
    t = pq.read_table(p)
    name = "__index_level_0__" if "__index_level_0__" in t.column_names else "task"
    order = np.argsort(t.column("task_index").to_numpy())
    return [t.column(name).to_pylist()[i] for i in order]


# --------------------------------------------------------------------- writer


@dataclass
class LeRobotWriter:
    """Writes episodes into a new or existing (``append=True``) LeRobot v3.0 dataset folder."""

    root: Path
    fps: int
    robot_type: str
    video: VideoSettings = field(default_factory=VideoSettings)
    append: bool = False
    blur_faces: str = "head"  # "all", "head" (head-camera rigs only) or "none"
    features: dict[str, dict[str, Any]] | None = None
    tasks: list[str] = field(default_factory=list)
    episode_rows: list[dict[str, Any]] = field(default_factory=list)
    episode_stats: list[dict[str, dict[str, Any]]] = field(default_factory=list)
    prior_stats: dict[str, dict[str, Any]] | None = None
    n_episodes: int = 0
    n_frames: int = 0
    n_data_files: int = 0
    n_video_files: dict[str, int] = field(default_factory=dict)
    n_episode_files: int = 0
    splits: dict[str, list[int]] = field(default_factory=dict)
    faces_blurred: int = 0
    #: Episodes' videos are encoded in parallel, each by a single-threaded (reproducible) encoder.
    workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _pending: list[tuple[dict[str, Any], dict[str, Any], str, Path, Future]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        info_p = self.root / "meta" / "info.json"
        if info_p.exists():
            if not self.append:
                raise ExportError("a LeRobot dataset already exists here; pass --append to add to it", self.root)
            info = json.loads(info_p.read_text())
            if info.get("codebase_version") != CODEBASE_VERSION:
                raise ExportError(f"cannot append to a {info.get('codebase_version')} dataset (need v3.0)", info_p)
            if int(info["fps"]) != self.fps:
                raise ExportError(f"dataset fps {info['fps']} differs from the camera rate {self.fps}", info_p)
            self.features = info["features"]
            self.n_episodes, self.n_frames = int(info["total_episodes"]), int(info["total_frames"])
            self.tasks = read_tasks(self.root)
            self.n_data_files = len(list((self.root / "data").glob("*/*.parquet")))
            self.n_episode_files = len(list((self.root / "meta" / "episodes").glob("*/*.parquet")))
            for k, ft in self.features.items():
                if ft["dtype"] == "video":
                    self.n_video_files[k] = len(list((self.root / "videos" / k).glob("*/*.mp4")))
            sp = self.root / "meta" / "stats.json"
            self.prior_stats = json.loads(sp.read_text()) if sp.exists() else None
            splits_p = self.root / "meta" / "democap" / "splits.json"
            if splits_p.exists():
                self.splits = {k: list(v) for k, v in json.loads(splits_p.read_text()).items()}
            else:
                self.splits = {"train": list(range(self.n_episodes))}
        elif self.root.exists() and any(self.root.iterdir()):
            raise ExportError("output folder is not empty and holds no LeRobot dataset", self.root)

    def _check_features(self, feats: dict[str, dict[str, Any]]) -> None:
        assert self.features is not None
        mine = {k: (v["dtype"], tuple(v["shape"])) for k, v in feats.items()}
        theirs = {k: (v["dtype"], tuple(v["shape"])) for k, v in self.features.items()}
        if mine != theirs:
            diff = sorted(set(mine.items()) ^ set(theirs.items()))
            raise ExportError(f"episode features differ from the dataset's: {diff[:4]}", self.root)

    def add(self, ep: EpisodeFrames, split: str = "train", bar: Progress | None = None) -> int:
        """Write one episode (data, videos, stats); returns its episode_index."""
        feats = features_for(ep, self.video)
        if self.features is None:
            self.features = feats
        else:
            self._check_features(feats)
        n = len(ep)
        index = self.n_episodes
        if ep.task not in self.tasks:
            self.tasks.append(ep.task)
        task_index = self.tasks.index(ep.task)
        state, _ = ep.state()
        action, _ = ep.action()
        pose, _ = ep.ee_pose()
        delta, _ = ep.ee_delta()
        frame_index = np.arange(n, dtype=np.int64)
        ts = (frame_index / self.fps).astype(np.float32)
        real = (ep.t_ns - ep.t_ns[0]) * 1e-9
        cols: dict[str, pa.Array] = {
            "observation.state": _fixed(state, pa.float32()),
            "action": _fixed(action, pa.float32()),
            "observation.ee_pose": _fixed(pose, pa.float32()),
            "ee_pose_delta": _fixed(delta, pa.float32()),
            "timestamp_host_ns": pa.array(ep.t_host_ns, pa.int64()),
            "timestamp_corrected_ns": pa.array(ep.t_ns, pa.int64()),
            "time_real_s": pa.array(real, pa.float64()),
            "gap_flags": _fixed(ep.flags, pa.bool_()),
            "frame_masked": pa.array(ep.masked, pa.bool_()),
            "timestamp": pa.array(ts, pa.float32()),
            "frame_index": pa.array(frame_index, pa.int64()),
            "episode_index": pa.array(np.full(n, index, np.int64), pa.int64()),
            "index": pa.array(self.n_frames + frame_index, pa.int64()),
            "task_index": pa.array(np.full(n, task_index, np.int64), pa.int64()),
        }
        d_chunk, d_file = _chunk_file(self.n_data_files)
        _write_parquet(self.root / DATA_PATH.format(chunk_index=d_chunk, file_index=d_file), pa.table(cols))
        self.n_data_files += 1
        stats: dict[str, dict[str, Any]] = {
            "observation.state": array_stats(state),
            "action": array_stats(action),
            "observation.ee_pose": array_stats(pose),
            "ee_pose_delta": array_stats(delta),
            "timestamp": array_stats(ts),
            "frame_index": array_stats(frame_index),
            "episode_index": array_stats(np.full(n, index)),
            "index": array_stats(self.n_frames + frame_index),
            "task_index": array_stats(np.full(n, task_index)),
            "time_real_s": array_stats(real),
        }
        row: dict[str, Any] = {
            "episode_index": index,
            "tasks": [ep.task],
            "length": n,
            "data/chunk_index": d_chunk,
            "data/file_index": d_file,
            "dataset_from_index": self.n_frames,
            "dataset_to_index": self.n_frames + n,
        }
        for r in ep.rigs:
            key = video_key(r.rig, r.camera)
            k = self.n_video_files.get(key, 0)
            v_chunk, v_file = _chunk_file(k)
            path = self.root / VIDEO_PATH.format(video_key=key, chunk_index=v_chunk, file_index=v_file)
            self.n_video_files[key] = k + 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="export-encode")
            fut = self._pool.submit(self._encode, ep, r, path, n, bar if r is ep.rigs[0] else None)
            self._pending.append((row, stats, key, path, fut))
            row.update(
                {
                    f"videos/{key}/chunk_index": v_chunk,
                    f"videos/{key}/file_index": v_file,
                    f"videos/{key}/from_timestamp": 0.0,
                    f"videos/{key}/to_timestamp": n / self.fps,
                }
            )
        row["democap/session"] = ep.session.id
        row["democap/episode"] = ep.episode.index
        row["democap/split"] = split
        self.episode_rows.append(row)
        self.episode_stats.append(stats)
        self.splits.setdefault(split, []).append(index)
        self.n_episodes += 1
        self.n_frames += n
        return index

    def _encode(
        self, ep: EpisodeFrames, r: RigFrames, path: Path, n: int, bar: Progress | None
    ) -> tuple[dict[str, Any], int]:
        """Encode one camera of one episode (runs in the writer's thread pool): (image stats, frames with faces)."""
        h, w = r.image_size
        im_stats = ImageStats()
        blur = FaceBlurrer() if self.blur_faces == "all" or (self.blur_faces == "head" and "head" in r.rig) else None
        with Mp4Writer(path, w, h, self.fps, self.video) as mp4:
            for img in prefetch(ep.images(r)):
                if blur is not None:
                    img = blur(img)
                mp4.write(img)
                im_stats.add(img)
                if bar is not None:
                    bar.advance()
        if mp4._n != n:
            raise ExportError(f"{r.camera}: decoded {mp4._n} frames for {n} rows", ep.session.path)
        return im_stats.stats(), blur.frames_with_faces if blur is not None else 0

    def _collect(self) -> None:
        """Wait for the encoders, in submission order, and file their statistics."""
        assert self.features is not None
        try:
            for _row, stats, key, path, fut in self._pending:
                stats[key], faces = fut.result()
                self.faces_blurred += faces
                if self.features[key].get("info") is None:
                    self.features[key]["info"] = video_info(path)
            for row, stats, *_ in self._pending:
                for fk, st in stats.items():
                    for sk, v in st.items():
                        row[f"stats/{fk}/{sk}"] = np.asarray(v).tolist()
        finally:
            self._pending = []
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def finish(self) -> dict[str, Any]:
        """Write meta/episodes, tasks, stats and info; returns info.json's content."""
        if self.features is None:
            raise ExportError("no episode to write (all were excluded?)", self.root)
        self._collect()
        meta = self.root / "meta"
        if self.episode_rows:
            e_chunk, e_file = _chunk_file(self.n_episode_files)
            for r in self.episode_rows:
                r["meta/episodes/chunk_index"], r["meta/episodes/file_index"] = e_chunk, e_file
            table = pa.Table.from_pylist(self.episode_rows)
            _write_parquet(self.root / EPISODES_PATH.format(chunk_index=e_chunk, file_index=e_file), table)
            self.n_episode_files += 1
            self.episode_rows = []
        _write_parquet(meta / "tasks.parquet", _tasks_table(self.tasks))
        parts = list(self.episode_stats)
        if self.prior_stats:
            parts.insert(0, self.prior_stats)
        stats = aggregate_stats(parts)
        (meta / "stats.json").write_text(json.dumps(_jsonable(stats), indent=2) + "\n")
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": self.n_episodes,
            "total_frames": self.n_frames,
            "total_tasks": len(self.tasks),
            "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200,
            "fps": self.fps,
            "splits": _split_ranges(self.splits, self.n_episodes),
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH,
            "features": self.features,
        }
        (meta / "info.json").write_text(json.dumps(info, indent=4) + "\n")
        (meta / "democap").mkdir(parents=True, exist_ok=True)
        (meta / "democap" / "splits.json").write_text(json.dumps(self.splits, indent=2, sort_keys=True) + "\n")
        return info


def _split_ranges(splits: Mapping[str, list[int]], total: int) -> dict[str, str]:
    """LeRobot's ``"start:end"`` split ranges; a split that is not one contiguous run is left out
    (meta/democap/splits.json always lists every split's episodes)."""
    out = {}
    for name, eps in sorted(splits.items()):
        if eps and eps == list(range(eps[0], eps[-1] + 1)):
            out[name] = f"{eps[0]}:{eps[-1] + 1}"
    return out or {"train": f"0:{total}"}
