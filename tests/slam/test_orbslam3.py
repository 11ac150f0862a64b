"""ORB-SLAM3 reference of the SLAM benchmark: vocabulary file, settings file, one real run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from democap import geometry
from democap.model import CameraCalibration, CameraModel, ImuNoise, RigCalibration, TrackState
from slam import orbslam3


def _clustered_descriptors(rng: np.random.Generator, n_images: int, per_image: int) -> list[np.ndarray]:
    """ORB-like descriptors around 12 random centres, each bit flipped with probability 0.08."""
    centres = rng.integers(0, 2, (12, 256), dtype=np.uint8)
    out = []
    for i in range(n_images):
        which = rng.integers(0, 12 if i else 6, per_image)  # image 0 sees only half the centres
        bits = centres[which] ^ (rng.random((per_image, 256)) < 0.08).astype(np.uint8)
        out.append(np.packbits(bits, axis=1))
    return out


def test_vocabulary_text_file_round_trips_and_descends_to_the_training_leaves(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    per_image = _clustered_descriptors(rng, 4, 400)
    vocab, leaf_of = orbslam3.build_vocabulary(per_image, k=5, L=3, seed=1)
    path = tmp_path / "voc.txt"
    orbslam3.write_vocabulary_text(vocab, path)

    text = path.read_text()
    lines = text.split("\n")
    assert lines[0].split() == ["5", "3", "0", "0"]  # k L L1-norm TF-IDF, as ORBvoc.txt
    assert not text.endswith("\n")  # ORB-SLAM3's reader would add a spurious root child
    assert all(len(line.split()) == 2 + 32 + 1 for line in lines[1:])

    back = orbslam3.read_vocabulary_text(path)
    assert (back.k, back.L) == (5, 3)
    np.testing.assert_array_equal(back.parent, vocab.parent)
    np.testing.assert_array_equal(back.is_leaf, vocab.is_leaf)
    np.testing.assert_array_equal(back.descriptors, vocab.descriptors)
    np.testing.assert_allclose(back.weights, vocab.weights, rtol=1e-8)
    assert np.all(back.parent[1:] < np.arange(1, len(back.parent)))  # parents come first
    kids = back.children()
    assert all(len(kids[i]) == 0 for i in np.flatnonzero(back.is_leaf))
    assert all(len(kids[i]) > 0 for i in np.flatnonzero(~back.is_leaf))

    # DBoW2's descent (nearest child at every level) lands every training descriptor in its leaf.
    all_desc = np.concatenate(per_image)
    sample = rng.choice(len(all_desc), 60, replace=False)
    assert [back.leaf_of(all_desc[i]) for i in sample] == [int(leaf_of[i]) for i in sample]

    # idf: a word seen in every image weighs 0; one missing from image 0 weighs ln(4/3).
    images_of: dict[int, set[int]] = {}
    for img, desc in enumerate(per_image):
        for d in desc[:200]:
            images_of.setdefault(back.leaf_of(d), set()).add(img)
    for word, imgs in images_of.items():
        if len(imgs) == 4:
            assert back.weights[word] == pytest.approx(0.0, abs=1e-12)
    assert back.weights[~back.is_leaf].max() == 0.0
    assert back.weights[back.is_leaf].max() <= np.log(4) + 1e-9


def _rig(fisheye: bool) -> RigCalibration:
    if fisheye:
        cam = CameraModel("fisheye-equidistant", 640, 480, 230.4, 230.5, 322.06, 237.1, (0.015, -0.004, 0.0008, -1e-4))
        T_imu_cam = geometry.se3(geometry.so3_exp([0.0, 0.01, 0.02]), np.array([0.02, -0.01, 0.0]))
        cams: tuple[CameraCalibration, ...] = (CameraCalibration("cam0", cam, T_imu_cam),)
    else:
        c0 = CameraModel("pinhole-radtan", 752, 480, 458.0, 457.5, 367.2, 248.4, (-0.28, 0.074, 2e-4, 1.8e-5, 0.0))
        c1 = CameraModel("pinhole-radtan", 752, 480, 457.6, 456.1, 380.0, 255.2, (-0.284, 0.0745, -1e-4, -3.6e-5))
        T0 = geometry.se3(geometry.so3_exp([0.01, 0.0, np.pi / 2]), np.array([-0.02, -0.06, 0.01]))
        T1 = T0 @ geometry.se3(geometry.so3_exp([0.0, 0.003, 0.0]), np.array([0.11, 0.0, 0.001]))
        cams = (CameraCalibration("cam0", c0, T0), CameraCalibration("cam1", c1, T1))
    return RigCalibration("TEST", cams, ImuNoise(1.6968e-4, 1.9393e-5, 2.0e-3, 3.0e-3, 200.0))


def _read_settings(text: str, tmp_path: Path) -> cv2.FileStorage:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    assert fs.isOpened()
    return fs


def test_stereo_settings_carry_the_calibration(tmp_path: Path) -> None:
    rig = _rig(fisheye=False)
    fs = _read_settings(orbslam3.settings_yaml(rig, ["cam0", "cam1"], 20.0), tmp_path)
    assert fs.getNode("File.version").string() == "1.0"
    assert fs.getNode("Camera.type").string() == "PinHole"
    for i, c in enumerate(rig.cameras, start=1):
        m = c.camera
        for key, value in (("fx", m.fx), ("fy", m.fy), ("cx", m.cx), ("cy", m.cy)):
            node = fs.getNode(f"Camera{i}.{key}")
            assert node.isReal()  # ORB-SLAM3 aborts on "458" read as an integer
            assert node.real() == pytest.approx(value)
        for key, value in zip(("k1", "k2", "p1", "p2"), m.distortion, strict=False):
            assert fs.getNode(f"Camera{i}.{key}").real() == pytest.approx(value)
    assert fs.getNode("Camera1.k3").empty()  # zero k3 left out, as in ORB-SLAM3's EuRoC file
    assert (fs.getNode("Camera.width").real(), fs.getNode("Camera.height").real(), fs.getNode("Camera.fps").real()) == (
        752,
        480,
        20,
    )
    T0, T1 = rig.cameras[0].T_imu_cam, rig.cameras[1].T_imu_cam
    np.testing.assert_allclose(fs.getNode("IMU.T_b_c1").mat(), T0, atol=1e-6)
    np.testing.assert_allclose(fs.getNode("Stereo.T_c1_c2").mat(), geometry.se3_inverse(T0) @ T1, atol=1e-6)
    assert fs.getNode("IMU.NoiseGyro").real() == pytest.approx(1.6968e-4)
    assert fs.getNode("IMU.GyroWalk").real() == pytest.approx(1.9393e-5)
    assert fs.getNode("IMU.NoiseAcc").real() == pytest.approx(2.0e-3)
    assert fs.getNode("IMU.AccWalk").real() == pytest.approx(3.0e-3)
    assert fs.getNode("IMU.Frequency").real() == pytest.approx(200.0)
    assert fs.getNode("ORBextractor.nFeatures").real() == orbslam3.ORB_FEATURES


def test_fisheye_settings_are_kannala_brandt(tmp_path: Path) -> None:
    rig = _rig(fisheye=True)
    fs = _read_settings(orbslam3.settings_yaml(rig, ["cam0"], 30.0), tmp_path)
    assert fs.getNode("Camera.type").string() == "KannalaBrandt8"
    for key, value in zip(("k1", "k2", "k3", "k4"), rig.cameras[0].camera.distortion, strict=True):
        assert fs.getNode(f"Camera1.{key}").real() == pytest.approx(value)
    assert fs.getNode("Stereo.T_c1_c2").empty()
    np.testing.assert_allclose(fs.getNode("IMU.T_b_c1").mat(), rig.cameras[0].T_imu_cam, atol=1e-6)


def test_vocabulary_is_not_trained_on_evaluated_or_rendered_images(test_data: Path) -> None:
    files = orbslam3.training_images(test_data)
    names = [str(f.relative_to(test_data)) for f in files]
    assert len(files) > 40
    assert not any(n.startswith(("euroc_", "gopro_", "trajectory_eval")) for n in names)
    # The two chessboard photos the virtual table shows are out, with their stereo partners.
    from devices.sim.scene import load_photos

    pasted = {p.tobytes() for p in load_photos(test_data.resolve())}
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        assert img is not None and img[..., ::-1].tobytes() not in pasted
    boards = [n for n in names if n.startswith("opencv_chessboard_stereo/")]
    assert 0 < len(boards) < 26
    assert {n[-6:] for n in boards if "left" in n} == {n[-6:] for n in boards if "right" in n}


@pytest.mark.skipif(importlib.util.find_spec("pyorbslam3") is None, reason="pyorbslam3 (optional) not installed")
def test_orbslam3_tracks_a_short_virtual_stereo_session(test_data: Path, home, tmp_path: Path) -> None:
    from capture.virtual import record_virtual
    from slam import bench, metrics

    info = orbslam3.ensure_vocabulary(test_data, cache=tmp_path / "vocab")
    assert info.words > 1000 and info.path.is_file()
    # Wiping keeps the rig moving, which ORB-SLAM3's IMU initialisation needs (a pause resets its map).
    session = record_virtual(home, seconds=9.0, motion="wipe", cameras="stereo-pinhole", texture_root=str(test_data))
    traj, summary = orbslam3.estimate(session, "rig0", {"vocabulary": str(info.path)})
    n = session.streams["rig0.cam0"]["count"]
    assert len(traj) == n
    assert summary["mode"] == "stereo-inertial" and "init at" in summary["reason"]
    assert traj.world_anchor == "first_pose"  # its own world, never the table tag
    has_pose = traj.state != TrackState.LOST
    # Measured: 90 % of frames (ORB-SLAM3 waits ~1 s for enough acceleration), ATE 0.1-0.2 cm, 0.4-0.6 deg.
    assert has_pose.mean() > 0.6
    ref = bench._reference(session)
    assert ref is not None
    t_ref, T_ref = ref
    valid, T_ref_at = metrics.match_reference(traj.t_ns, t_ref, T_ref)
    sel = valid & has_pose
    err = metrics.ate(traj.T_world_body[sel], T_ref_at[sel], "4dof")
    assert np.isfinite(err.ate_rmse_m) and err.ate_rmse_m < 0.01
    assert err.rot_rmse_deg < 3.0


def test_tracking_account_names_init_losses_and_resets() -> None:
    t_s = np.arange(12) * 0.5
    # NOT_INITIALIZED=1, OK=2, RECENTLY_LOST=3, LOST=4 (ORB-SLAM3's eTrackingState)
    state = np.array([1, 1, 2, 2, 3, 2, 2, 1, 1, 2, 4, 4], np.int8)
    log = "Not enough motion for initializing. Reseting...\n"
    assert orbslam3._episodes(t_s, state, log) == (
        "init at 1.0 s, lost 2x, map reset 1x (1 for too little motion at IMU init)"
    )
    assert orbslam3._episodes(t_s, np.ones(12, np.int8)) == "never initialised"


def test_bench_says_why_orbslam3_did_not_run_without_its_vocabulary_photos() -> None:
    from slam import bench

    rows = bench.run_bench(["sim-features-stereo-pinhole"], 2.0, ["vio", "orbslam3"], None)
    assert [r.method for r in rows] == ["vio (back end only)"]
    status = bench.orbslam3_status()
    assert status.startswith("not run: ")
    if importlib.util.find_spec("pyorbslam3") is not None:
        assert "vocabulary" in status
