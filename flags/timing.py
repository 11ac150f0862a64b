"""Corrected timestamps of a session's streams, through ``democap.model.corrected_times``.

The corrections for a stream come from the trajectory stage's record when it stored
them (that is what the poses were computed against), else from the rig calibration:
its per-stream latency and, for a camera, its camera-to-IMU time offset.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from capture.artifacts import read_stage
from capture.session import Session
from democap.model import TimeCorrections, corrected_times


def stream_corrections(session: Session, stream: str) -> TimeCorrections:
    rec = read_stage(session, "trajectory")
    if rec is not None and isinstance(rec.corrections.get(stream), dict):
        return TimeCorrections.from_dict(rec.corrections[stream])
    rig, _, sensor = stream.partition(".")
    cal = session.calibration(rig) if rig in session.rigs else None
    if cal is None:
        return TimeCorrections()
    offset = 0
    if session.streams.get(stream, {}).get("kind") == "video":
        offset = next((c.time_offset_ns for c in cal.cameras if c.name == sensor), 0)
    return TimeCorrections(latency_ns=int(cal.latency_ns.get(stream, cal.latency_ns.get(sensor, 0))),
                           offset_ns=int(offset))


def stream_times(session: Session, stream: str, columns: dict[str, NDArray] | None = None) -> NDArray[np.int64]:
    """Corrected host times (N,) int64 ns of a table or video stream's rows."""
    c = columns if columns is not None else session.columns(stream)
    t_dev = c.get("t_device_ns")
    if t_dev is not None and np.any(np.asarray(t_dev) < 0):
        t_dev = None  # -1 marks "device gave no timestamp"
    return corrected_times(np.asarray(c["t_host_ns"], dtype=np.int64), t_dev, stream_corrections(session, stream))
