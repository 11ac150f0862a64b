"""Importers on real data: the EuRoC micro clip, and a TUM RGB-D folder built from real ground truth."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from capture.importers.euroc import import_euroc
from capture.importers.tum import import_tum_rgbd
from democap import geometry
from democap.errors import ImportFormatError
from democap.formats.tum import read_tum


def test_euroc_import_counts_ranges_and_calibration(test_data, home):
    s = import_euroc(test_data / "euroc_v1_01_easy_micro", home)
    st = s.streams
    assert st["rig0.cam0"]["count"] == 95 and st["rig0.cam1"]["count"] == 95
    assert st["rig0.imu"]["count"] == 2348 and st["reference.pose"]["count"] == 999
    assert st["rig0.cam0"]["t0_ns"] == 1403715273262142976 and st["rig0.cam0"]["t1_ns"] == 1403715277962142976
    assert st["reference.pose"]["t0_ns"] == 1403715274302142976
    img = cv2.imread(
        str(test_data / "euroc_v1_01_easy_micro/mav0/cam1/data/1403715273262142976.png"), cv2.IMREAD_GRAYSCALE
    )
    assert np.array_equal(s.frame("rig0.cam1", 0), img)  # lossless
    calib = s.calibration("rig0")
    cam0, cam1 = calib.camera("cam0"), calib.camera("cam1")
    assert cam0.camera.fx == pytest.approx(458.654) and cam1.camera.cx == pytest.approx(379.999)
    baseline = np.linalg.norm((geometry.se3_inverse(cam0.T_imu_cam) @ cam1.T_imu_cam)[:3, 3])
    assert baseline == pytest.approx(0.110, abs=0.002)
    assert calib.imu is not None and calib.imu.gyro_noise_density == pytest.approx(1.6968e-4)
    gt = s.columns("reference.pose")
    assert gt["qw"][0] == pytest.approx(0.060514)  # w,x,y,z kept as named columns
    assert s.verify() == []


def test_euroc_wrong_folder_is_a_clear_error(tmp_path, home):
    (tmp_path / "mav0" / "cam0").mkdir(parents=True)
    with pytest.raises(ImportFormatError, match="no data.csv"):
        import_euroc(tmp_path, home)
    with pytest.raises(ImportFormatError, match="not an EuRoC"):
        import_euroc(tmp_path / "mav0" / "cam0", home)


def make_tum_folder(root, gt_file, n=20):
    """A TUM RGB-D layout: synthetic images, real ground truth, a still accelerometer."""
    gt_lines = [ln for ln in gt_file.read_text().splitlines() if ln and not ln.startswith("#")]
    t0 = float(gt_lines[0].split()[0])
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rng = np.random.default_rng(3)
    rgb, depth, acc = ["# color images", "# timestamp filename"], ["# depth"], ["# accelerometer"]
    for i in range(n):
        t = f"{t0 + 0.1 + i / 30:.6f}"
        cv2.imwrite(str(root / "rgb" / f"{t}.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        cv2.imwrite(str(root / "depth" / f"{t}.png"), np.full((48, 64), 5000 + i, np.uint16))
        rgb.append(f"{t} rgb/{t}.png")
        depth.append(f"{t} depth/{t}.png")
        acc.append(f"{t} 0.0 -9.81 0.1")
    (root / "rgb.txt").write_text("\n".join(rgb) + "\n")
    (root / "depth.txt").write_text("\n".join(depth) + "\n")
    (root / "accelerometer.txt").write_text("\n".join(acc) + "\n")
    shutil.copy(gt_file, root / "groundtruth.txt")


def test_tum_rgbd_import(test_data, home, tmp_path):
    gt_file = test_data / "trajectory_eval_tum_rgbd" / "freiburg1_xyz-groundtruth.txt"
    folder = tmp_path / "rgbd_dataset_freiburg1_xyz"
    make_tum_folder(folder, gt_file)
    s = import_tum_rgbd(folder, home)
    assert s.streams["rig0.cam0"]["count"] == 20 and s.streams["rig0.depth0"]["count"] == 20
    assert s.streams["rig0.imu"]["count"] == 20
    gt = read_tum(gt_file)
    assert s.streams["reference.pose"]["count"] == len(gt)
    cam = s.calibration().camera("cam0").camera
    assert (cam.width, cam.height) == (64, 48)  # a resized copy: freiburg1 intrinsics scaled with it
    assert cam.fx == pytest.approx(517.3 * 0.1) and cam.cx == pytest.approx((318.6 + 0.5) * 0.1 - 0.5)
    assert int(s.frame("rig0.depth0", 3)[0, 0]) == 5003  # 16-bit depth kept exactly
    c = s.columns("reference.pose")
    R = geometry.quat_wxyz_to_matrix(np.stack([c["qw"], c["qx"], c["qy"], c["qz"]], 1))
    assert np.allclose(R, geometry.quat_xyzw_to_matrix(gt.q_world_body_xyzw), atol=1e-12)
    assert c["t_host_ns"][0] == gt.t_ns[0]


def test_tum_missing_image_is_named(test_data, home, tmp_path):
    folder = tmp_path / "tum"
    make_tum_folder(folder, test_data / "trajectory_eval_tum_rgbd" / "freiburg1_xyz-groundtruth.txt", n=3)
    victim = sorted((folder / "rgb").iterdir())[1]
    victim.unlink()
    with pytest.raises(ImportFormatError, match=victim.name):
        import_tum_rgbd(folder, home)


def test_untrackable_session_says_why_instead_of_failing_silently(test_data, home, tmp_path):
    """Frames of unrelated noise and a still accelerometer without gyro: no pose, and the reason."""
    from capture.artifacts import load_trajectory
    from democap.model import TrackState
    from slam import stage

    folder = tmp_path / "rgbd_dataset_freiburg1_xyz"
    make_tum_folder(folder, test_data / "trajectory_eval_tum_rgbd" / "freiburg1_xyz-groundtruth.txt", n=12)
    s = import_tum_rgbd(folder, home)
    rec = stage.run(s)
    reason = rec.summary["rig0"]["reason"]
    assert "texture" in reason
    assert np.all(load_trajectory(s).state == TrackState.LOST)  # nothing claimed 'ok'
