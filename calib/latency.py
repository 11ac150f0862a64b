"""Camera-to-host latency: film a screen that shows the host clock as a QR code.

The screen (``democap calib latency --show``) redraws a QR code holding
``democap:<t_ns>`` (host CLOCK_MONOTONIC when drawn) at the display rate. For each
recorded frame that shows a readable code, ``t_host_arrival - t_shown`` is the latency
plus the time the code had been on screen when the exposure happened, which is uniform
over one display period: half a period is subtracted. The median over frames is robust
to codes caught mid-refresh.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from democap.errors import CalibrationError

log = logging.getLogger(__name__)

_PAYLOAD = re.compile(r"^democap:(-?\d+)$")


def encode_time(t_ns: int, module_px: int = 8) -> NDArray[np.uint8]:
    """A QR code image (white quiet zone included) holding ``democap:<t_ns>``."""
    enc = cv2.QRCodeEncoder.create()
    qr = enc.encode(f"democap:{int(t_ns)}")
    return cv2.resize(qr, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)


def decode_time(image: NDArray[Any], detector: Any | None = None) -> int | None:
    """The displayed host time (ns) in a frame, or None when no democap code is readable."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    det = detector or cv2.QRCodeDetector()
    text, _, _ = det.detectAndDecode(img)
    m = _PAYLOAD.match(text or "")
    return int(m.group(1)) if m else None


@dataclass(frozen=True, eq=False)
class LatencyResult:
    latency_ns: int
    sigma_ns: float  # 1-sigma of the median
    spread_ns: float  # robust spread of single frames
    n_decoded: int
    n_frames: int

    def to_json(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ns * 1e-6, "latency_ns": self.latency_ns, "sigma_ms": self.sigma_ns * 1e-6,
                "spread_ms": self.spread_ns * 1e-6, "decoded": self.n_decoded, "frames": self.n_frames}  # fmt: skip


def measure_latency(frames: Iterable[tuple[int, NDArray[Any]]], display_hz: float = 60.0,
                    min_decoded: int = 5) -> LatencyResult:  # fmt: skip
    """Latency from ``(t_host_arrival_ns, image)`` frames of a screen showing ``encode_time`` codes."""
    det = cv2.QRCodeDetector()
    diffs = []
    n = 0
    for t_host, img in frames:
        n += 1
        shown = decode_time(img, det)
        if shown is not None:
            diffs.append(int(t_host) - shown)
    if len(diffs) < min_decoded:
        raise CalibrationError(f"the clock code was readable in only {len(diffs)} of {n} frames; "
                               "fill more of the view with the screen and avoid glare")  # fmt: skip
    d = np.asarray(diffs, np.float64) - 0.5e9 / display_hz
    med = float(np.median(d))
    spread = 1.4826 * float(np.median(np.abs(d - med)))
    sigma = 1.2533 * spread / np.sqrt(len(d))
    log.info("latency %.2f ms from %d of %d frames", med * 1e-6, len(d), n)
    return LatencyResult(int(round(med)), sigma, spread, len(d), n)


def run_display(seconds: float = 30.0, size_px: int = 600) -> None:  # pragma: no cover - needs a screen
    """Show the clock code full-screen-ish with OpenCV's HighGUI (needs a desktop; headless builds lack it)."""
    import time

    try:
        cv2.namedWindow("democap clock", cv2.WINDOW_NORMAL)
    except cv2.error as e:
        raise CalibrationError("this OpenCV build has no display support; use the GUI's latency page") from e
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic_ns()
        img = encode_time(t, module_px=max(2, size_px // 41))
        cv2.imshow("democap clock", img)
        if cv2.waitKey(1) == 27:
            break
    cv2.destroyAllWindows()
