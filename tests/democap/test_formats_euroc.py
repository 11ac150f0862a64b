"""ASL pose CSVs: the quaternion order comes from the header, never from a guess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from democap.errors import ImportFormatError
from democap.formats.euroc import read_camera_folder, read_pose_csv


def test_pose_csv_quaternion_order_from_header(tmp_path: Path) -> None:
    q_wxyz = np.array([0.9, 0.1, -0.3, 0.2]) / np.linalg.norm([0.9, 0.1, -0.3, 0.2])
    w, x, y, z = q_wxyz
    euroc = tmp_path / "euroc.csv"
    head = "#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z []"
    euroc.write_text(f"{head}\n100,1,2,3,{w},{x},{y},{z}\n")
    yac = tmp_path / "yac.csv"
    yac.write_text(f"timestamp [ns],x,y,z,qx,qy,qz,qw\n100,1,2,3,{x},{y},{z},{w}\n")
    for path in (euroc, yac):
        gt = read_pose_csv(path)
        assert gt.t_ns.tolist() == [100] and np.allclose(gt.p_world_body, [[1, 2, 3]])
        assert np.allclose(gt.q_world_body_wxyz, [q_wxyz])
    bare = tmp_path / "bare.csv"
    bare.write_text("100,1,2,3,0,0,0,1\n")
    with pytest.raises(ImportFormatError, match="header"):
        read_pose_csv(bare)


def test_camera_folder_takes_the_shipped_suffix(tmp_path: Path) -> None:
    (tmp_path / "cam0" / "data").mkdir(parents=True)
    (tmp_path / "cam0" / "data.csv").write_text("timestamp [ns],filename\n5,a.png\n6,b.png\n")
    (tmp_path / "cam0" / "data" / "a.png").write_bytes(b"x")
    (tmp_path / "cam0" / "data" / "b.jpg").write_bytes(b"x")  # listed as .png, shipped as .jpg
    cam = read_camera_folder(tmp_path / "cam0")
    assert cam.t_ns.tolist() == [5, 6] and [f.name for f in cam.files] == ["a.png", "b.jpg"]
    (tmp_path / "cam0" / "data" / "b.jpg").unlink()
    with pytest.raises(ImportFormatError, match="1 images listed"):
        read_camera_folder(tmp_path / "cam0")
