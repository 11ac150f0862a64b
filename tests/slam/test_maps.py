"""Workspace maps on recorded virtual-rig sessions: build, save/load, relocalise, join, check.

One tabletop scene (seed 3): the map is built from a 'wipe' session, demos are 'pick_place'
sessions of the same scene; a session of another scene (seed 4: other clutter and walls, the
same table tags in the same places) and mirrored images are the wrong-scene cases.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from capture.session import Session
from capture.virtual import record_virtual
from democap import geometry
from democap.cli import main
from democap.home import Home
from democap.model import CameraModel, TrackState
from democap.progress import Progress
from slam import metrics
from slam.maps import MapError, list_maps, load_map, save_map
from slam.maps.relocalise import relocalise_session

SEED = 3


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    Progress.quiet = True
    return Home.resolve(tmp_path_factory.mktemp("maps") / "home")


@pytest.fixture(scope="module")
def built(home: Home) -> str:
    """The map 'ws', built through the CLI (which runs the trajectory stage first)."""
    s = record_virtual(home, seconds=10.0, seed=SEED, motion="wipe")
    assert main(["--home", str(home.root), "map", "build", s.id, "--name", "ws"]) == 0
    return s.id


@pytest.fixture(scope="module")
def demo(home: Home) -> Session:
    """Same scene, another task, with a 1 s link drop in the middle (a tracking loss)."""
    return record_virtual(home, seconds=10.0, seed=SEED, motion="pick_place", link_gaps_s=((4.5, 5.5),))


def _reference(session: Session, t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = session.columns("reference.pose")
    q = np.stack([c["qw"], c["qx"], c["qy"], c["qz"]], 1)  # reference.pose: qw,qx,qy,qz
    T_ref = geometry.se3(geometry.quat_wxyz_to_matrix(q), np.stack([c["x"], c["y"], c["z"]], 1))
    return metrics.match_reference(t_ns, c["t_host_ns"], T_ref)


def _errors(T_est: np.ndarray, T_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dp = np.linalg.norm(T_est[:, :3, 3] - T_ref[:, :3, 3], axis=1)
    dR = np.einsum("nji,njk->nik", T_est[:, :3, :3], T_ref[:, :3, :3])
    return dp, np.degrees(geometry.rotation_angle(dR))


def test_map_saved_and_loaded(home: Home, built: str) -> None:
    m = load_map(home, "ws")
    assert m.world_anchor == "tag" and m.source["session"] == built
    assert m.n_keyframes > 20 and m.n_landmarks > 1000
    # Landmarks lie in the tabletop scene (table near z = 0, walls within ~1.6 m).
    assert np.percentile(np.abs(m.points_world[:, 2]), 50) < 0.3
    man = json.loads((home.maps / "ws" / "manifest.json").read_text())
    assert man["version"] == 1 and man["poses"]["quaternion_order"] is None
    assert man["counts"]["landmarks"] == m.n_landmarks
    # Round trip: a copy under another name loads identically; the name is never silently replaced.
    copy = type(m)(**{**m.__dict__, "name": "ws-copy"})
    save_map(home, copy)
    again = load_map(home, "ws-copy")
    for k, v in m.arrays().items():
        np.testing.assert_array_equal(getattr(again, k), v)
    assert again.camera == m.camera and again.content_id() == m.content_id()
    with pytest.raises(MapError, match="refusing to overwrite"):
        save_map(home, copy)
    assert main(["--home", str(home.root), "map", "build", built, "--name", "ws"]) == 2
    assert {x["name"] for x in list_maps(home)} >= {"ws", "ws-copy"}
    # A corrupted arrays file is refused, naming the file.
    npz = home.maps / "ws-copy" / "map.npz"
    npz.write_bytes(npz.read_bytes()[:-10])
    with pytest.raises(MapError, match="map.npz"):
        load_map(home, "ws-copy")


def test_relocalises_another_session_of_the_scene(home: Home, built: str, demo: Session) -> None:
    m = load_map(home, "ws")
    r = relocalise_session(demo, "rig0", m, step=6)
    valid, T_ref = _reference(demo, r.t_ns)
    ok = r.ok & valid
    assert ok.sum() >= 0.5 * len(r.ok), f"only {ok.sum()} of {len(r.ok)} frames relocalised"
    dp, dr = _errors(r.T_map_imu[ok], T_ref[ok])
    assert np.median(dp) < 0.005 and dp.max() < 0.015, dp
    assert np.median(dr) < 0.5 and dr.max() < 1.5, dr
    assert np.all(r.inliers[ok] >= 40)


def test_wrong_scene_and_mirrored_images_do_not_relocalise(home: Home, built: str, demo: Session) -> None:
    m = load_map(home, "ws")
    mirrored = relocalise_session(demo, "rig0", m, step=10, transform=lambda img: cv2.flip(img, 1))
    assert len(mirrored.ok) >= 20 and not mirrored.ok.any()
    other = record_virtual(home, seconds=5.0, seed=SEED + 1, motion="pick_place", cameras="mono-pinhole")
    r = relocalise_session(other, "rig0", m, step=5)
    assert len(r.ok) >= 20 and not r.ok.any(), [x for x, ok in zip(r.reasons, r.ok, strict=True) if ok]


def test_stage_with_map_takes_its_world_and_joins_the_piece_after_a_loss(home: Home, built: str, demo: Session) -> None:
    """Tags off: without the map the world is the first pose and the piece after the link drop is LOST."""
    from slam import stage

    rec = stage.run(demo, {"tags": False, "map": "ws"}, method="vio")
    info = rec.summary["rig0"]
    assert info["map"]["world_from_map"] and info["world_anchor"] == "tag"
    assert info["map"]["joined_pieces"] >= 1
    from capture.artifacts import load_trajectory

    traj = load_trajectory(demo, "rig0")
    valid, T_ref = _reference(demo, traj.t_ns)
    reloc = valid & (traj.state == TrackState.RELOCALISED)
    ok = valid & (traj.state == TrackState.OK)
    assert reloc.sum() > 60 and ok.sum() > 60
    for sel in (ok, reloc):
        dp, dr = _errors(traj.T_world_body[sel], T_ref[sel])
        assert dp.max() < 0.02 and dr.max() < 2.0, (dp.max(), dr.max())
    # A rebuilt map changes the stage's inputs: it is stale again.
    assert not stage.is_stale(demo, "vio", {"tags": False, "map": "ws"})
    # `democap process` gives no map: the session stays in its map rather than silently leaving it.
    assert not stage.is_stale(demo, "vio", {"tags": False})
    assert stage.is_stale(demo, "vio", {"tags": False, "map": ""})
    m = load_map(home, "ws")
    save_map(home, type(m)(**{**m.__dict__, "points_world": m.points_world + 1e-4}), force=True)
    assert stage.is_stale(demo, "vio", {"tags": False, "map": "ws"})


def test_map_check_cli(home: Home, built: str, demo: Session, capsys: pytest.CaptureFixture[str]) -> None:
    plot = Path(home.root) / "check.png"
    rc = main(["--home", str(home.root), "map", "check", demo.id, "--map", "ws", "--step", "6", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert plot.exists() and plot.stat().st_size > 10_000
    assert "relocalise in map ws" in out
    # The wipe map does not cover everywhere the pick-and-place demo went: the verdict says where.
    if rc == 0:
        assert "relocalisation works across the workspace" in out
    else:
        assert "fails at table cells x" in out or "of frames relocalise" in out
    rc = main(["--home", str(home.root), "map", "check", demo.id, "--map", "nope"])
    assert rc == 2
    assert main(["--home", str(home.root), "map", "check", built, "--map", "ws", "--step", "6", "--json"]) == 0
    # The map's own session walks exactly where the map was built: it relocalises everywhere.
    res = json.loads(capsys.readouterr().out)
    assert res["works"] and res["share"] > 0.9 and res["verdict"] == "relocalisation works across the workspace"


def _synthetic_map(anchor: str = "tag") -> object:
    from slam.maps.store import Map

    cam = CameraModel("pinhole-radtan", 64, 48, 50.0, 50.0, 32.0, 24.0)
    z = np.zeros(0, np.int32)
    return Map(
        "syn", cam, anchor, 0 if anchor == "tag" else None, np.zeros(1, np.int64), np.zeros(1, np.int64),
        np.eye(4)[None], np.zeros((0, 3)), np.zeros((0, 32), np.uint8), z, z, np.zeros((0, 2), np.float32),
    )  # fmt: skip


def _walk(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.linspace(0, 1, n)
    T = np.repeat(np.eye(4)[None], n, 0)
    for i in range(n):
        T[i, :3, :3] = geometry.so3_exp([0.3 * t[i], 0.2 * np.sin(3 * t[i]), 0.5 * t[i]])
    T[:, :3, 3] = np.stack([0.5 * t, 0.2 * np.sin(4 * t), 0.3 + 0.05 * t], 1) + rng.normal(0, 1e-3, (n, 3))
    return T


def test_join_places_pieces_and_ignores_a_disagreeing_frame() -> None:
    """Two pieces in unrelated nav frames, no tag: both end in the map's world, the outlier does not count."""
    from slam.maps.join import join_through_map
    from slam.maps.relocalise import SessionRelocalisation

    rng = np.random.default_rng(5)
    n = 60
    T_map_imu = _walk(n, rng)
    T_nav0_map = geometry.se3(geometry.so3_exp([0, 0, 0.7]), [1.0, -2.0, 0.1])
    T_nav1_map = geometry.se3(geometry.so3_exp([0.05, 0, -1.2]), [-0.3, 0.4, 0.0])
    segment = np.r_[np.zeros(25), -np.ones(5), np.ones(30)].astype(np.int32)
    T_nav_imu = np.where((segment == 1)[:, None, None], T_nav1_map[None], T_nav0_map[None]) @ T_map_imu
    state = np.where(segment == 0, TrackState.OK, TrackState.LOST).astype(np.uint8)
    frames = np.arange(0, n, 2)
    T_reloc = T_map_imu[frames].copy()
    T_reloc[:, :3, 3] += rng.normal(0, 2e-3, (len(frames), 3))
    T_reloc[20, :3, 3] += 0.3  # one wrong relocalisation inside piece 1
    T_imu_cam = geometry.se3(geometry.so3_exp([0.1, 0, 0]), [0.01, 0, 0.02])
    reloc = SessionRelocalisation(
        frames, frames * 10, np.ones(len(frames), bool), T_reloc @ T_imu_cam, np.full(len(frames), 100),
        np.full(len(frames), 0.5), T_imu_cam, np.zeros(len(frames)),
    )  # fmt: skip
    quality = np.ones(n, np.float32)
    j = join_through_map(T_nav_imu, T_nav_imu, state, quality, segment, "first_pose", None, _synthetic_map(), reloc)
    assert j.info["world_from_map"] and j.world_anchor == "tag" and j.info["joined_pieces"] == 1
    assert np.all(j.state[segment == 0] == TrackState.OK)
    assert np.all(j.state[segment == 1] == TrackState.RELOCALISED)
    err = np.linalg.norm(j.T_world_imu[segment >= 0, :3, 3] - T_map_imu[segment >= 0, :3, 3], axis=1)
    assert err.max() < 0.005
    # The gap frames (segment -1) that relocalised take their own pose; the others stay LOST.
    gap = np.flatnonzero(segment == -1)
    tried = np.isin(gap, frames)
    assert np.all(j.state[gap[tried]] == TrackState.RELOCALISED) and np.all(j.state[gap[~tried]] == TrackState.LOST)
    # Nothing tracked at all: relocalised frames alone, in the map's world.
    lost = np.full(n, TrackState.LOST, np.uint8)
    j2 = join_through_map(T_nav_imu, T_nav_imu, lost, quality, None, "first_pose", None, _synthetic_map(), reloc)
    assert np.array_equal(np.flatnonzero(j2.state == TrackState.RELOCALISED), frames)
    assert j2.world_anchor == "tag"


def test_process_cli_tracks_in_a_map(home: Home, built: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`democap process ID --map NAME` puts a session in a map's world; a plain `process` keeps it there."""
    from capture.artifacts import read_stage
    from slam import stage

    root = str(home.root)
    assert main(["--home", root, "process", built, "--map", "ws"]) == 0
    assert "trajectory" in capsys.readouterr().out
    session = Session(home.sessions / built)
    rec = read_stage(session, stage.STAGE)
    assert rec is not None and rec.settings.get("map") == "ws" and "map" in rec.summary["rig0"]
    assert main(["--home", root, "process", built]) == 0
    assert "up to date" in capsys.readouterr().out.splitlines()[0]
    assert main(["--home", root, "process", built, "--map", "nope"]) != 0  # an unknown map is an error
