"""The flags stage and the episode summary on a generated session with known defects."""

from __future__ import annotations

import json

import numpy as np
import pytest

from capture.artifacts import session_flags
from capture.session import Session
from democap.model import Decision
from flags import stage, summary
from flags.synthetic import make_session

PERIOD = 33_333_333
T0 = 1_000_000_000_000


def frame_of(t_ns: int) -> int:
    # Frame times are corrected by the 8 ms camera latency of the generated calibration.
    return int(round((t_ns + 8_000_000 - T0) / PERIOD))


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    p = make_session(
        tmp_path_factory.mktemp("s"),
        blur=tuple(range(10, 16)),
        dark=tuple(range(30, 35)),
        hand=tuple(range(50, 58)),
        dropped=(70, 71),
        lost=tuple(range(80, 86)),
        fiducials_hidden=(20, 21, 22),
        imu_saturated=True,
    )
    s = Session(p)
    stage.run(s, settings=stage.FlagSettings(hand_stride=1))
    return s


def test_every_planted_defect_is_flagged_where_it_was_planted(session):
    flags = session_flags(session)
    spans = {f.kind: (frame_of(f.t0_ns), frame_of(f.t1_ns)) for f in flags}
    assert spans["observation.blur"] == (10, 16)
    assert spans["observation.underexposed"] == (30, 35)
    assert spans["observation.hand_in_view"][0] in (50, 51) and spans["observation.hand_in_view"][1] in (57, 58)
    assert spans["observation.tracking_lost"] == (80, 86)
    assert spans["observation.dropped_frames"] == (69, 72)
    assert "observation.imu_saturation" in spans and "observation.fiducials_hidden" in spans
    assert not any(f.kind in ("observation.overexposed", "observation.camera_mismatch") for f in flags)
    assert next(f for f in flags if f.kind == "observation.tracking_lost").severity == "error"


def test_stage_output_is_recorded_and_reused(session):
    rec = stage.run(session)
    assert (session.path / "stages/flags/flags.json").exists()
    assert json.loads((session.path / "stages/flags/stage.json").read_text())["input_hash"] == rec.input_hash
    metrics = stage.read_frame_metrics(session, "rig0")
    assert metrics is not None and len(metrics["t_ns"]) == 88
    again = stage.run(session)  # current: not recomputed
    assert again.created_realtime_ns == rec.created_realtime_ns


def test_camera_mismatch_with_a_robot_camera(tmp_path):
    from democap.model import CameraModel

    s = Session(make_session(tmp_path, n_frames=20, episodes=1))
    robot_cam = CameraModel("fisheye-equidistant", 640, 480, 280, 280, 320, 240, (0.0, 0.0, 0.0, 0.0))
    stage.run(s, robot_camera=robot_cam, robot_T_tcp_cam=np.eye(4))
    (f,) = [f for f in session_flags(s) if f.kind == "observation.camera_mismatch"]
    assert "distortion model" in f.message


def test_episode_summary_verdicts(session):
    s0 = summary.episode_summary(session, 0)
    s1 = summary.episode_summary(session, 1)
    assert s0["verdict"] == "check" and "observation.blur" in s0["flags_by_kind"]
    assert s1["flags_by_kind"]["observation.tracking_lost"]["worst"] == "error"
    assert 0.8 < s1["tracking_ok_share"]["rig0"] < 0.9
    # Every reason names the flags behind it, also when errors are too few to ask for a redo.
    (errors,) = [r for r in s1["reasons"] if r.startswith("errors on")]
    assert s1["verdict"] == "check" and errors.endswith("of the episode: observation.tracking_lost")
    assert any(r.startswith("warnings on") and "observation.blur" in r for r in s0["reasons"])
    session.add_decision(Decision(1, "reject", 1, operator="op-1", note="dropped the cup"))
    s1 = summary.episode_summary(session, 1)
    assert s1["verdict"] == "redo" and "rejected by the operator" in s1["reasons"]
    assert s1["notes"] == ["dropped the cup"]


def test_clock_mapping_uncertainty_from_the_trajectory_stage(tmp_path):
    from capture.artifacts import commit_stage, read_stage
    from democap.model import ClockMapping, TimeCorrections

    s = Session(make_session(tmp_path, n_frames=20, episodes=1))
    rec = read_stage(s, "trajectory")
    loose = TimeCorrections(clock=ClockMapping(0, 0, 0.0, 5e6, "ntp-like"), latency_ns=8_000_000)
    commit_stage(
        s,
        "trajectory",
        rec.version,
        rec.input_hash,
        rec.settings,
        list(rec.outputs),
        corrections={"rig0.imu": loose.to_dict()},
    )
    stage.run(s)
    (f,) = [f for f in session_flags(s) if f.kind == "observation.clock_sync"]
    assert f.evidence["uncertainty_ms"] == 5.0 and "rig0.imu" in f.message
