"""``democap calib ...`` end to end on real data and generated files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from democap.cli import main


@pytest.fixture
def left_folder(test_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "left"
    folder.mkdir()
    for p in sorted((test_data / "opencv_chessboard_stereo").glob("left*.jpg")):
        (folder / p.name).symlink_to(p)
    return folder


def test_intrinsics_json_example(left_folder: Path, home, capsys) -> None:
    rc = main(["calib", "intrinsics", str(left_folder), "--target", "chessboard", "--rows", "6", "--cols", "9",
               "--square", "0.025", "--fix-aspect", "--json"])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert {"fx", "fy", "cx", "cy", "model", "distortion", "rms"} <= set(out)
    assert out["fx"] == out["fy"] and abs(out["fx"] / 535.9 - 1) < 0.01 and out["rms"] <= 0.39
    assert out["model"] == "pinhole-radtan" and len(out["distortion"]) == 5


def test_intrinsics_save_plots_export_import(left_folder: Path, home, tmp_path: Path, capsys) -> None:
    plots = tmp_path / "plots"
    rc = main(["calib", "intrinsics", str(left_folder), "--target", "chessboard", "--rows", "6", "--cols", "9",
               "--square", "0.025", "--plots", str(plots), "--save", "--serial", "RIG-7", "--json"])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert (plots / "residuals.png").stat().st_size > 1000 and (plots / "coverage.png").stat().st_size > 1000
    stored = Path(out["path"])
    assert stored.parent == home.calibrations and stored.stem == out["calibration"].split(":")[1]
    from capture.calibrations import load_calibration

    rig = load_calibration(home, out["calibration"])
    assert rig.rig_serial == "RIG-7" and rig.camera("cam0").camera.fx == pytest.approx(out["fx"])
    for fmt, name in (("kalibr", "camchain.yaml"), ("opencv", "camera.yml")):
        assert main(["calib", "export", out["calibration"][7:19], "--format", fmt, "-o", str(tmp_path / name)]) == 0
        capsys.readouterr()
        assert main(["calib", "import", str(tmp_path / name), "--format", fmt, "--serial", "RIG-7", "--json"]) == 0
        back = load_calibration(home, json.loads(capsys.readouterr().out)["calibration"])
        assert back.camera("cam0").camera == rig.camera("cam0").camera


def test_target_pdf_is_true_scale(tmp_path: Path, home, capsys) -> None:
    pdf = tmp_path / "grid.pdf"
    assert main(["calib", "target", str(pdf), "--target", "aprilgrid", "--rows", "6", "--cols", "6",
                 "--tag-size", "0.088", "--dpi", "50", "--yaml", str(tmp_path / "grid.yaml")]) == 0  # fmt: skip
    box = re.search(rb"MediaBox \[ ?0 0 ([\d.]+) ([\d.]+) ?\]", pdf.read_bytes())
    assert box is not None
    width_m = float(box.group(1)) / 72 * 0.0254
    expected = 6 * 0.088 + 7 * 0.3 * 0.088 + 2 * 0.01  # tags, gaps, margins
    assert abs(width_m - expected) < 0.5e-3
    from calib.targets import AprilGrid, load_target

    assert load_target(tmp_path / "grid.yaml") == AprilGrid(6, 6, 0.088, 0.3)


def test_printed_aprilgrid_is_detected_with_its_geometry(tmp_path: Path) -> None:
    """Render -> detect -> PnP closes: corner ids, order and spacing of the printable grid are right."""
    import numpy as np

    from calib.intrinsics import reprojection_residuals, solve_pnp
    from calib.synthetic import render_aprilgrid_view
    from calib.targets import AprilGrid
    from democap import geometry
    from democap.model import CameraModel

    grid = AprilGrid(4, 5, 0.05, 0.3)
    cam = CameraModel("pinhole-radtan", 640, 480, 520.0, 520.0, 320.0, 240.0)
    T_cam_target = geometry.se3(geometry.so3_exp([2.9, 0.2, 0.1]), [-0.15, 0.1, 0.55])
    det = grid.detect(render_aprilgrid_view(grid, cam, T_cam_target))
    assert det is not None and len(det) == 4 * 20
    ok, T = solve_pnp(cam, det)
    assert ok and np.linalg.norm(T[:3, 3] - T_cam_target[:3, 3]) < 0.002
    assert np.sqrt(np.mean(np.sum(reprojection_residuals(cam, det, T) ** 2, 1))) < 0.3


def test_user_errors_are_one_line(left_folder: Path, home, capsys) -> None:
    assert main(["calib", "intrinsics", str(left_folder), "--target", "chessboard", "--rows", "6"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cols" in err


def test_handeye_on_the_mocap_folder(test_data: Path, home, capsys) -> None:
    root = test_data / "yac_d435i_mocap_aprilgrid"
    rc = main(["calib", "handeye", str(root), "--target-yaml", str(root / "aprilgrid_target.yaml"), "--dist", "4",
               "--save", "--json"])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] >= 25 and out["held_out_median_trans_err_mm"] <= 5.0
    assert out["held_out_median_rot_err_deg"] <= 1.0 and str(out["calibration"]).startswith("sha256:")
    # A folder without motion capture is refused with the file named.
    assert main(["calib", "handeye", str(root / "cam0"), "--target", "aprilgrid", "--rows", "6", "--cols", "6",
                 "--tag-size", "0.088"]) != 0  # fmt: skip
    assert "data.csv" in capsys.readouterr().err
