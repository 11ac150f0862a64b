"""Blur faces in exported video (on by default for head cameras).

OpenCV 5 headless ships neither Haar cascades (``cv2.data`` holds no XML files and
``CascadeClassifier`` is gone) nor a YuNet model for ``cv2.FaceDetectorYN``, so the
detector is dlib's HOG frontal-face detector (``dlib.get_frontal_face_detector()``; built
into the ``dlib-bin`` wheel, no model download). Faces are searched at reduced size
every ``stride`` frames; boxes are grown by a margin and held until the next search, so
a face moving between searches stays covered. If dlib is not installed, exporting with
face blurring on fails loudly instead of leaking faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from democap.errors import ExportError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in full-resolution pixels


def _detector():
    try:
        import dlib
    except ImportError as e:
        raise ExportError("face blurring needs dlib (pip install dlib-bin); or export with --no-face-blur") from e
    return dlib.get_frontal_face_detector()


def detect_faces(rgb: NDArray[np.uint8], detector=None, width: int = 320, upsample: int = 1) -> list[Box]:
    """Face boxes in an RGB (H, W, 3) image, searched at ``width`` pixels wide."""
    det = detector or _detector()
    h, w = rgb.shape[:2]
    s = min(1.0, width / w)
    small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    return [
        (int(r.left() / s), int(r.top() / s), int(r.right() / s), int(r.bottom() / s))
        for r in det(np.ascontiguousarray(small), upsample)
    ]


def blur_boxes(rgb: NDArray[np.uint8], boxes: list[Box], margin: float = 0.35) -> NDArray[np.uint8]:
    """The image with each box (grown by ``margin``) replaced by a strong blur."""
    if not boxes:
        return rgb
    out = rgb.copy()
    h, w = rgb.shape[:2]
    for x0, y0, x1, y1 in boxes:
        mx, my = int((x1 - x0) * margin), int((y1 - y0) * margin)
        a, b = max(0, x0 - mx), max(0, y0 - my)
        c, d = min(w, x1 + mx), min(h, y1 + my)
        if c <= a or d <= b:
            continue
        roi = out[b:d, a:c]
        k = max(3, (min(c - a, d - b) // 3) | 1)
        # Pixelate then blur: unrecoverable, and still reads as "a face was here".
        small = cv2.resize(roi, (max(1, (c - a) // 12), max(1, (d - b) // 12)), interpolation=cv2.INTER_AREA)
        out[b:d, a:c] = cv2.GaussianBlur(cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_LINEAR), (k, k), 0)
    return out


@dataclass
class FaceBlurrer:
    """Stateful per-video face blurring (boxes held between searches)."""

    stride: int = 3
    width: int = 320  # searched with 1 upsampling: faces down to ~80 px in a 640-px frame
    faces_found: int = 0
    frames_with_faces: int = 0
    _det: object = field(default=None, repr=False)
    _boxes: list[Box] = field(default_factory=list, repr=False)
    _n: int = 0

    def __call__(self, rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
        if self._det is None:
            self._det = _detector()
        if self._n % max(self.stride, 1) == 0:
            self._boxes = detect_faces(rgb, self._det, self.width)
            self.faces_found += len(self._boxes)
        self._n += 1
        if self._boxes:
            self.frames_with_faces += 1
        return blur_boxes(rgb, self._boxes)
