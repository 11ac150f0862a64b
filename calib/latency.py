"""Camera-to-host latency: film a screen that shows the host clock as a QR code.

The screen (``democap calib latency --show``) redraws the clock code
(``democap.formats.clock_code``: the host's CLOCK_MONOTONIC when drawn) at the display
rate. For each recorded frame that shows a readable code, ``t_host_arrival - t_shown`` is
the latency plus the time the code had been on screen when the exposure happened, which
is uniform over one display period: half a period is subtracted. The median over frames
is robust to codes caught mid-refresh.

What is measured is the time from mid-exposure to host arrival, the amount a host stamp
must be moved back (``TimeCorrections.latency_ns``) to say when the frame was seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from democap.errors import CalibrationError
from democap.formats.clock_code import decode_time, encode_time

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LatencyResult:
    latency_ns: int
    sigma_ns: float  # 1-sigma of the result: the median's and the display phase's together
    spread_ns: float  # robust spread of single frames
    n_decoded: int
    n_frames: int
    phase_sigma_ns: float = 0.0  # what the unseen display phase adds (see ``phase_uncertainty``)
    warning: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ns * 1e-6, "latency_ns": self.latency_ns, "sigma_ms": self.sigma_ns * 1e-6,
                "spread_ms": self.spread_ns * 1e-6, "phase_sigma_ms": self.phase_sigma_ns * 1e-6,
                "decoded": self.n_decoded, "frames": self.n_frames, "warning": self.warning}  # fmt: skip


def phase_uncertainty(t_frames_ns: NDArray[np.int64], display_hz: float) -> tuple[float, float]:
    """(1-sigma in ns, frame period in ns) of the display phase the frames sample.

    A frame sees the code drawn at the last refresh; its age at the exposure is what half a
    period stands in for. That holds when the frames' phases against the refreshes cover the
    period: a 30 fps camera filming a 60 Hz display sees every code at the same age (locked),
    a 144 Hz display at five ages. The phases follow from the frame rate (a line fitted to
    the arrival stamps, so transport jitter drops out); the largest gap g between them (as a
    share of the period) leaves the mean age unknown by up to g/2 periods, uniformly.
    """
    t = np.sort(np.asarray(t_frames_ns, np.float64))
    if len(t) < 3:
        return 0.5e9 / display_hz / np.sqrt(3.0), float("nan")
    dt = float(np.median(np.diff(t)))
    k = np.round((t - t[0]) / dt)
    period = float(np.polyfit(k, t, 1)[0])  # ns per frame
    refresh = 1e9 / display_hz
    phase = np.sort(np.mod(k * period / refresh, 1.0))
    gaps = np.diff(np.concatenate([phase, phase[:1] + 1.0]))
    return float(gaps.max()) * refresh / np.sqrt(12.0), period


def measure_latency(frames: Iterable[tuple[int, NDArray[Any]]], display_hz: float = 60.0,
                    min_decoded: int = 5) -> LatencyResult:  # fmt: skip
    """Latency from ``(t_host_arrival_ns, image)`` frames of a screen showing ``encode_time`` codes."""
    det = cv2.QRCodeDetector()
    diffs, t_decoded = [], []
    n = 0
    for t_host, img in frames:
        n += 1
        shown = decode_time(img, det)
        if shown is not None:
            diffs.append(int(t_host) - shown)
            t_decoded.append(int(t_host))
    if len(diffs) < min_decoded:
        raise CalibrationError(f"the clock code was readable in only {len(diffs)} of {n} frames; "
                               "fill more of the view with the screen and avoid glare")  # fmt: skip
    d = np.asarray(diffs, np.float64) - 0.5e9 / display_hz
    med = float(np.median(d))
    spread = 1.4826 * float(np.median(np.abs(d - med)))
    sigma_median = 1.2533 * spread / np.sqrt(len(d))
    phase_sigma, period = phase_uncertainty(np.asarray(t_decoded, np.int64), display_hz)
    sigma = float(np.hypot(sigma_median, phase_sigma))
    warning = ""
    if phase_sigma > 0.25 * 1e9 / display_hz / np.sqrt(12.0):
        warning = (f"the camera ({1e9 / period:.1f} fps) and the {display_hz:g} Hz display are nearly phase-locked: "
                   f"the frames see the codes at too few ages, so the result is only known to "
                   f"+-{np.sqrt(3.0) * phase_sigma * 1e-6:.1f} ms. Film a display whose refresh rate is not a "
                   "multiple of the frame rate (e.g. 144 Hz for 30 fps), or record at another frame rate")  # fmt: skip
        log.warning("%s", warning)
    log.info("latency %.2f ms from %d of %d frames", med * 1e-6, len(d), n)
    return LatencyResult(int(round(med)), sigma, spread, len(d), n, phase_sigma, warning)


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
