"""Gripper and latency calibration on sessions recorded from the virtual rig, CLI end to end.

The operator's steps: record a calibration clip, run ``democap calib gripper|latency`` on it,
save the result. The virtual rig's truth (finger geometry, TCP, latency) is known.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from calib.gripper import FingerMarkers, observe_clip, width_from_observation
from calib.sessions import camera_of, frames_with_times
from democap import geometry
from democap.cli import main, resolve_session
from democap.model import GripperCalibration
from devices.sim import body


def _record(home, motion: str, seed: int, seconds: float, capsys) -> None:
    rc = main(["record", "--virtual", "--motion", motion, "--seed", str(seed), "--seconds", str(seconds),
               "--cameras", "mono-pinhole"])  # fmt: skip
    assert rc == 0
    capsys.readouterr()


def test_gripper_clip_calibrates_width_and_tcp(home, capsys) -> None:
    _record(home, "gripper_clip", 1, 7.0, capsys)
    rc = main(["calib", "gripper", "last", "--max-width", str(body.GRIPPER_MAX_WIDTH_M), "--save", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    session = resolve_session(home, "last")
    truth_tcp = np.asarray(session.manifest["ground_truth"]["T_cam0_tcp"])
    T_cam_tcp = np.asarray(out["T_cam_tcp"])
    assert np.linalg.norm(T_cam_tcp[:3, 3] - truth_tcp[:3, 3]) < 0.002
    assert np.degrees(geometry.rotation_angle(T_cam_tcp[:3, :3].T @ truth_tcp[:3, :3])) < 1.0
    assert out["frames_both_fingers"] >= 0.95 * out["frames"]

    # The width line against the rig's encoder (0.02 mm per tick) at the frames' exposure times.
    g = GripperCalibration(out["source"], out["scale"], out["offset_m"], out["min_width_m"], out["max_width_m"])
    markers = FingerMarkers()
    obs = observe_clip(frames_with_times(session, "rig0.cam0", step=4, device_time=True),
                       camera_of(session, "rig0", "cam0", None), markers)  # fmt: skip
    enc = session.columns("rig0.gripper")
    t_seen = np.array([o.t_ns for o in obs]) + session.manifest["ground_truth"]["camera_time_offset_ns"]
    truth_w = np.interp(t_seen, enc["t_device_ns"], enc["width_m"])
    est_w = np.array([width_from_observation(o, g) for o in obs])
    err = np.abs(est_w - truth_w)
    assert np.isfinite(err).all() and err.max() < 0.001, err.max()
    assert truth_w.max() - truth_w.min() > 0.08  # the clip really spans the range
    assert str(out["calibration"]).startswith("sha256:")


@pytest.mark.parametrize("display_hz", [144.0, 60.0])
def test_screen_clip_measures_latency(home, capsys, display_hz: float) -> None:
    from capture.virtual import record_virtual

    record_virtual(home, seconds=5.0, seed=2, motion="screen_clip", cameras="mono-pinhole", display_hz=display_hz)
    rc = main(["calib", "latency", "last", "--display-hz", str(display_hz), "--save", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    truth_ns = resolve_session(home, "last").calibration().latency_ns["cam0"]  # the rig's true latency
    err_ms = abs(out["latency_ns"] - truth_ns) * 1e-6
    assert out["decoded"] >= 0.5 * out["frames"]
    if display_hz == 144.0:  # 4.8 refreshes per frame: the frames see the codes at five ages
        assert err_ms < 5.0 and out["sigma_ms"] < 1.5 and not out["warning"], out
    else:  # 30 fps against 60 Hz: every code is seen at one age, and the result says so
        assert "phase-locked" in out["warning"] and out["sigma_ms"] > 4.0
        assert err_ms < 0.5e3 / display_hz + 1.5, out


def test_clips_are_what_calibration_needs() -> None:
    from devices.sim.motion import scripted_motion

    t = np.arange(0.0, 8.0, 0.01)
    grip = scripted_motion("gripper_clip", 8.0, seed=3)
    w = grip.gripper_width(t)
    assert w.min() == pytest.approx(body.GRIPPER_MIN_WIDTH_M) and w.max() == pytest.approx(body.GRIPPER_MAX_WIDTH_M)
    assert np.linalg.norm(np.ptp(grip.position(t), axis=0)) < 0.15  # held over the table, not a task
    screen = scripted_motion("screen_clip", 8.0, seed=3)
    T_world_cam = screen.pose(t) @ body.T_IMU_CAM0
    assert np.all(T_world_cam[:, 0, 2] > 0.95)  # looking along +x, at the monitor
