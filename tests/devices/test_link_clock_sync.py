"""Clock mapping from NTP-style exchanges over a simulated asymmetric, jittery link."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from devices.base import ClockExchange
from devices.link.clock_sync import LiveClockSync, exchanges_array, fit_clock, split_at_jumps

_spec = importlib.util.spec_from_file_location(
    "bench_clock_sync", Path(__file__).resolve().parents[2] / "bench" / "bench_clock_sync.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)  # type: ignore[union-attr]


def test_after_the_fact_fit_recovers_drift_and_offset() -> None:
    ex, dev, host = bench.simulate(seed=11)
    m = fit_clock(ex)
    # The device runs 50 ppm fast, so host time advances 1/(1+50e-6) per device tick.
    assert abs(m.drift_ppm - (1 / (1 + 50e-6) - 1) * 1e6) < 5.0
    t = np.linspace(0, 60, 601)
    err_ms = np.abs(m.to_host(dev.device_ns(t)) - host.host_ns(t)) / 1e6
    assert np.percentile(err_ms, 95) < 0.5
    # The stated 1-sigma uncertainty is the right order of magnitude (not 100x off either way).
    rms_ns = float(np.sqrt(np.mean((err_ms * 1e6) ** 2)))
    assert rms_ns / 10 < m.uncertainty_ns < rms_ns * 30


def test_naive_midpoint_average_is_much_worse() -> None:
    """Guards the reason for the max-margin fit: plain averaging inherits the delay asymmetry."""
    ex, dev, host = bench.simulate(seed=5)
    a = exchanges_array(ex)
    mid_host = (a[:, 0] + a[:, 3]) / 2
    mid_dev = (a[:, 1] + a[:, 2]) / 2
    coef = np.polyfit(mid_dev - mid_dev[0], mid_host - mid_dev, 1)
    t = np.linspace(0, 60, 601)
    d = dev.device_ns(t)
    naive = (d + np.polyval(coef, d - mid_dev[0])) - host.host_ns(t)
    fit = fit_clock(ex).to_host(d) - host.host_ns(t)
    assert np.percentile(np.abs(fit), 95) < np.percentile(np.abs(naive), 95) / 2


def test_live_estimate_meets_target_after_warmup() -> None:
    live_err_ms, after_err_ms, _ = bench.run(seed=3)
    assert np.percentile(live_err_ms, 95) < 1.0
    assert np.percentile(after_err_ms, 95) < 0.5


def test_clock_jump_is_detected_and_the_fit_uses_one_segment() -> None:
    ex, dev, host = bench.simulate(seed=2)
    jumped = [
        ClockExchange(
            e.rig,
            e.t_host_send_ns,
            e.t_device_rx_ns + (250_000_000 if i >= 400 else 0),
            e.t_device_tx_ns + (250_000_000 if i >= 400 else 0),
            e.t_host_recv_ns,
        )
        for i, e in enumerate(ex)
    ]
    segs = split_at_jumps(exchanges_array(jumped))
    assert [len(s) for s in segs] == [400, 200]
    m = fit_clock(jumped)
    t = np.linspace(0, 38, 100)  # inside the longest (first) segment
    assert np.percentile(np.abs(m.to_host(dev.device_ns(t)) - host.host_ns(t)), 95) < 1e6

    live = LiveClockSync()
    for e in jumped:
        live.add(e)
    assert len(live) == 200  # restarted at the jump


def test_empty_and_single_exchange() -> None:
    assert fit_clock([]).method == "identity"
    m = fit_clock([ClockExchange("r", 1000, 5000, 5100, 3000)])
    assert m.drift_ppm == 0.0
    # Midway between the causal bounds: host(5000) >= 1000 and host(5100) <= 3000.
    assert m.to_host(np.array([5000]))[0] >= 1000 and m.to_host(np.array([5100]))[0] <= 3000


def test_mis_stamped_exchanges_are_dropped() -> None:
    ex, dev, host = bench.simulate(seed=8)
    bad = {50: 30_000_000, 300: -25_000_000, 420: 40_000_000}  # device stamps off by tens of ms
    ex = [
        ClockExchange(
            e.rig,
            e.t_host_send_ns,
            e.t_device_rx_ns + bad.get(i, 0),
            e.t_device_tx_ns + bad.get(i, 0),
            e.t_host_recv_ns,
        )
        for i, e in enumerate(ex)
    ]
    assert len(split_at_jumps(exchanges_array(ex))) == 1  # isolated spikes are not clock steps
    m = fit_clock(ex)
    t = np.linspace(0, 60, 601)
    assert np.percentile(np.abs(m.to_host(dev.device_ns(t)) - host.host_ns(t)), 95) < 0.5e6
    live = LiveClockSync(window_s=100)
    for e in ex:
        live.add(e)
    assert len(live) == len(ex) - len(bad)  # the live window skipped them
