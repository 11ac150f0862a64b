"""The retarget stage on a small generated session, through the library and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from capture.artifacts import (
    commit_stage,
    read_flags,
    read_joints,
    read_stage,
    stage_dir,
    trajectory_path,
    write_trajectory,
)
from capture.session import Session, SessionWriter, StreamSpec
from democap.cli import main
from democap.errors import StageError
from democap.model import CameraCalibration, CameraModel, Episode, RigCalibration, TrackState, Trajectory
from ik import stage
from ik.profile import pose_from_xyz_rpy
from ik.synthetic import clean_demo, inject

T_IMU_CAM = pose_from_xyz_rpy([0.01, -0.02, 0.005], [0.05, -0.03, 1.2])
T_CAM_TCP = pose_from_xyz_rpy([0.0, 0.06, 0.17], [0.0, 0.0, -1.5708])


def _session(home, panda, with_trajectory=True, cam_tcp=T_CAM_TCP):
    T_wb = panda.profile.T_world_base
    demo = inject(panda, clean_demo(panda, T_wb, seed=4, seconds=6.0), T_wb, "gripper_range", 2.0, 3.0)
    cam = CameraModel("pinhole-radtan", 640, 480, 400.0, 400.0, 320.0, 240.0)
    calib = RigCalibration("SN1", (CameraCalibration("cam0", cam, T_IMU_CAM),), T_cam_tcp=cam_tcp)
    w = SessionWriter(home.sessions, source={"kind": "test"})
    w.add_calibration("rig0", calib)
    g = w.add_table(StreamSpec("rig0.gripper", "gripper", "rig0", "gripper", rate_hz=50.0))
    tg = np.arange(demo.t_ns[0] - 10**8, demo.t_ns[-1] + 10**8, 20_000_000, dtype=np.int64)
    t_demo = demo.t_ns.astype(float)
    g.append_many(
        {
            "t_host_ns": tg,
            "t_device_ns": tg,
            "width_m": np.interp(tg.astype(float), t_demo, demo.gripper_m),
            "raw": np.zeros(len(tg)),
        }
    )
    path = w.close(episodes=[Episode(0, int(demo.t_ns[0]), int(demo.t_ns[-1]) + 1, "trigger")])
    s = Session(path)
    if with_trajectory:
        T_cam_tcp = cam_tcp if cam_tcp is not None else panda.profile.T_cam_tcp_default
        T_tcp_imu = np.linalg.inv(T_IMU_CAM @ T_cam_tcp @ panda.profile.T_rigtcp_tcp)  # robot TCP -> rig IMU
        n = len(demo.t_ns)
        traj = Trajectory(
            demo.t_ns,
            demo.T_world_tcp @ T_tcp_imu,
            np.full(n, TrackState.OK, np.uint8),
            np.ones(n, np.float32),
            body="imu",
            world_anchor="tag",
        )
        write_trajectory(trajectory_path(s, "rig0"), traj)
        commit_stage(s, "trajectory", 1, "sha256:test", {}, ["rig0.parquet"])
    return s, demo


def test_stage_writes_joints_flags_plot_and_is_resumable(home, panda):
    s, demo = _session(home, panda)
    rec = stage.run(s, "panda", home, progress=False)
    assert rec.stage == "retarget/panda"
    out = stage_dir(s, "retarget/panda")
    assert set(rec.outputs) == {"rig0.parquet", "rig0.png", "flags.json"}
    jt = read_joints(out / "rig0.parquet")
    assert jt.joint_names == panda.joint_names and np.array_equal(jt.t_ns, demo.t_ns)
    # The robot TCP follows the rig TCP built from the calibration chain.
    T = np.linalg.inv(panda.profile.T_world_base)[None] @ demo.T_world_tcp
    err = np.linalg.norm(panda.fk(jt.q)[:, :3, 3] - T[:, :3, 3], axis=1)
    assert np.median(err) < 2e-3 and err.max() < 0.02  # smoothing costs a little accuracy, never much
    assert np.median(np.abs(jt.gripper_m - demo.gripper_m)) < 1e-4  # interpolated from the 50 Hz stream
    flags = read_flags(out / "flags.json")
    assert [f.kind for f in flags] == ["embodiment.gripper_range"]
    assert (out / "rig0.png").read_bytes()[:4] == b"\x89PNG"
    again = stage.run(s, "panda", home, progress=False)
    assert again.created_realtime_ns == rec.created_realtime_ns  # up to date: not re-run
    assert read_stage(s, "retarget/panda").summary["rigs"]["rig0"]["flags"] == {"embodiment.gripper_range": 1}


def test_missing_cam_tcp_uses_profile_default(home, panda, caplog):
    s, demo = _session(home, panda, cam_tcp=None)
    stage.run(s, "panda", home, progress=False)
    jt = read_joints(stage_dir(s, "retarget/panda") / "rig0.parquet")
    T = np.linalg.inv(panda.profile.T_world_base)[None] @ demo.T_world_tcp
    assert np.median(np.linalg.norm(panda.fk(jt.q)[:, :3, 3] - T[:, :3, 3], axis=1)) < 2e-3
    assert "default_cam_to_tcp" in caplog.text


def test_stage_without_trajectory_is_a_clear_error(home, panda):
    s, _ = _session(home, panda, with_trajectory=False)
    with pytest.raises(StageError, match="no trajectory yet"):
        stage.run(s, "panda", home, progress=False)


@pytest.mark.slow
def test_place_base_finds_a_feasible_base(home, panda):
    s, demo = _session(home, panda)
    far = panda.profile.source.read_text().replace("base: {xyz: [-0.2, 0.0, 0.0]", "base: {xyz: [-1.4, 0.0, 0.0]")
    (home.robots / "farpanda.yaml").write_text(far.replace("name: panda", "name: farpanda"))
    rec = stage.run(s, "farpanda", home, progress=False)
    flags = read_flags(stage_dir(s, "retarget/farpanda") / "flags.json")
    assert any(f.kind == "embodiment.unreachable" for f in flags)
    rec = stage.run(s, "farpanda", home, place_base=True, progress=False)
    assert rec.summary["rigs"]["rig0"]["feasible_share"] == 1.0
    base_xy = np.asarray(rec.summary["rigs"]["rig0"]["T_world_base"])[:2, 3]
    assert np.linalg.norm(base_xy - demo.T_world_tcp[:, :2, 3].mean(axis=0)) < 0.9  # within the Panda's reach
    flags = read_flags(stage_dir(s, "retarget/farpanda") / "flags.json")
    assert not any(f.kind == "embodiment.unreachable" for f in flags)


def test_cli_retarget_and_robots(home, panda, capsys):
    s, _ = _session(home, panda)
    h = str(home.root)
    assert main(["--home", h, "retarget", s.id, "--robot", "panda"]) == 0
    out = capsys.readouterr().out
    assert "rig0:" in out and "embodiment.gripper_range" in out
    assert main(["--home", h, "robots", "list"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in ("panda", "ur5", "xarm7"))
    assert main(["--home", h, "robots", "show", "xarm7", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert len(info["joints"]) == 7 and info["gripper_m"] == [0.0, 0.086]
    assert main(["--home", h, "robots", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no robot profile named 'nope'" in err and "Traceback" not in err
    assert main(["--home", h, "retarget", s.id, "--robot", "nope"]) == 2
    assert main(["--home", h, "retarget", s.id, "--robot", "panda", "--place-episode", "7"]) == 2
    assert "no episode 7" in capsys.readouterr().err
    assert main(["--home", h, "retarget", s.id, "--robot", "panda", "--place-episode", "0", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["settings"]["place_episode"] == 0 and rec["summary"]["rigs"]["rig0"]["feasible_share"] == 1.0
