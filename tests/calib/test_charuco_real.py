"""ChArUco on a real photo: the OpenCV tutorial board, with the intrinsics of the camera that took it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from calib.intrinsics import solve_pnp
from calib.targets import Charuco
from democap.formats.opencv_yaml import read_opencv_camera


def test_charuco_corners_fit_the_board_geometry(test_data: Path) -> None:
    root = test_data / "opencv_aruco_charuco_photos"
    img = cv2.imread(str(root / "choriginal.jpg"), cv2.IMREAD_GRAYSCALE)
    det = Charuco(5, 7, 0.04, 0.02, "DICT_6X6_250").detect(img)
    assert det is not None and len(det.ids) == 24  # every inner corner of the 5x7 board
    cam = read_opencv_camera(root / "tutorial_camera_charuco.yml").camera
    ok, T_cam_board = solve_pnp(cam, det)
    assert ok
    p = det.points_target @ T_cam_board[:3, :3].T + T_cam_board[:3, 3]
    rms = float(np.sqrt(np.mean(np.sum((cam.project(p) - det.corners_px) ** 2, axis=1))))
    # Measured 0.22 px: the corner ids and the board's layout agree with the photo to a fraction of a pixel.
    assert rms < 0.5
    assert 0.2 < np.linalg.norm(T_cam_board[:3, 3]) < 1.5  # a hand-held board in front of a webcam
    # The board described the other way round (7x5) matches no corner ids: refused, not mis-fitted.
    assert Charuco(7, 5, 0.04, 0.02, "DICT_6X6_250").detect(img) is None
