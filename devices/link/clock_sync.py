"""Device-to-host clock mapping from NTP-style exchanges (host send, device rx/tx, host recv).

Causality bounds every exchange: the device received after the host sent, and the host
received after the device sent. For a line ``host = f(device)`` these are half-planes:
``f(t_device_rx) >= t_host_send`` and ``f(t_device_tx) <= t_host_recv``. The estimate is
the line that stays furthest from both sets of bounds (maximising the smaller margin). Only
the fastest exchanges in each direction touch the bounds, so this is minimum-delay
filtering without a threshold, and it needs no assumption on the delay distribution other
than the two directions having similar minima. Uncertainty comes from fitting the even
and odd exchanges separately.

``fit_clock`` fits a whole recording; ``LiveClockSync`` keeps a sliding window while
recording. A device clock jump (reboot, firmware glitch) makes the bounds inconsistent;
``split_at_jumps`` cuts the log there and the fits use the last consistent segment.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from democap.model import ClockMapping
from devices.base import ClockExchange

log = logging.getLogger(__name__)

MAX_DRIFT = 2000e-6  # crystals are within ~100 ppm; 2000 ppm bounds the search generously
MIN_SPAN_FOR_DRIFT_NS = 2_000_000_000
JUMP_NS = 5_000_000  # an offset step larger than this (and than the round trips) may be a clock jump
JUMP_CONFIRM = 3  # ... if that many exchanges in a row agree on it


def exchanges_array(exchanges: Sequence[ClockExchange] | NDArray[np.int64]) -> NDArray[np.int64]:
    """(N, 4) int64 columns t_host_send, t_device_rx, t_device_tx, t_host_recv (ns)."""
    if isinstance(exchanges, np.ndarray):
        return exchanges.astype(np.int64).reshape(-1, 4)
    return np.array(
        [[e.t_host_send_ns, e.t_device_rx_ns, e.t_device_tx_ns, e.t_host_recv_ns] for e in exchanges], dtype=np.int64
    ).reshape(-1, 4)


def _bounds(ex: NDArray[np.int64], dev_ref: int, host_ref: int):  # noqa: ANN202 - private helper
    x2 = (ex[:, 1] - dev_ref).astype(np.float64)
    x3 = (ex[:, 2] - dev_ref).astype(np.float64)
    lo = (ex[:, 0] - host_ref).astype(np.float64) - x2  # a + c*x2 >= lo
    hi = (ex[:, 3] - host_ref).astype(np.float64) - x3  # a + c*x3 <= hi
    return x2, x3, lo, hi


def _gap(c: float, x2, x3, lo, hi) -> tuple[float, float, float]:  # noqa: ANN001
    top = float(np.min(hi - c * x3))
    bottom = float(np.max(lo - c * x2))
    return top - bottom, bottom, top


def _fit_line(ex: NDArray[np.int64], dev_ref: int, host_ref: int) -> tuple[float, float, float]:
    """(offset a ns, drift c, margin ns) of the max-margin line over exchanges ``ex``."""
    x2, x3, lo, hi = _bounds(ex, dev_ref, host_ref)
    span = float(ex[-1, 1] - ex[0, 1])
    if span < MIN_SPAN_FOR_DRIFT_NS or len(ex) < 3:
        c = 0.0
    else:
        # The margin is concave in c (a min of lines minus a max of lines): golden-section search.
        g = (np.sqrt(5) - 1) / 2
        a_, b_ = -MAX_DRIFT, MAX_DRIFT
        c1, c2 = b_ - g * (b_ - a_), a_ + g * (b_ - a_)
        f1, f2 = _gap(c1, x2, x3, lo, hi)[0], _gap(c2, x2, x3, lo, hi)[0]
        for _ in range(80):
            if f1 < f2:
                a_, c1, f1 = c1, c2, f2
                c2 = a_ + g * (b_ - a_)
                f2 = _gap(c2, x2, x3, lo, hi)[0]
            else:
                b_, c2, f2 = c2, c1, f1
                c1 = b_ - g * (b_ - a_)
                f1 = _gap(c1, x2, x3, lo, hi)[0]
        c = (a_ + b_) / 2
    margin, bottom, top = _gap(c, x2, x3, lo, hi)
    return (bottom + top) / 2, c, margin


def _drop_violators(
    ex: NDArray[np.int64], dev_ref: int, host_ref: int, max_fraction: float = 0.05
) -> NDArray[np.int64]:
    """Remove exchanges that break causality for the best line (a corrupt or mis-stamped exchange).

    A correct exchange can never be violated by the true line, so while the bounds are
    inconsistent the worst offender goes, up to ``max_fraction`` of the exchanges.
    """
    for _ in range(int(len(ex) * max_fraction)):
        a, c, margin = _fit_line(ex, dev_ref, host_ref)
        if margin >= 0:
            break
        x2, x3, lo, hi = _bounds(ex, dev_ref, host_ref)
        violation = np.maximum(lo - (a + c * x2), (a + c * x3) - hi)
        ex = np.delete(ex, int(np.argmax(violation)), axis=0)
    return ex


def _mapping(ex: NDArray[np.int64], method: str) -> ClockMapping:
    dev_ref, host_ref = int(ex[len(ex) // 2, 1]), int(ex[len(ex) // 2, 0])
    if len(ex) >= 20:
        ex = _drop_violators(ex, dev_ref, host_ref)
    a, c, margin = _fit_line(ex, dev_ref, host_ref)
    spread = 0.0
    if len(ex) >= 8:
        # Two independent half-fits: their disagreement over the span measures the estimate's noise.
        xs = np.array([ex[0, 1], ex[-1, 1]], dtype=np.int64) - dev_ref
        fits = [_fit_line(ex[k::2], dev_ref, host_ref) for k in (0, 1)]
        preds = [f[0] + f[1] * xs for f in fits]
        spread = float(np.max(np.abs(preds[0] - preds[1]))) / 2
    if margin < 0:
        log.warning(
            "clock exchanges are inconsistent (%.3f ms of causality violation); mapping is the least-violating line",
            -margin / 1e6,
        )
    quant = 1000.0  # device timestamps in the protocol are at worst 1 us resolution
    unc = float(np.hypot(spread, quant / np.sqrt(12)))
    return ClockMapping(
        device_ref_ns=dev_ref,
        host_ref_ns=host_ref + int(round(a)),
        drift_ppm=float(c * 1e6),
        uncertainty_ns=unc,
        method=method,
    )


def _offsets(ex: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Per exchange: midpoint offset host - device (ns) and round-trip delay (ns), which bounds its error."""
    mid_offset = (ex[:, 0] + ex[:, 3]) // 2 - (ex[:, 1] + ex[:, 2]) // 2
    rtt = (ex[:, 3] - ex[:, 0]) - (ex[:, 2] - ex[:, 1])
    return mid_offset, rtt


def split_at_jumps(
    ex: NDArray[np.int64], jump_ns: int = JUMP_NS, confirm: int = JUMP_CONFIRM
) -> list[NDArray[np.int64]]:
    """Cut an exchange log where the device clock stepped (reboot, glitch, injected jump).

    A step is a shift of the offset larger than the round trips that persists for
    ``confirm`` exchanges; a single mis-stamped exchange is not a step (the fit drops it).
    """
    n = len(ex)
    if n < 2:
        return [ex]
    mid, rtt = _offsets(ex)
    cuts: list[int] = []
    i = 1
    while i < n:
        lo = max(cuts[-1] if cuts else 0, i - confirm)
        before = np.median(mid[lo:i])
        after = mid[i : i + confirm]
        limit = max(jump_ns, float(np.median(rtt[lo : i + confirm])))
        if len(after) == confirm and np.all(np.abs(after - before) > limit):
            cuts.append(i)
            i += confirm
        else:
            i += 1
    return [seg for seg in np.split(ex, cuts) if len(seg)]


def fit_clock(exchanges: Sequence[ClockExchange] | NDArray[np.int64]) -> ClockMapping:
    """After-the-fact mapping over a whole recording (its last jump-free segment)."""
    ex = exchanges_array(exchanges)
    if len(ex) == 0:
        return ClockMapping(device_ref_ns=0, host_ref_ns=0, method="identity")
    segs = split_at_jumps(ex)
    if len(segs) > 1:
        log.warning(
            "device clock jumped %d time(s) during the recording; mapping uses the longest segment", len(segs) - 1
        )
    seg = max(segs, key=len)
    return _mapping(seg, "clocksync-maxmargin")


class LiveClockSync:
    """Sliding-window estimate while recording; ``mapping()`` is cheap enough to call at 10 Hz."""

    def __init__(self, window_s: float = 30.0) -> None:
        self.window_ns = int(window_s * 1e9)
        self._ex: deque[tuple[int, int, int, int]] = deque()
        self._cached: ClockMapping | None = None
        self._suspects: list[tuple[int, int, int, int]] = []

    def add(self, e: ClockExchange) -> None:
        row = (e.t_host_send_ns, e.t_device_rx_ns, e.t_device_tx_ns, e.t_host_recv_ns)
        if len(self._ex) >= 2 and self._is_step(row):
            # Hold exchanges that disagree with the window; JUMP_CONFIRM in a row is a clock step.
            self._suspects.append(row)
            if len(self._suspects) >= JUMP_CONFIRM:
                log.warning("device clock jumped; restarting the live clock estimate")
                self._ex = deque(self._suspects)
                self._suspects = []
                self._cached = None
            return
        self._suspects = []  # they were isolated mis-stamped exchanges: dropped
        self._ex.append(row)
        while self._ex and self._ex[-1][0] - self._ex[0][0] > self.window_ns:
            self._ex.popleft()
        self._cached = None

    def _is_step(self, row: tuple[int, int, int, int]) -> bool:
        recent = np.array(list(self._ex)[-JUMP_CONFIRM:], dtype=np.int64)
        mid, rtt = _offsets(np.vstack([recent, np.array([row], dtype=np.int64)]))
        limit = max(JUMP_NS, float(np.median(rtt)))
        return bool(abs(mid[-1] - np.median(mid[:-1])) > limit)

    def __len__(self) -> int:
        return len(self._ex)

    def mapping(self) -> ClockMapping | None:
        if not self._ex:
            return None
        if self._cached is None:
            m = _mapping(np.array(self._ex, dtype=np.int64), "clocksync-live")
            self._cached = m
        return self._cached
