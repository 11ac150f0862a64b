"""Camera frames of exported episodes as arrays, for formats that store raw images (HDF5, zarr).

Frames pass through face blurring when asked, then an optional resize: ``size`` (height,
width) keeps the aspect by centre-cropping first, so pixels are never stretched.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from numpy.typing import NDArray

from democap.progress import Progress
from export.episodes import EpisodeFrames, RigFrames
from export.privacy import FaceBlurrer


def fit(rgb: NDArray[np.uint8], size: tuple[int, int] | None) -> NDArray[np.uint8]:
    """Centre-crop to the target aspect, then resize to (height, width)."""
    if size is None or rgb.shape[:2] == tuple(size):
        return rgb
    th, tw = size
    h, w = rgb.shape[:2]
    if w * th > h * tw:  # too wide: crop width
        cw = round(h * tw / th)
        rgb = rgb[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = round(w * th / tw)
        rgb = rgb[(h - ch) // 2 : (h - ch) // 2 + ch]
    return cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)


def episode_images(
    ep: EpisodeFrames, rig: RigFrames, size: tuple[int, int] | None, blur_faces: str, bar: Progress | None = None
) -> Iterator[NDArray[np.uint8]]:
    blur = FaceBlurrer() if blur_faces == "all" or (blur_faces == "head" and "head" in rig.rig) else None
    for img in prefetch(ep.images(rig)):
        if blur is not None:
            img = blur(img)
        if bar is not None and rig is ep.rigs[0]:
            bar.advance()
        yield fit(img, size)


def image_stack(
    ep: EpisodeFrames,
    rig: RigFrames,
    size: tuple[int, int] | None,
    blur_faces: str = "head",
    bar: Progress | None = None,
) -> NDArray[np.uint8]:
    """All of a rig's frames in the episode as (N, H, W, 3) uint8."""
    h, w = size if size is not None else rig.image_size
    out = np.empty((len(ep), h, w, 3), np.uint8)
    k = 0
    for k, img in enumerate(episode_images(ep, rig, size, blur_faces, bar)):
        out[k] = img
    if len(ep) and k != len(ep) - 1:
        raise ValueError(f"{rig.camera}: {k + 1} frames decoded for {len(ep)} rows")
    return out


_END = object()


def prefetch(items: Iterator[NDArray[np.uint8]], depth: int = 8) -> Iterator[NDArray[np.uint8]]:
    """Run an image iterator (decoding) in a background thread while the caller encodes.

    PyAV releases the GIL while decoding and encoding, so on two cores this overlaps the
    two; order is preserved, so output stays deterministic. Errors re-raise in the caller.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for it in items:
                if stop.is_set():
                    return
                q.put(it)
            q.put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            q.put(e)

    t = threading.Thread(target=work, name="export-decode", daemon=True)
    t.start()
    try:
        while True:
            it = q.get()
            if it is _END:
                return
            if isinstance(it, BaseException):
                raise it
            yield it
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.01)
