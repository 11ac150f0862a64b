"""Corrected timestamps of a session's streams: which corrections apply to which stream.

``democap.model.corrected_times`` applies corrections; this module decides them, for
every stage alike:

* the device→host clock mapping, fitted after the fact over the whole recording from the
  rig's raw clock-sync log (``<rig>.clocksync``), when the rig has one and the stream
  carries device stamps;
* the stream's latency from the rig calibration (used only without a clock mapping);
* for a camera, the camera→IMU time offset from the calibration.

Stages record what they applied (``stage.json`` → ``corrections``, keyed by stream).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capture.session import Session
from democap.model import ClockMapping, TimeCorrections, corrected_times

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=32)
def _clock_for(session_path: str, fingerprint: str, rig: str) -> ClockMapping | None:
    # fingerprint is part of the cache key: a changed clock-sync log is fitted again.
    from devices.link.record import clock_mapping_from_columns

    c = Session(Path(session_path)).columns(f"{rig}.clocksync")
    if len(c["t_host_send_ns"]) < 3:
        return None
    return clock_mapping_from_columns(c)


def clock_mapping(session: Session, rig: str) -> ClockMapping | None:
    """After-the-fact device→host mapping of a rig, or None without a clock-sync log."""
    name = f"{rig}.clocksync"
    if name not in session.streams:
        return None
    return _clock_for(str(session.path), session.fingerprint([name]), rig)


def stream_corrections(session: Session, stream: str, recorded: bool = True) -> TimeCorrections:
    """The corrections for a stream's timestamps.

    With ``recorded`` (every stage after tracking), the corrections the trajectory stage
    applied to this stream are reused, so that poses, joints, flags and exports share one
    timeline. The trajectory stage itself asks with ``recorded=False`` to compute them anew.
    """
    if recorded:
        from capture.artifacts import read_stage

        rec = read_stage(session, "trajectory")
        if rec is not None and isinstance(rec.corrections.get(stream), dict):
            return TimeCorrections.from_dict(rec.corrections[stream])
    spec = session.streams.get(stream, {})
    rig, _, sensor = stream.partition(".")
    cal = session.calibration(rig) if rig in session.rigs else None
    latency = int(cal.latency_ns.get(stream, cal.latency_ns.get(sensor, 0))) if cal else 0
    offset = 0
    if cal is not None and spec.get("kind") == "video":
        offset = next((int(c.time_offset_ns) for c in cal.cameras if c.name == sensor), 0)
    return TimeCorrections(clock=clock_mapping(session, rig), latency_ns=latency, offset_ns=offset)


def stream_times(
    session: Session, stream: str, columns: dict[str, NDArray[Any]] | None = None, recorded: bool = True
) -> NDArray[np.int64]:
    """Corrected host times (N,) int64 ns of a stream's rows (``stream_corrections`` tells what was applied)."""
    c = columns if columns is not None else session.columns(stream)
    t_dev = c.get("t_device_ns")
    if t_dev is not None and np.any(np.asarray(t_dev) < 0):
        t_dev = None  # -1: the device gave no timestamp
    corr = stream_corrections(session, stream, recorded)
    return corrected_times(np.asarray(c["t_host_ns"], dtype=np.int64), t_dev, corr)
