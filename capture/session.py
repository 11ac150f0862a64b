"""Session format v1: the one reader/writer of session folders (docs/session-format.md).

A session is a folder holding ``manifest.json`` (replaced atomically, never edited in
place), one sub-folder per stream under ``streams/`` with immutable chunk files, an
append-only ``decisions.jsonl`` and stage outputs under ``stages/``.

Tables are Parquet chunks of at most ``CHUNK_SECONDS`` of data; video is a sequence of
segments of at most ``CHUNK_SECONDS`` (H.264 or lossless FFV1 in Matroska) with a
Parquet frame table per segment. A chunk becomes visible only when it is complete
(written to ``*.partial``, fsynced, renamed), and is then listed with its SHA-256 in the
stream's append-only ``index.jsonl``. A recorder killed with SIGKILL therefore loses at
most the chunk it was filling.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

import democap
from democap.errors import DiskSpaceError, SessionFormatError
from democap.model import SCHEMA_VERSION, ClockPair, Decision, Episode, RigCalibration

log = logging.getLogger(__name__)

CHUNK_SECONDS = 1.0
MANIFEST = "manifest.json"
DECISIONS = "decisions.jsonl"
LOCK = "recording.lock"
#: Space held back while recording, released when the disk fills so the session can still close.
RESERVE = "recording.reserve"
RESERVE_BYTES = 16 * 1024**2
INDEX = "index.jsonl"

#: Write errors that mean "no room": the disk or the quota is full, or a file hit its size limit.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def is_no_space(e: BaseException) -> bool:
    """Whether ``e`` (or what it wraps, as PyAV and Arrow do) is a full disk or quota."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in NO_SPACE_ERRNOS:
            return True
        if any(m in str(e) for m in ("No space left on device", "Disk quota exceeded", "database or disk is full")):
            return True  # Arrow's and SQLite's errors keep only the message
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return False


StreamKind = Literal["video", "imu", "gripper", "events", "pose", "clocksync"]

#: Column schemas of the table streams. Quaternions are named per component (w,x,y,z).
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "imu": pa.schema(
        [
            ("t_host_ns", pa.int64()),
            ("t_device_ns", pa.int64()),
            ("gyro_x", pa.float64()),
            ("gyro_y", pa.float64()),
            ("gyro_z", pa.float64()),  # rad/s, imu frame
            ("accel_x", pa.float64()),
            ("accel_y", pa.float64()),
            ("accel_z", pa.float64()),
        ]  # m/s^2
    ),
    "gripper": pa.schema(
        [("t_host_ns", pa.int64()), ("t_device_ns", pa.int64()), ("width_m", pa.float64()), ("raw", pa.float64())]
    ),
    "events": pa.schema(
        [("t_host_ns", pa.int64()), ("t_device_ns", pa.int64()), ("kind", pa.string()), ("value", pa.string())]
    ),
    "pose": pa.schema(
        [
            ("t_host_ns", pa.int64()),
            ("t_device_ns", pa.int64()),
            ("x", pa.float64()),
            ("y", pa.float64()),
            ("z", pa.float64()),
            ("qw", pa.float64()),
            ("qx", pa.float64()),
            ("qy", pa.float64()),
            ("qz", pa.float64()),
        ]
    ),
    "clocksync": pa.schema(
        [
            ("t_host_send_ns", pa.int64()),
            ("t_device_rx_ns", pa.int64()),
            ("t_device_tx_ns", pa.int64()),
            ("t_host_recv_ns", pa.int64()),
        ]
    ),
    "video": pa.schema(
        [
            ("segment", pa.int32()),
            ("index", pa.int32()),
            ("t_host_ns", pa.int64()),
            ("t_device_ns", pa.int64()),
            ("exposure_ns", pa.int64()),
        ]
    ),
}

PIX_FMTS = {"gray": 1, "rgb24": 3, "gray16le": 1}


def new_session_id(clock: ClockPair) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(clock.realtime_ns / 1e9))
    return f"{stamp}-{secrets.token_hex(3)}"


def now_clock() -> ClockPair:
    return ClockPair(time.monotonic_ns(), time.time_ns())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write, fsync, rename: readers see the old file or the new one, never a mix."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        _write_synced(tmp, data)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()  # our own half-written temporary; the old file is untouched
        raise
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _write_synced(tmp: Path, data: bytes) -> None:
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _append_line(path: Path, obj: Mapping[str, Any]) -> None:
    """Append one line, or nothing: a write that fails (full disk) is cut back off, so the
    next append cannot glue a whole line onto a torn one."""
    data = memoryview((json.dumps(obj, sort_keys=True) + "\n").encode())
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)  # frees blocks, so it works on a full disk
            raise
    finally:
        os.close(fd)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Lines of an append-only JSON-lines file; a torn last line (from a kill) is skipped."""
    if not path.exists():
        return []
    out = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                log.warning("%s: ignoring a torn last line (writer was interrupted)", path)
                break
            raise SessionFormatError(f"line {i + 1} is not JSON ({e})", path) from e
    return out


# -------------------------------------------------------------------- writers


@dataclass
class StreamSpec:
    """What the manifest says about one stream."""

    name: str  # "<rig>.<sensor>", e.g. rig0.cam0, rig0.imu, reference.pose
    kind: StreamKind
    rig: str
    sensor: str
    rate_hz: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rig": self.rig, "sensor": self.sensor, "rate_hz": self.rate_hz, **self.extra}


class _ChunkIndex:
    """The append-only list of a stream's complete chunks."""

    def __init__(self, stream_dir: Path) -> None:
        self.path = stream_dir / INDEX

    def add(self, files: Sequence[Path], rows: int, t0_ns: int, t1_ns: int) -> None:
        entry = {
            "files": [{"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)} for p in files],
            "rows": rows,
            "t0_ns": t0_ns,
            "t1_ns": t1_ns,
        }
        _append_line(self.path, entry)


def _publish(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


class TableWriter:
    """Appends rows to a table stream, publishing a Parquet chunk every ``CHUNK_SECONDS``."""

    def __init__(self, stream_dir: Path, schema: pa.Schema, time_column: str | None = None) -> None:
        self.dir = stream_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.time_column = time_column or schema.names[0]
        self.index = _ChunkIndex(stream_dir)
        self._buf: dict[str, list[Any]] = {n: [] for n in schema.names}
        self._chunk = len(list(self.dir.glob("chunk-*.parquet")))
        self.rows_written = 0

    def append(self, **row: Any) -> None:
        for n in self.schema.names:
            self._buf[n].append(row[n])
        self._maybe_flush()

    def append_many(self, columns: Mapping[str, Sequence[Any] | NDArray[Any]]) -> None:
        for n in self.schema.names:
            self._buf[n].extend(np.asarray(columns[n]).tolist() if isinstance(columns[n], np.ndarray) else columns[n])
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        # A bulk append may span many seconds: publish it as consecutive chunks of at most 1 s.
        t = self._buf[self.time_column]
        while t and t[-1] - t[0] >= CHUNK_SECONDS * 1e9:
            cut = int(np.searchsorted(np.asarray(t), t[0] + CHUNK_SECONDS * 1e9, side="left"))
            self.flush(max(cut, 1))
            t = self._buf[self.time_column]

    def flush(self, rows: int | None = None) -> None:
        """Publish the first ``rows`` buffered rows (all by default) as one chunk."""
        n = len(self._buf[self.time_column]) if rows is None else rows
        if n == 0:
            return
        head = {k: v[:n] for k, v in self._buf.items()}
        table = pa.table({k: pa.array(v, type=self.schema.field(k).type) for k, v in head.items()}, schema=self.schema)
        final = self.dir / f"chunk-{self._chunk:06d}.parquet"
        tmp = final.with_name(final.name + ".partial")
        pq.write_table(table, tmp, compression="zstd")
        _publish(tmp, final)
        t = head[self.time_column]
        self.index.add([final], n, int(t[0]), int(t[-1]))
        self._chunk += 1
        self.rows_written += n
        self._buf = {k: v[n:] for k, v in self._buf.items()}

    def close(self) -> None:
        self.flush()


class VideoWriter:
    """Writes camera frames as segments of at most ``CHUNK_SECONDS`` plus a frame table.

    ``codec``: ``h264`` (libx264, yuv420p, lossy but visually lossless at the default
    CRF) or ``ffv1`` (lossless, Matroska). ``pix_fmt``: gray, rgb24 or gray16le (depth,
    FFV1 only).
    """

    def __init__(
        self,
        stream_dir: Path,
        width: int,
        height: int,
        pix_fmt: str = "gray",
        codec: str = "h264",
        rate_hz: float = 30.0,
        crf: int = 17,
    ) -> None:
        if pix_fmt not in PIX_FMTS:
            raise ValueError(f"pix_fmt {pix_fmt!r} is not one of {sorted(PIX_FMTS)}")
        if codec not in ("h264", "ffv1"):
            raise ValueError(f"codec {codec!r}: expected h264 or ffv1")
        if pix_fmt == "gray16le" and codec != "ffv1":
            raise ValueError("16-bit frames (depth) need the lossless ffv1 codec")
        self.dir = stream_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.width, self.height, self.pix_fmt, self.codec = width, height, pix_fmt, codec
        self.rate = Fraction(rate_hz).limit_denominator(1001)
        self.crf = crf
        self.index = _ChunkIndex(stream_dir)
        self._segment = len(list(self.dir.glob("seg-*.mkv")))
        self._container: Any = None
        self._stream: Any = None
        self._rows: list[tuple[int, int, int, int, int]] = []
        self.frames_written = 0
        self.frames_lost = 0  # in segments that could not be finished (full disk)

    def _open_segment(self) -> None:
        import av

        self._seg_path = self.dir / f"seg-{self._segment:06d}.mkv"
        self._seg_tmp = self._seg_path.with_name(self._seg_path.name + ".partial")
        self._container = av.open(str(self._seg_tmp), "w", format="matroska")
        if self.codec == "h264":
            s = self._container.add_stream("libx264", rate=self.rate)
            s.pix_fmt = "yuv420p"
            s.options = {"preset": "veryfast", "crf": str(self.crf), "tune": "fastdecode"}
        else:
            s = self._container.add_stream("ffv1", rate=self.rate)
            s.pix_fmt = {"gray": "gray", "rgb24": "bgr0", "gray16le": "gray16le"}[self.pix_fmt]
            # Slices let the decoder use every core; per-slice CRCs catch silent corruption.
            s.options = {"slices": "4", "slicecrc": "1", "level": "3"}
        s.width, s.height = self.width, self.height
        self._stream = s

    def append(self, image: NDArray[Any], t_host_ns: int, t_device_ns: int = -1, exposure_ns: int = 0) -> None:
        import av

        expected = (self.height, self.width) if PIX_FMTS[self.pix_fmt] == 1 else (self.height, self.width, 3)
        if image.shape != expected:
            raise ValueError(f"frame shape {image.shape} does not match the stream's {expected}")
        with self._abandon_if_no_space():
            if self._rows and t_host_ns - self._rows[0][2] >= CHUNK_SECONDS * 1e9:
                self._close_segment()
            if self._container is None:
                self._open_segment()
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=self.pix_fmt)
            frame.pts = len(self._rows)
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        self._rows.append((self._segment, len(self._rows), int(t_host_ns), int(t_device_ns), int(exposure_ns)))

    @contextlib.contextmanager
    def _abandon_if_no_space(self) -> Iterator[None]:
        try:
            yield
        except Exception as e:
            if is_no_space(e):
                self._abandon_segment()
            raise

    def _abandon_segment(self) -> None:
        """The segment being written cannot be finished (no space): its ``.partial`` file stays
        where it is, its frames count as lost, and the next frame starts a new segment."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        self._container = None
        if self._rows:
            n, seg = len(self._rows), self._segment
            log.error("%s: segment %d abandoned (%d frames) for lack of space", self.dir.name, seg, n)
        self.frames_lost += len(self._rows)
        self._rows = []
        self._segment += 1

    def _close_segment(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        # From here the segment is complete: a failure below leaves published files that
        # SessionWriter.close (or recovery) indexes as orphans.
        _publish(self._seg_tmp, self._seg_path)
        cols = list(zip(*self._rows, strict=True))
        table = pa.table(
            {
                n: pa.array(c, type=TABLE_SCHEMAS["video"].field(n).type)
                for n, c in zip(TABLE_SCHEMAS["video"].names, cols, strict=True)
            }
        )
        final = self.dir / f"chunk-{self._segment:06d}.parquet"
        tmp = final.with_name(final.name + ".partial")
        pq.write_table(table, tmp)
        _publish(tmp, final)
        self.index.add([self._seg_path, final], len(self._rows), self._rows[0][2], self._rows[-1][2])
        self.frames_written += len(self._rows)
        self._segment += 1
        self._rows = []

    def close(self) -> None:
        with self._abandon_if_no_space():
            self._close_segment()


class SessionWriter:
    """Creates a session folder and writes its streams; the recorder's only way to disk.

    The manifest is written at creation with ``status: recording`` and replaced
    atomically when streams are added and on close. A ``recording.lock`` holding the
    writer's pid tells readers whether a writer is alive.
    """

    def __init__(
        self,
        root: Path,
        *,
        source: Mapping[str, Any],
        operator: str = "",
        rigs: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        clock: ClockPair | None = None,
        clock_domain: str = "host-monotonic",
        reserve_bytes: int = RESERVE_BYTES,
    ) -> None:
        self.clock = clock or now_clock()
        self.id = session_id or new_session_id(self.clock)
        self.path = Path(root) / self.id
        if self.path.exists():
            raise SessionFormatError("a session with this id already exists; refusing to overwrite it", self.path)
        (self.path / "streams").mkdir(parents=True)
        (self.path / "calibrations").mkdir()
        (self.path / LOCK).write_text(str(os.getpid()))
        self.write_errors: list[str] = []
        try:
            _hold_space(self.path / RESERVE, reserve_bytes)
        except OSError as e:
            # Nothing recorded yet: the folder and what is in it are ours to take back.
            for name in (RESERVE, LOCK):
                with contextlib.suppress(OSError):
                    (self.path / name).unlink()
            for sub in ("streams", "calibrations", ""):
                with contextlib.suppress(OSError):
                    (self.path / sub).rmdir()
            raise DiskSpaceError(
                f"cannot set aside {reserve_bytes / 1e6:.0f} MB to close a recording safely ({e.strerror}); "
                "free space or choose another --home",
                Path(root),
            ) from e
        self.manifest: dict[str, Any] = {
            "schema": "democap.session",
            "schema_version": SCHEMA_VERSION,
            "software_version": democap.__version__,
            "id": self.id,
            "created": {"monotonic_ns": self.clock.monotonic_ns, "realtime_ns": self.clock.realtime_ns},
            "clock_domain": clock_domain,
            "status": "recording",
            "operator": operator,
            "source": dict(source),
            "rigs": {k: dict(v) for k, v in (rigs or {}).items()},
            "streams": {},
            "episodes": [],
            "calibrations": [],
            "gaps": [],
        }
        self._writers: dict[str, TableWriter | VideoWriter] = {}
        self._save_manifest()

    def _save_manifest(self) -> None:
        atomic_write_json(self.path / MANIFEST, self.manifest)

    def add_calibration(self, rig: str, calibration: RigCalibration) -> str:
        """Embed a calibration (content-hashed) and reference it from a rig."""
        h = calibration.hash
        target = self.path / "calibrations" / (h.split(":", 1)[1] + ".json")
        if not target.exists():
            atomic_write_json(target, calibration.to_dict())
        if h not in self.manifest["calibrations"]:
            self.manifest["calibrations"].append(h)
        self.manifest["rigs"].setdefault(rig, {})["calibration"] = h
        self._save_manifest()
        return h

    def add_table(self, spec: StreamSpec) -> TableWriter:
        if spec.kind == "video":
            raise ValueError("use add_video for video streams")
        return self._register(
            spec,
            TableWriter(
                self.path / "streams" / spec.name,
                TABLE_SCHEMAS[spec.kind],
                "t_host_send_ns" if spec.kind == "clocksync" else "t_host_ns",
            ),
        )

    def add_video(
        self, spec: StreamSpec, width: int, height: int, pix_fmt: str = "gray", codec: str = "h264"
    ) -> VideoWriter:
        spec.extra.update({"width": width, "height": height, "pix_fmt": pix_fmt, "codec": codec})
        w = VideoWriter(self.path / "streams" / spec.name, width, height, pix_fmt, codec, spec.rate_hz or 30.0)
        return self._register(spec, w)

    def _register(self, spec: StreamSpec, writer: Any) -> Any:
        if spec.name in self._writers:
            raise ValueError(f"stream {spec.name} already exists in session {self.id}")
        if not re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+", spec.name):
            raise ValueError(f"stream name {spec.name!r} must look like rig0.cam0")
        self.manifest["streams"][spec.name] = spec.to_dict()
        self._writers[spec.name] = writer
        self._save_manifest()
        return writer

    def add_gap(self, rig: str, t0_ns: int, t1_ns: int, reason: str) -> None:
        """Record a link drop; the streams simply have no rows in it."""
        self.manifest["gaps"].append({"rig": rig, "t0_ns": t0_ns, "t1_ns": t1_ns, "reason": reason})
        self._save_manifest()

    def set_episodes(self, episodes: Sequence[Episode]) -> None:
        self.manifest["episodes"] = [e.to_dict() for e in episodes]
        self._save_manifest()

    def update(self, **fields: Any) -> None:
        self.manifest.update(fields)
        self._save_manifest()

    def release_reserve(self) -> bool:
        """Give the space held back for closing to the file system (the disk is full). True if it was held."""
        try:
            (self.path / RESERVE).unlink()
        except FileNotFoundError:
            return False
        log.warning("%s: released the %s space reserve to close the session", self.id, RESERVE)
        return True

    def close(self, episodes: Sequence[Episode] | None = None) -> Path:
        """Finish every stream and mark the session complete.

        On a full disk the reserve is released and a stream's unfinished chunk is given up
        (its ``.partial`` file stays); every chunk published before is kept and indexed, and
        ``write_errors`` in the manifest says what was lost.
        """
        for name, w in self._writers.items():
            for attempt in (0, 1):
                try:
                    w.close()
                    break
                except Exception as e:
                    if not is_no_space(e):
                        raise
                    if attempt == 1 or not self.release_reserve():
                        self.write_errors.append(f"{name}: {e}")
                        log.error("%s: %s could not be finished: %s", self.id, name, e)
                        break
        _index_orphans(self.path, self.manifest)
        if self.write_errors:
            self.manifest["write_errors"] = list(self.write_errors)
        if episodes is not None:
            self.manifest["episodes"] = [e.to_dict() for e in episodes]
        self.manifest["status"] = "complete"
        self.manifest["ended"] = {"monotonic_ns": time.monotonic_ns(), "realtime_ns": time.time_ns()}
        _summarise_streams(self.path, self.manifest)
        if not self.manifest["episodes"]:
            found = _episodes_from_events(self.path, self.manifest) or _default_episodes(self.manifest)
            self.manifest["episodes"] = [e.to_dict() for e in found]
        self._save_manifest()
        for name in (RESERVE, LOCK):
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()
        return self.path


def _hold_space(path: Path, nbytes: int) -> None:
    """A file of ``nbytes`` whose blocks are really allocated (not a sparse file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            os.posix_fallocate(fd, 0, nbytes)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            block = memoryview(b"\0" * (1 << 20))  # a file system without fallocate: write the zeros
            written = 0
            while written < nbytes:
                written += os.write(fd, block[: nbytes - written])
        os.fsync(fd)
    except OSError:
        os.close(fd)
        path.unlink()
        raise
    os.close(fd)


# -------------------------------------------------------------------- reading


def _stream_entries(stream_dir: Path) -> list[dict[str, Any]]:
    return _read_jsonl(stream_dir / INDEX)


def _summarise_streams(path: Path, manifest: dict[str, Any]) -> None:
    """Fill each stream's count and time range from its chunk index."""
    for name, spec in manifest["streams"].items():
        entries = _stream_entries(path / "streams" / name)
        spec["count"] = int(sum(e["rows"] for e in entries))
        spec["chunks"] = len(entries)
        spec["t0_ns"] = int(entries[0]["t0_ns"]) if entries else None
        spec["t1_ns"] = int(entries[-1]["t1_ns"]) if entries else None


def _default_episodes(manifest: Mapping[str, Any]) -> list[Episode]:
    """One episode over the whole session (the rule for imports and untriggered recordings)."""
    spans = [
        (s["t0_ns"], s["t1_ns"])
        for s in manifest["streams"].values()
        if s.get("t0_ns") is not None and s["kind"] in ("video", "imu")
    ]
    if not spans:
        return []
    t0 = min(a for a, _ in spans)
    t1 = max(b for _, b in spans) + 1
    return [Episode(0, t0, t1, "whole" if manifest["source"].get("kind") not in ("euroc", "tum") else "import")]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(path: Path) -> dict[str, Any]:
    """Make an interrupted session readable: index orphan chunks, summarise, mark recovered.

    Nothing is deleted: ``*.partial`` files of the chunk being written at the time of the
    kill stay on disk (readers ignore them). Returns the new manifest.
    """
    manifest = read_manifest(path)
    _index_orphans(path, manifest)
    _summarise_streams(path, manifest)
    if not manifest["episodes"]:
        manifest["episodes"] = [
            e.to_dict() for e in _episodes_from_events(path, manifest) or _default_episodes(manifest)
        ]
    manifest["status"] = "recovered"
    manifest["recovered"] = {"realtime_ns": time.time_ns()}
    atomic_write_json(path / MANIFEST, manifest)
    # The reserve is the recorder's ballast (zeros), not recorded data.
    for name in (RESERVE, LOCK):
        with contextlib.suppress(FileNotFoundError):
            (path / name).unlink()
    log.info("recovered session %s", path.name)
    return manifest


def _index_orphans(path: Path, manifest: Mapping[str, Any]) -> None:
    """Index chunks that were published but never listed (a kill or a full disk in between)."""
    for name, spec in manifest["streams"].items():
        sdir = path / "streams" / name
        if not sdir.exists():
            continue
        indexed = {f["name"] for e in _stream_entries(sdir) for f in e["files"]}
        # A chunk renamed into place before its index line was written (kill in between).
        for chunk in sorted(sdir.glob("chunk-*.parquet")):
            if chunk.name in indexed:
                continue
            files = [chunk]
            if spec["kind"] == "video":
                seg = sdir / chunk.name.replace("chunk-", "seg-").replace(".parquet", ".mkv")
                if not seg.exists():
                    continue
                files.insert(0, seg)
            try:
                table = pq.read_table(chunk)
            except Exception:  # noqa: BLE001 - an unreadable orphan is left alone, not indexed
                log.warning("%s: unreadable chunk left out of the session", chunk)
                continue
            tcol = "t_host_send_ns" if spec["kind"] == "clocksync" else "t_host_ns"
            t = table.column(tcol).to_numpy()
            _ChunkIndex(sdir).add(files, table.num_rows, int(t[0]), int(t[-1]))


def _episodes_from_events(path: Path, manifest: Mapping[str, Any]) -> list[Episode]:
    """Episodes from trigger start/stop events of an interrupted recording."""
    end = max((s.get("t1_ns") or 0 for s in manifest["streams"].values()), default=0) or None
    out: list[Episode] = []
    for name, spec in manifest["streams"].items():
        if spec["kind"] != "events":
            continue
        table = Session._read_table_dir(path / "streams" / name)
        if table.num_rows == 0:
            continue
        out += episodes_from_triggers(
            table.column("t_host_ns").to_numpy(),
            table.column("kind").to_pylist(),
            table.column("value").to_pylist(),
            end_ns=end,
        )
    out.sort(key=lambda e: e.t0_ns)
    return [Episode(i, e.t0_ns, e.t1_ns, e.source, e.task) for i, e in enumerate(out)]


def episodes_from_triggers(
    t_ns: NDArray[np.int64], kinds: Sequence[str], values: Sequence[str], end_ns: int | None = None
) -> list[Episode]:
    """Pair ``episode start``/``episode stop`` events into episodes; an open one ends at end_ns."""
    out: list[Episode] = []
    start: int | None = None
    task = ""
    for t, k, v in zip(t_ns, kinds, values, strict=True):
        if k == "episode" and v.startswith("start"):
            start, task = int(t), v.partition(":")[2]
        elif k == "episode" and v.startswith("stop") and start is not None:
            out.append(Episode(len(out), start, int(t), "trigger", task))
            start = None
    if start is not None and end_ns is not None and end_ns > start:
        out.append(Episode(len(out), start, int(end_ns) + 1, "trigger", task))
    return out


def read_manifest(path: Path) -> dict[str, Any]:
    mpath = Path(path) / MANIFEST
    if not mpath.exists():
        raise SessionFormatError("no manifest.json: not a democap session folder", path)
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SessionFormatError(f"manifest is not valid JSON ({e})", mpath) from e
    if m.get("schema") != "democap.session":
        raise SessionFormatError("manifest 'schema' is not democap.session", mpath)
    if int(m.get("schema_version", 0)) > SCHEMA_VERSION:
        raise SessionFormatError(
            f"session schema version {m.get('schema_version')} is newer than this democap supports "
            f"({SCHEMA_VERSION}); upgrade democap",
            mpath,
        )
    return m


class Session:
    """Read access to one session folder. Opening an interrupted session recovers it."""

    def __init__(self, path: Path, *, recover_if_needed: bool = True) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if self.manifest["status"] == "recording" and recover_if_needed:
            lock = self.path / LOCK
            pid = int(lock.read_text() or 0) if lock.exists() else 0
            if not (pid and pid != os.getpid() and _pid_alive(pid)):
                self.manifest = recover(self.path)

    # identity -------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    @property
    def clock(self) -> ClockPair:
        c = self.manifest["created"]
        return ClockPair(int(c["monotonic_ns"]), int(c["realtime_ns"]))

    @property
    def streams(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest["streams"])

    def streams_of(self, kind: str, rig: str | None = None) -> list[str]:
        return sorted(
            n for n, s in self.manifest["streams"].items() if s["kind"] == kind and (rig is None or s["rig"] == rig)
        )

    @property
    def rigs(self) -> list[str]:
        return sorted(self.manifest.get("rigs", {}))

    @property
    def episodes(self) -> list[Episode]:
        return [Episode.from_dict(e) for e in self.manifest.get("episodes", [])]

    def stream_dir(self, name: str) -> Path:
        if name not in self.manifest["streams"]:
            raise SessionFormatError(
                f"no stream {name!r}; streams: {', '.join(sorted(self.manifest['streams']))}", self.path
            )
        return self.path / "streams" / name

    # calibration ----------------------------------------------------------
    def calibration(self, rig: str = "rig0") -> RigCalibration | None:
        h = self.manifest.get("rigs", {}).get(rig, {}).get("calibration")
        if not h:
            return None
        p = self.path / "calibrations" / (h.split(":", 1)[1] + ".json")
        if not p.exists():
            raise SessionFormatError(f"calibration {h} referenced by {rig} is missing", p)
        return RigCalibration.from_dict(json.loads(p.read_text()))

    # tables ---------------------------------------------------------------
    @staticmethod
    def _read_table_dir(sdir: Path) -> pa.Table:
        entries = _stream_entries(sdir)
        tables = []
        for e in entries:
            for f in e["files"]:
                if not f["name"].endswith(".parquet"):
                    continue
                p = sdir / f["name"]
                if not p.exists():
                    raise SessionFormatError("chunk listed in the stream index is missing", p)
                try:
                    tables.append(pq.read_table(p))
                except Exception as ex:  # noqa: BLE001 - any decode failure is a format error for the user
                    raise SessionFormatError(f"chunk cannot be read ({ex})", p) from ex
        if not tables:
            kind = "video" if any(sdir.glob("seg-*")) else None
            return TABLE_SCHEMAS[kind].empty_table() if kind else pa.table({})
        return pa.concat_tables(tables)

    def table(self, name: str) -> pa.Table:
        """A table stream (or a video stream's frame table), all complete chunks in order."""
        t = self._read_table_dir(self.stream_dir(name))
        if t.num_columns == 0:
            return TABLE_SCHEMAS[self.manifest["streams"][name]["kind"]].empty_table()
        return t

    def columns(self, name: str) -> dict[str, NDArray[Any]]:
        t = self.table(name)
        return {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}

    # video ----------------------------------------------------------------
    def frames(
        self, name: str, start: int = 0, stop: int | None = None, step: int = 1
    ) -> Iterator[tuple[int, NDArray[Any]]]:
        """Decoded frames ``(frame_number, image)`` of a video stream, in order.

        Images are (H, W) uint8 for gray, (H, W, 3) uint8 RGB for rgb24, (H, W) uint16 for depth.
        """
        import av

        spec = self.manifest["streams"][name]
        sdir = self.stream_dir(name)
        fmt = spec.get("pix_fmt", "gray")
        n = 0
        for e in _stream_entries(sdir):
            rows = e["rows"]
            if stop is not None and n >= stop:
                return
            if n + rows <= start:
                n += rows
                continue
            seg = next(f["name"] for f in e["files"] if f["name"].endswith(".mkv"))
            try:
                with av.open(str(sdir / seg)) as c:
                    c.streams.video[0].thread_type = "AUTO"
                    for i, frame in enumerate(c.decode(video=0)):
                        k = n + i
                        if k >= start and (stop is None or k < stop) and (k - start) % step == 0:
                            yield k, frame.to_ndarray(format=fmt)
            except av.error.FFmpegError as ex:
                raise SessionFormatError(f"video segment cannot be decoded ({ex})", sdir / seg) from ex
            n += rows

    def frame(self, name: str, index: int) -> NDArray[Any]:
        for _, img in self.frames(name, index, index + 1):
            return img
        raise IndexError(f"{name} has no frame {index}")

    # decisions ------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        return [Decision.from_dict(d) for d in _read_jsonl(self.path / DECISIONS)]

    def add_decision(self, decision: Decision) -> None:
        if decision.episode not in {e.index for e in self.episodes}:
            raise SessionFormatError(f"episode {decision.episode} does not exist in session {self.id}", self.path)
        _append_line(self.path / DECISIONS, decision.to_dict())

    # integrity ------------------------------------------------------------
    def fingerprint(self, names: Sequence[str]) -> str:
        """Hash of the given streams' chunk indexes: changes whenever their data changes."""
        h = hashlib.sha256()
        for n in sorted(names):
            h.update(n.encode())
            p = self.stream_dir(n) / INDEX
            h.update(p.read_bytes() if p.exists() else b"")
        return "sha256:" + h.hexdigest()

    def verify(self) -> list[str]:
        """Check every chunk's checksum and every stream's integrity; return the problems found."""
        problems: list[str] = []
        for name, spec in self.manifest["streams"].items():
            sdir = self.path / "streams" / name
            entries = _stream_entries(sdir) if sdir.exists() else []
            if not sdir.exists():
                problems.append(f"{name}: stream folder missing ({sdir})")
                continue
            for e in entries:
                for f in e["files"]:
                    p = sdir / f["name"]
                    if not p.exists():
                        problems.append(f"{name}: {p} missing")
                    elif p.stat().st_size != f["size"]:
                        problems.append(f"{name}: {p} is {p.stat().st_size} bytes, expected {f['size']} (truncated?)")
                    elif sha256_file(p) != f["sha256"]:
                        problems.append(f"{name}: {p} checksum mismatch")
            if problems:
                continue
            try:
                t = self.table(name)
            except SessionFormatError as ex:
                problems.append(f"{name}: {ex}")
                continue
            tcol = "t_host_send_ns" if spec["kind"] == "clocksync" else "t_host_ns"
            if t.num_rows and np.any(np.diff(t.column(tcol).to_numpy()) < 0):
                problems.append(f"{name}: host timestamps go backwards")
            if spec.get("count") is not None and t.num_rows != spec["count"]:
                problems.append(f"{name}: {t.num_rows} rows, manifest says {spec['count']}")
            if spec["kind"] == "video":
                try:
                    decoded = sum(1 for _ in self.frames(name))
                except SessionFormatError as ex:
                    problems.append(f"{name}: {ex}")
                    continue
                if decoded != t.num_rows:
                    problems.append(f"{name}: {decoded} frames decode, frame table lists {t.num_rows}")
        return problems


# ------------------------------------------------------------ stream helpers


def imu_columns(
    t_host_ns: NDArray[np.int64], t_device_ns: NDArray[np.int64], gyro: NDArray[np.float64], accel: NDArray[np.float64]
) -> dict[str, Any]:
    """Rows of an ``imu`` table from gyro (N, 3) rad/s and accel (N, 3) m/s^2 in the IMU frame."""
    return {
        "t_host_ns": t_host_ns, "t_device_ns": t_device_ns,
        "gyro_x": gyro[:, 0], "gyro_y": gyro[:, 1], "gyro_z": gyro[:, 2],
        "accel_x": accel[:, 0], "accel_y": accel[:, 1], "accel_z": accel[:, 2],
    }  # fmt: skip


def add_reference_poses(
    writer: SessionWriter,
    t_host_ns: NDArray[np.int64],
    t_device_ns: NDArray[np.int64],
    T_world_body: NDArray[np.float64],
    frame: str,
    source: str,
) -> None:
    """Write ground truth as the ``reference.pose`` stream (quaternion columns qw, qx, qy, qz)."""
    from democap import geometry

    q = geometry.matrix_to_quat_wxyz(T_world_body[:, :3, :3])
    p = T_world_body[:, :3, 3]
    rate = float(1e9 / np.median(np.diff(t_host_ns))) if len(t_host_ns) > 1 else None
    w = writer.add_table(
        StreamSpec("reference.pose", "pose", "reference", "groundtruth", rate, {"frame": frame, "source": source})
    )
    w.append_many({
        "t_host_ns": t_host_ns, "t_device_ns": t_device_ns, "x": p[:, 0], "y": p[:, 1], "z": p[:, 2],
        "qw": q[:, 0], "qx": q[:, 1], "qy": q[:, 2], "qz": q[:, 3],
    })  # fmt: skip


def reference_poses(session: Session) -> tuple[NDArray[np.int64], NDArray[np.float64]] | None:
    """A session's ground truth (t_host_ns (N,), T_world_body (N, 4, 4)), if it has one."""
    if "reference.pose" not in session.streams:
        return None
    from democap import geometry

    c = session.columns("reference.pose")
    R = geometry.quat_wxyz_to_matrix(np.stack([c["qw"], c["qx"], c["qy"], c["qz"]], 1))
    return c["t_host_ns"].astype(np.int64), geometry.se3(R, np.stack([c["x"], c["y"], c["z"]], 1))
