"""Recording from a paired rig over its link (serial or UDP), through the one recorder."""

from __future__ import annotations

from capture.recorder import Recorder
from capture.session import Session
from democap.home import Home


def record_from_rig(home: Home, target: str, seconds: float | None = None, operator: str = "") -> Session:
    """Record a session from the rig ``target`` (paired serial or address) until ``seconds`` pass or Ctrl-C."""
    from devices.link.record import open_rig_source

    src = open_rig_source(home, target)
    desc = src.describe()
    rec = Recorder(
        home,
        [src],
        operator=operator,
        source_info={"kind": "rig", "serial": desc.info.serial, "firmware": desc.info.firmware},
    )
    return rec.run(seconds=seconds)
