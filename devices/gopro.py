"""GoPro telemetry: GPMF (KLV) parsing and IMU extraction with timing from the MP4.

GPMF is big-endian KLV: a 4-char key, a type char, a struct size (u8) and a repeat count
(u16), then ``size * repeat`` bytes padded to 4. Type ``\\0`` nests. Each MP4 "GoPro MET"
data packet holds about one second of telemetry. Sample times come from the MP4 (the
camera's clock, same timeline as the video frames): a line fitted through every packet's
start time against the running sample count, as gpmf-parser does, so rate and start
follow the camera's actual IMU clock rather than its nominal rate.

Axes: cameras with an ``ORIN`` key say how stored columns map to camera axes (upper case
+, lower case -); HERO5/HERO6 store Z, X, Y without ORIN. Outputs are in the GoPro camera
IMU frame (x, y, z) after that reordering.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from democap.errors import ImportFormatError

_TYPES = {
    "b": "b",
    "B": "B",
    "c": "c",
    "s": "h",
    "S": "H",
    "l": "i",
    "L": "I",
    "f": "f",
    "d": "d",
    "j": "q",
    "J": "Q",
    "F": "4s",
}


@dataclass
class Klv:
    key: str
    type: str  # "\0" for nested
    size: int
    repeat: int
    data: bytes
    children: list[Klv] = field(default_factory=list)

    def find(self, key: str) -> Klv | None:
        return next((c for c in self.children if c.key == key), None)

    def values(self) -> NDArray | str | bytes:
        """Numbers as an array (repeat, size/elem) or (repeat,); strings as text."""
        if self.type == "c":
            return self.data[: self.size * self.repeat].split(b"\0")[0].decode("latin-1")
        fmt = _TYPES.get(self.type)
        if fmt is None:
            return self.data
        elem = struct.calcsize(fmt)
        n = self.size // elem if self.size >= elem else 1
        dt = np.dtype(">" + {"4s": "S4"}.get(fmt, fmt))
        arr = np.frombuffer(self.data[: n * self.repeat * elem], dtype=dt)
        return arr.reshape(self.repeat, n) if n > 1 else arr


def parse_gpmf(payload: bytes) -> list[Klv]:
    """The KLV tree of one GPMF payload; raises ImportFormatError on a malformed structure."""
    out: list[Klv] = []
    i = 0
    while i + 8 <= len(payload):
        key = payload[i : i + 4]
        if key == b"\0\0\0\0":
            break  # padding at the end of a payload
        typ, size, repeat = chr(payload[i + 4]), payload[i + 5], struct.unpack_from(">H", payload, i + 6)[0]
        n = size * repeat
        start, end = i + 8, i + 8 + n
        if end > len(payload):
            raise ImportFormatError(f"GPMF: {key!r} needs {n} bytes, payload has {len(payload) - start}")
        klv = Klv(key.decode("latin-1"), typ, size, repeat, payload[start:end])
        if typ == "\0":
            klv.children = parse_gpmf(klv.data)
        out.append(klv)
        i = start + ((n + 3) & ~3)
    return out


def _walk_streams(tree: list[Klv]):  # noqa: ANN202 - generator of (DEVC, STRM) pairs
    for devc in tree:
        if devc.key != "DEVC":
            continue
        for strm in devc.children:
            if strm.key == "STRM":
                yield devc, strm


def _axes(orin: str | None, fallback: str = "ZXY") -> tuple[list[int], NDArray[np.float64]]:
    """Column order and signs that bring stored columns to camera x, y, z."""
    o = orin or fallback
    cols, signs = [], []
    for axis in "xyz":
        j = o.lower().index(axis)
        cols.append(j)
        signs.append(1.0 if o[j].isupper() else -1.0)
    return cols, np.array(signs)


@dataclass(frozen=True)
class SensorTrack:
    """One GPMF sensor (ACCL, GYRO ...): scaled samples (N, 3) in camera axes and their times (ns, MP4 clock)."""

    key: str
    name: str
    units: str
    t_ns: NDArray[np.int64]
    values: NDArray[np.float64]
    rate_hz: float
    temperature_c: float | None = None


@dataclass(frozen=True)
class GoproTelemetry:
    camera: str
    tracks: dict[str, SensorTrack]
    video_t_ns: NDArray[np.int64]  # (F,) presentation times of video frames (MP4 clock)
    video_size: tuple[int, int]


def read_payloads(path: Path) -> tuple[list[tuple[int, int, bytes]], NDArray[np.int64], tuple[int, int]]:
    """GPMF payloads (start ns, duration ns, bytes) and video frame times from an MP4."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise ImportFormatError(f"cannot open video: {e}", path) from e
    with container:
        meta = [
            s
            for s in container.streams.data
            if "GoPro MET" in s.metadata.get("handler_name", "")
            or s.codec_context is not None
            and getattr(s.codec_context, "codec_tag", "") == "gpmd"
        ]
        if not meta:
            raise ImportFormatError("no GoPro MET (GPMF) data track", path)
        payloads = []
        for p in container.demux(meta[0]):
            if p.size == 0 or p.pts is None:
                continue
            tb = p.time_base
            payloads.append((int(p.pts * tb * 1_000_000_000), int((p.duration or 0) * tb * 1_000_000_000), bytes(p)))
        video = container.streams.video[0] if container.streams.video else None
        vt: list[int] = []
        size = (0, 0)
        if video is not None:
            size = (video.codec_context.width, video.codec_context.height)
            container.seek(0)
            for p in container.demux(video):
                if p.pts is not None and p.size:
                    vt.append(int(p.pts * p.time_base * 1_000_000_000))
    return payloads, np.sort(np.array(vt, dtype=np.int64)), size


def extract_tracks(
    payloads: list[tuple[int, int, bytes]], keys: tuple[str, ...] = ("ACCL", "GYRO"), camera_hint: str = ""
) -> tuple[str, dict[str, SensorTrack]]:
    """Scaled, time-stamped samples of ``keys`` from consecutive payloads."""
    chunks: dict[str, list[NDArray[np.float64]]] = {k: [] for k in keys}
    starts: dict[str, list[tuple[int, int]]] = {k: [] for k in keys}  # (payload start ns, samples before)
    info: dict[str, tuple[str, str, float | None]] = {}
    end_ns = 0
    camera = camera_hint
    for t0, dur, data in payloads:
        end_ns = max(end_ns, t0 + dur)
        for devc, strm in _walk_streams(parse_gpmf(data)):
            dvnm = devc.find("DVNM")
            if dvnm is not None and not camera:
                camera = str(dvnm.values())
            for k in keys:
                klv = strm.find(k)
                if klv is None:
                    continue
                raw = np.asarray(klv.values(), dtype=np.float64).reshape(klv.repeat, -1)
                scal = strm.find("SCAL")
                scale = np.asarray(scal.values(), dtype=np.float64).ravel() if scal is not None else np.ones(1)
                vals = raw / (scale if scale.size in (1, raw.shape[1]) else scale[0])
                orin = strm.find("ORIN")
                cols, signs = _axes(str(orin.values()) if orin is not None else None)
                vals = vals[:, cols] * signs
                starts[k].append((t0, sum(len(c) for c in chunks[k])))
                chunks[k].append(vals)
                stnm, siun, tmpc = strm.find("STNM"), strm.find("SIUN") or strm.find("UNIT"), strm.find("TMPC")
                info[k] = (
                    str(stnm.values()) if stnm else k,
                    str(siun.values()) if siun else "",
                    float(np.asarray(tmpc.values()).ravel()[0]) if tmpc else None,
                )
    tracks = {}
    for k in keys:
        if not chunks[k]:
            continue
        values = np.concatenate(chunks[k])
        n = len(values)
        st = np.array(starts[k], dtype=np.float64)
        # Payload start time against samples so far, plus the end of the last payload at n samples.
        x = np.append(st[:, 1], n)
        y = np.append(st[:, 0], end_ns)
        if len(x) >= 2 and np.ptp(x) > 0:
            slope, intercept = np.polyfit(x, y, 1)
        else:
            slope, intercept = 1e9 / 200, y[0]
        t_ns = np.round(intercept + slope * np.arange(n)).astype(np.int64)
        name, units, temp = info[k]
        tracks[k] = SensorTrack(k, name, units, t_ns, values, 1e9 / slope, temp)
    return camera, tracks


def read_gopro(path: Path) -> GoproTelemetry:
    payloads, video_t, size = read_payloads(Path(path))
    camera, tracks = extract_tracks(payloads)
    if not tracks:
        raise ImportFormatError("GPMF track has no ACCL or GYRO samples", path)
    return GoproTelemetry(camera, tracks, video_t, size)
