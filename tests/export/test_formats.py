"""Every export format on generated sessions: layout, values, review and policy, determinism."""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest

import export
from capture.artifacts import load_trajectory
from democap import geometry
from democap.errors import ExportError
from democap.model import Decision, ExportPolicy, PolicyRule
from export.episodes import FLAG_COLUMNS, Exclusion, session_episodes
from export.pipeline import assign_splits, parse_split

PERIOD = 33_333_333


def tree_hashes(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_episode_frames_interpolate_poses_at_corrected_times(session):
    (ep0, *_) = [e for e in session_episodes(session, ExportPolicy()) if not isinstance(e, Exclusion)]
    r = ep0.rigs[0]
    cal = session.calibration("rig0")
    traj = load_trajectory(session, "rig0")
    # Frame times are host minus the 8 ms latency: exactly the generated trajectory samples.
    assert np.array_equal(ep0.t_ns, ep0.t_host_ns - 8_000_000)
    expected = traj.at(ep0.t_ns) @ cal.cameras[0].T_imu_cam @ cal.T_cam_tcp
    assert np.allclose(r.T_world_tcp, expected)
    # Gripper width is interpolated from its 50 Hz samples to the frame times.
    assert np.all((r.gripper_m > 0.0) & (r.gripper_m < 0.09))
    action, _ = ep0.action()
    state, names = ep0.state()
    assert np.array_equal(action[:-1], state[1:]) and np.array_equal(action[-1], state[-1])
    assert names[:4] == ["x", "y", "z", "qw"]
    delta, _ = ep0.ee_delta()
    rel = geometry.se3_inverse(r.T_world_tcp[0]) @ r.T_world_tcp[1]
    assert np.allclose(delta[0, :3], rel[:3, 3], atol=1e-6)


def test_policy_and_review_decide_what_is_exported(session):
    policy = ExportPolicy(
        rules=(
            PolicyRule("observation.tracking_lost", "exclude_episode", "error"),
            PolicyRule("observation.blur", "mask", "warn"),
        )
    )
    items = session_episodes(session, policy)
    ex = [e for e in items if isinstance(e, Exclusion)]
    kept = [e for e in items if not isinstance(e, Exclusion)]
    assert [(e.episode, e.reason) for e in ex] == [(2, "observation.tracking_lost (error)")]
    assert kept[0].masked.sum() == 6  # blurred frames 10..15 kept but marked
    blur_col = FLAG_COLUMNS.index("observation.blur")
    assert kept[0].flags[:, blur_col].sum() == 6
    # Default policy trims lost tracking (frames 80..85): episode 2 (60..89) keeps its longest run 60..79.
    default = [e for e in session_episodes(session, export.pipeline.DEFAULT_POLICY) if not isinstance(e, Exclusion)]
    assert len(default[2]) == 20 and default[2].rigs[0].frame_numbers[-1] == 78  # frame 40 was dropped


def test_operator_trim_and_reject_are_respected(make_tracked, tmp_path):
    s = make_tracked(tmp_path / "s", episodes=2, n_frames=60)
    ep0, ep1 = s.episodes
    s.add_decision(Decision(0, "trim", 1, operator="op", t0_ns=ep0.t0_ns + 10 * PERIOD, t1_ns=ep0.t0_ns + 20 * PERIOD))
    s.add_decision(Decision(1, "reject", 2, operator="op", note="fumbled"))
    res = export.run([s], "act", tmp_path / "act")
    assert res.episodes == 1 and res.excluded[0].reason == "rejected by operator"
    with h5py.File(tmp_path / "act" / "episode_0.hdf5") as f:
        assert f["/observations/qpos"].shape[0] == 10
    ds = json.loads((tmp_path / "act" / "democap" / "datasheet.json").read_text())
    assert ds["excluded"][0]["reason"] == "rejected by operator"
    assert ds["sessions"][0]["operator"].startswith("op-") and ds["sessions"][0]["operator"] != "op-7f3a"


def test_lerobot_layout_and_columns(session, tmp_path):
    res = export.run([session], "lerobot", tmp_path / "ds", robot="panda", split={"val": 0.34})
    root = tmp_path / "ds"
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 30 and info["total_episodes"] == res.episodes
    assert info["features"]["observation.state"]["names"][-1] == "gripper_width_m"
    assert info["features"]["observation.state"]["shape"] == [8]  # 7 joints + gripper
    assert info["features"]["observation.images.rig0_cam0"]["info"]["video.codec"] == "h264"
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    eps = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert data.num_rows == eps[0]["length"]
    assert [e["dataset_from_index"] for e in eps] == [0] + [e["dataset_to_index"] for e in eps[:-1]]
    assert {
        "videos/observation.images.rig0_cam0/from_timestamp",
        "stats/action/mean",
        "tasks",
        "data/chunk_index",
        "meta/episodes/file_index",
    } <= set(eps[0])
    # Real capture times beside LeRobot's frame_index / fps; the dropped frame shows as a 2-period step.
    t = data.column("timestamp_host_ns").to_numpy()
    assert np.all(np.diff(t) > 0)
    step = np.diff(data.column("time_real_s").to_numpy())
    assert np.isclose(step.max(), 2 * PERIOD * 1e-9, atol=1e-6)
    stats = json.loads((root / "meta/stats.json").read_text())
    assert np.array(stats["observation.images.rig0_cam0"]["mean"]).shape == (3, 1, 1)
    assert stats["action"]["count"] == [res.frames]
    assert (root / "meta/democap/datasheet.md").exists() and (root / "DATASHEET.md").exists()
    assert len(list((root / "meta/democap/calibrations").glob("*.json"))) == 1
    assert info["splits"]["val"] == f"{res.episodes - 1}:{res.episodes}"


def test_exports_are_deterministic(session, tmp_path):
    export.run([session], "lerobot", tmp_path / "a", split={"val": 0.34})
    export.run([session], "lerobot", tmp_path / "b", split={"val": 0.34})
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")


def test_robomimic_layout(session, tmp_path):
    res = export.run([session], "robomimic", tmp_path / "rm", robot="panda", split={"val": 0.34})
    with h5py.File(tmp_path / "rm" / "demo.hdf5") as f:
        assert f["data"].attrs["total"] == res.frames
        env = json.loads(f["data"].attrs["env_args"])
        assert {"env_name", "type", "env_kwargs"} <= set(env)
        demos = sorted(f["data"].keys())
        assert demos == [f"demo_{i}" for i in range(res.episodes)]
        d = f["data/demo_0"]
        n = d.attrs["num_samples"]
        assert d["actions"].shape == (n, 8) and d["obs/robot0_eef_pos"].shape == (n, 3)
        assert d["obs/robot0_eef_quat"].shape == (n, 4) and d["obs/robot0_joint_pos"].shape == (n, 7)
        assert d["obs/rig0_cam0_image"].shape == (n, 240, 320, 3) and d["obs/rig0_cam0_image"].dtype == np.uint8
        q = d["obs/robot0_eef_quat"][:]
        assert np.allclose(np.linalg.norm(q, axis=1), 1)
        assert [x.decode() for x in f["mask/valid"][:]] and len(f["mask/train"][:]) == res.episodes - 1


def test_act_layout(session, tmp_path):
    export.run([session], "act", tmp_path / "act", robot="panda", image_size=(120, 160))
    with h5py.File(tmp_path / "act" / "episode_0.hdf5") as f:
        n = f["/action"].shape[0]
        assert f.attrs["sim"] == False  # noqa: E712 - h5py gives numpy bools
        assert f["/observations/qpos"].shape == (n, 8) and f["/observations/qvel"].shape == (n, 8)
        assert f["/observations/images/rig0_cam0"].shape == (n, 120, 160, 3)
        assert np.allclose(f["/action"][:-1], f["/observations/qpos"][1:])


def test_umi_zarr_layout(session, tmp_path):
    import zarr
    from zarr.storage import ZipStore

    res = export.run([session], "umi-zarr", tmp_path / "umi")
    store = ZipStore(str(tmp_path / "umi" / "dataset.zarr.zip"), mode="r")
    z = zarr.open_group(store, mode="r")
    n = res.frames
    expect = {
        "robot0_eef_pos": ((n, 3), np.float32),
        "robot0_eef_rot_axis_angle": ((n, 3), np.float32),
        "robot0_gripper_width": ((n, 1), np.float32),
        "robot0_demo_start_pose": ((n, 6), np.float64),
        "robot0_demo_end_pose": ((n, 6), np.float64),
        "camera0_rgb": ((n, 224, 224, 3), np.uint8),
    }
    for k, (shape, dtype) in expect.items():
        assert z["data"][k].shape == shape and z["data"][k].dtype == dtype, k
    ends = z["meta/episode_ends"][:]
    assert ends.dtype == np.int64 and ends[-1] == n
    start = z["data/robot0_demo_start_pose"][:]
    assert np.allclose(start[0, :3], z["data/robot0_eef_pos"][0], atol=1e-6)
    store.close()


def test_merge_sessions_split_and_where(make_tracked, tmp_path):
    a = make_tracked(tmp_path / "a", session_id="20260101-000000-aaaaaa", episodes=3, n_frames=45, seed=1)
    b = make_tracked(tmp_path / "b", session_id="20260101-000000-bbbbbb", episodes=3, n_frames=45, seed=2)
    res = export.run([a, b], "act", tmp_path / "all", split=parse_split("val=0.34"), where="episode != 1")
    assert res.episodes == 4 and res.splits == {"train": 3, "val": 1}
    assert sum("--where" in e.reason for e in res.excluded) == 2
    with pytest.raises(ExportError):
        export.run([a], "act", tmp_path / "bad", where="nonsense column = 1")
    assert assign_splits(["x:0", "x:1", "x:2", "x:3"], {"val": 0.25}) == assign_splits(
        ["x:0", "x:1", "x:2", "x:3"], {"val": 0.25}
    )


def test_append_refuses_mismatched_features(make_tracked, tmp_path):
    a = make_tracked(tmp_path / "a", session_id="20260101-000000-aaaaaa", episodes=1, n_frames=20)
    b = make_tracked(
        tmp_path / "b", session_id="20260101-000000-bbbbbb", episodes=1, n_frames=20, width=160, height=120
    )
    export.run([a], "lerobot", tmp_path / "ds")
    with pytest.raises(ExportError, match="already exists"):
        export.run([a], "lerobot", tmp_path / "ds")
    with pytest.raises(ExportError, match="features differ"):
        export.run([b], "lerobot", tmp_path / "ds", append=True)
