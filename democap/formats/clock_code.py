"""The clock code: a QR code holding a host time, shown on a screen and filmed to measure latency.

Payload: the ASCII text ``democap:<t_ns>``, where ``t_ns`` is the host's CLOCK_MONOTONIC in
integer nanoseconds when the code was drawn. The host draws it (``democap calib latency
--show``), the virtual rig's screen shows it, and ``calib.latency`` reads it back.
"""

from __future__ import annotations

import re
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

_PAYLOAD = re.compile(r"^democap:(-?\d+)$")


def encode_time(t_ns: int, module_px: int = 8) -> NDArray[np.uint8]:
    """A QR code image (uint8, white quiet zone included) holding ``democap:<t_ns>``."""
    qr = cv2.QRCodeEncoder.create().encode(f"democap:{int(t_ns)}")
    return cv2.resize(qr, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)


def decode_time(image: NDArray[Any], detector: Any | None = None) -> int | None:
    """The host time (ns) a frame shows, or None when no democap code is readable in it."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    det = detector or cv2.QRCodeDetector()
    text, _, _ = det.detectAndDecode(img)
    m = _PAYLOAD.match(text or "")
    return int(m.group(1)) if m else None
