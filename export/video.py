"""MP4 encoding of exported camera frames (PyAV): H.264 yuv420p by default, AV1 as an option.

Frame ``i`` gets presentation time ``i / fps`` exactly (time base ``1/fps``), which is what
LeRobot's decoders match query timestamps against. A GOP of 2 keeps random access cheap
for training loaders, as LeRobot's own encoder does.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from democap.errors import ExportError


@dataclass(frozen=True)
class VideoSettings:
    codec: str = "h264"  # "h264" (libx264) or "av1" (libsvtav1)
    pix_fmt: str = "yuv420p"
    gop: int = 2
    crf: int = 23
    preset: str = "superfast"  # x264 preset; AV1 uses svt preset 8
    threads: int = 1  # x264 with threads gave a different file in ~1 of 3 runs: keep exports reproducible


class Mp4Writer:
    """Writes RGB (H, W, 3) uint8 frames to an MP4 file at a fixed rate."""

    def __init__(self, path: Path, width: int, height: int, fps: int, settings: VideoSettings = VideoSettings()):
        import av

        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        codec = {"h264": "libx264", "av1": "libsvtav1"}.get(settings.codec)
        if codec is None:
            raise ExportError(f"video codec {settings.codec!r} is not one of h264, av1")
        self._c = av.open(str(path), "w", format="mp4")
        # Bit-exact output for the same input: no encoder/muxer wall-clock metadata.
        self._c.metadata.clear()
        s = self._c.add_stream(codec, rate=Fraction(fps))
        s.width, s.height, s.pix_fmt = width, height, settings.pix_fmt
        opts = {"g": str(settings.gop), "crf": str(settings.crf)}
        if codec == "libx264":
            opts.update({"preset": settings.preset, "bf": "0"})
        else:
            opts.update({"preset": "8"})
        s.options = opts
        if settings.threads:
            s.thread_count = settings.threads
        self._s = s
        self._n = 0
        self.width, self.height = width, height

    def write(self, rgb: NDArray[np.uint8]) -> None:
        import av

        if rgb.shape != (self.height, self.width, 3):
            raise ExportError(f"frame {self._n} is {rgb.shape}, expected {(self.height, self.width, 3)}", self.path)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._n  # in the codec's time base 1/fps: exactly i / fps once muxed
        for p in self._s.encode(frame):
            self._c.mux(p)
        self._n += 1

    def close(self) -> int:
        for p in self._s.encode():
            self._c.mux(p)
        self._c.close()
        return self._n

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.close()
        else:
            self._c.close()


def video_info(path: Path) -> dict[str, object]:
    """The ``info`` block LeRobot stores per video feature (read back from the file)."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return {
            "video.height": s.height,
            "video.width": s.width,
            "video.codec": s.codec.canonical_name,
            "video.pix_fmt": s.pix_fmt,
            "video.is_depth_map": False,
            "video.fps": int(s.base_rate),
            "video.channels": 3,
            "has_audio": False,
        }
