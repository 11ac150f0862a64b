"""The host link against the virtual firmware process over a real pty (pyserial on one end)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from devices import base
from devices.link import protocol as proto
from devices.link.client import RigLink, RigLinkError, RigLinkSource
from devices.link.transport import SerialTransport
from devices.link.virtual_firmware import spawn


def _t(s: base.Sample) -> int | None:
    if isinstance(s, base.ImuBatch):
        return int(s.t_host_ns[-1])
    if isinstance(s, base.ClockExchange):
        return s.t_host_recv_ns
    return getattr(s, "t_host_ns", None)


def _collect(src: RigLinkSource, seconds: float) -> list[base.Sample]:
    """Pull samples for ``seconds``; stop() comes from another thread, as in the recorder."""
    timer = threading.Timer(seconds, src.stop)
    timer.start()
    try:
        return list(src.samples())
    finally:
        timer.cancel()


@pytest.fixture
def faulty_rig():
    rig = spawn(
        "--pty",
        "--duration",
        "30",
        "--seed",
        "3",
        "--episode-every",
        "0.8",
        "--corrupt-rate",
        "0.03",
        "--drop-rate",
        "0.02",
        "--dup-rate",
        "0.03",
        "--reorder-rate",
        "0.02",
        "--disconnect-at",
        "1.8",
        "--disconnect-for",
        "1.2",
    )
    yield rig
    rig.stop()


def test_source_survives_faults_and_marks_the_gap(faulty_rig) -> None:
    src = RigLinkSource(lambda: RigLink(SerialTransport(faulty_rig.port)), rig="rig0")
    desc = src.describe()
    assert desc.info.serial == "VR-0001" and desc.clocksync and desc.gripper
    samples = _collect(src, 4.5)
    link = src.link
    assert link is not None

    # Corrupted, duplicated and dropped frames were seen, and none of them became a sample twice.
    assert link.parser.stats.errors > 0
    assert link.stats.duplicates > 0
    assert link.stats.lost > 0

    gaps = [s for s in samples if isinstance(s, base.LinkGap)]
    assert len(gaps) == 1
    gap = gaps[0]
    assert 0.9e9 < gap.t1_ns - gap.t0_ns < 3e9
    # Samples arrived on both sides of the gap; the gap starts at the last arrival before the drop.
    idx = samples.index(gap)
    before = [_t(s) for s in samples[:idx] if _t(s) is not None]
    after = [_t(s) for s in samples[idx + 1 :] if _t(s) is not None]
    assert before and after
    assert max(before) <= gap.t0_ns  # nothing that arrived before the drop is inside the gap
    assert min(after) >= gap.t1_ns

    imu = [s for s in samples if isinstance(s, base.ImuBatch)]
    t_dev = np.concatenate([b.t_device_ns for b in imu])
    gyro = np.concatenate([b.gyro for b in imu])
    accel = np.concatenate([b.accel for b in imu])
    assert len(t_dev) > 300
    assert gyro.shape == accel.shape == (len(t_dev), 3)
    # Specific force of a handheld rig: gravity dominates the mean.
    assert 7.0 < np.linalg.norm(accel.mean(axis=0)) < 12.0
    for b in imu:
        assert np.all(np.diff(b.t_device_ns) > 0) and np.all(np.diff(b.t_host_ns) > 0)

    episodes = [s.value for s in samples if isinstance(s, base.RigEvent) and s.kind == "episode"]
    # Both edges arrive (the fault injection may drop some, and the silent second loses its presses).
    assert {"start", "stop"} <= set(episodes)

    # The live clock mapping takes device times to host arrival times within the link's latency.
    mapping = src.clock.mapping()
    assert mapping is not None
    grip = [s for s in samples if isinstance(s, base.GripperSample)]
    mapped = mapping.to_host(np.array([g.t_device_ns for g in grip]))
    latency = np.array([g.t_host_ns for g in grip]) - mapped
    assert np.median(latency) > -1e6 and np.median(latency) < 20e6
    widths = np.array([g.width_m for g in grip])
    assert np.all((widths >= 0) & (widths < 0.2))


def test_unplugged_rig_leaves_an_open_gap() -> None:
    rig = spawn("--pty", "--exit-at", "2.0")
    try:
        src = RigLinkSource(lambda: RigLink(SerialTransport(rig.port)), rig="rigX")
        samples = _collect(src, 3.5)
    finally:
        rig.stop()
    gaps = [s for s in samples if isinstance(s, base.LinkGap)]
    assert len(gaps) == 1 and "not resumed" in gaps[0].reason
    assert any(isinstance(s, base.ImuBatch) and s.t_host_ns[-1] <= gaps[0].t0_ns for s in samples)


def test_config_set_get_and_refusal() -> None:
    rig = spawn("--pty", "--duration", "20")
    try:
        link = RigLink(SerialTransport(rig.port))
        assert link.hello().fw_version == (1, 0, 0)
        key = proto.CONFIG_IDS["accel_range_g"]
        v = link.request(proto.ConfigSet(key, 4), proto.ConfigValue).message
        assert v == proto.ConfigValue(key, 4)
        assert link.request(proto.ConfigGet(key), proto.ConfigValue).message == proto.ConfigValue(key, 4)
        with pytest.raises(RigLinkError, match="out of range"):
            link.request(proto.ConfigSet(key, 64), proto.ConfigValue)
        # New IMU batches use the new range's scale.
        deadline = time.monotonic() + 3
        scale = None
        while time.monotonic() < deadline and scale is None:
            for frame, _t in link.poll(0.05):
                m = frame.message
                if isinstance(m, proto.ImuBatch) and m.accel_scale != pytest.approx(16 * 9.80665 / 32768):
                    scale = m.accel_scale
        assert scale == pytest.approx(4 * 9.80665 / 32768, rel=1e-6)
        link.close()
    finally:
        rig.stop()


def test_device_clock_jump_restarts_the_live_estimate() -> None:
    rig = spawn("--pty", "--duration", "30", "--clock-jump-at", "2.5", "--clock-jump-ms", "400")
    try:
        src = RigLinkSource(lambda: RigLink(SerialTransport(rig.port)), rig="rig0")
        samples = _collect(src, 5.0)
    finally:
        rig.stop()
    from devices.link.clock_sync import exchanges_array, split_at_jumps

    ex = [s for s in samples if isinstance(s, base.ClockExchange)]
    segs = split_at_jumps(exchanges_array(ex))
    assert len(segs) == 2
    # The live window holds only post-jump exchanges, and maps post-jump device times to arrival times.
    assert len(segs[1]) - 3 <= len(src.clock) <= len(segs[1])  # exchanges around the step may be dropped
    m = src.clock.mapping()
    grip = [g for g in samples if isinstance(g, base.GripperSample)][-20:]
    lag_ms = (np.array([g.t_host_ns for g in grip]) - m.to_host(np.array([g.t_device_ns for g in grip]))) / 1e6
    assert -1 < np.median(lag_ms) < 20
