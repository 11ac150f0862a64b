"""A recording from a virtual rig over a pty, through the lead's Recorder, with a link drop in it."""

from __future__ import annotations

import numpy as np

from capture.rig import record_from_rig
from devices.link.record import clock_mapping_from_columns
from devices.link.virtual_firmware import spawn


def test_record_from_rig_keeps_everything_and_marks_the_gap(home) -> None:
    rig = spawn(
        "--pty",
        "--duration",
        "30",
        "--episode-every",
        "1.0",
        "--disconnect-at",
        "3.0",
        "--disconnect-for",
        "1.0",
        "--drift-ppm",
        "60",
    )
    try:
        s = record_from_rig(home, rig.address, seconds=7.0)
    finally:
        rig.stop()
    kinds = {name: spec["kind"] for name, spec in s.streams.items()}
    assert kinds == {
        "rig0.imu": "imu",
        "rig0.gripper": "gripper",
        "rig0.events": "events",
        "rig0.clocksync": "clocksync",
    }
    gaps = s.manifest["gaps"]
    assert len(gaps) == 1 and gaps[0]["rig"] == "rig0" and 0.9e9 < gaps[0]["t1_ns"] - gaps[0]["t0_ns"] < 3e9
    imu = s.columns("rig0.imu")
    t = imu["t_host_ns"]
    assert np.all(np.diff(t) > 0)
    inside = (t > gaps[0]["t0_ns"]) & (t < gaps[0]["t1_ns"])
    assert not inside.any()
    assert (t < gaps[0]["t0_ns"]).sum() > 200 and (t > gaps[0]["t1_ns"]).sum() > 200
    assert s.episodes  # from the rig's trigger
    m = clock_mapping_from_columns(s.columns("rig0.clocksync"))
    assert abs(m.drift_ppm - (1 / (1 + 60e-6) - 1) * 1e6) < 30  # a few seconds of pty exchanges
    lag_ms = (t - m.to_host(imu["t_device_ns"])) / 1e6
    assert -1 < np.median(lag_ms) < 60
