"""Intrinsics (radtan and fisheye) and fisheye stereo on seeded rendered AprilGrid views with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from calib.intrinsics import calibrate_intrinsics
from calib.stereo import calibrate_stereo
from calib.synthetic import render_aprilgrid_view
from calib.targets import AprilGrid
from democap import geometry
from democap.model import CameraModel

GRID = AprilGrid(6, 6, 0.06, 0.3)
FISHEYE = CameraModel("fisheye-equidistant", 640, 480, 230.4, 230.4, 322.1, 237.1, (0.015, -0.004, 0.0008, -0.0001))
RADTAN = CameraModel("pinhole-radtan", 640, 480, 384.0, 384.0, 321.1, 236.6, (-0.06, 0.02, 3e-4, -2e-4, 0.0))
T_RIGHT_LEFT = geometry.se3(geometry.so3_exp([0.01, -0.02, 0.005]), [-0.08, 0.001, 0.002])


def _poses(n: int, seed: int) -> list[np.ndarray]:
    """T_cam_target of boards ~0.45 m ahead, tilted and spread over the view."""
    rng = np.random.default_rng(seed)
    centre = np.array([0.2, 0.2, 0.0])
    out = []
    for _ in range(n):
        R = geometry.so3_exp(np.array([np.pi, 0.0, 0.0]) + rng.normal(0, 0.35, 3))
        at = np.array([rng.uniform(-0.25, 0.25), rng.uniform(-0.18, 0.18), rng.uniform(0.35, 0.55)])
        out.append(geometry.se3(R, at - R @ centre))
    return out


@pytest.mark.parametrize("truth", [RADTAN, FISHEYE], ids=["radtan", "fisheye"])
def test_intrinsics_recover_rendered_camera(truth: CameraModel) -> None:
    dets = [GRID.detect(render_aprilgrid_view(GRID, truth, T)) for T in _poses(16, seed=4)]
    res = calibrate_intrinsics(dets, (640, 480), truth.model, n_dist=4 if truth.model == "fisheye-equidistant" else 5)
    cam = res.camera
    assert cam.model == truth.model
    assert abs(cam.fx / truth.fx - 1) < 0.005 and abs(cam.fy / truth.fy - 1) < 0.005
    assert abs(cam.cx - truth.cx) < 1.5 and abs(cam.cy - truth.cy) < 1.5
    assert res.rms_px < 0.3
    # The fitted model maps rays like the true one across the image (distortion included).
    px = np.array([[20.0, 20.0], [620.0, 40.0], [320.0, 240.0], [600.0, 460.0], [50.0, 400.0]])
    ang = np.degrees(np.arccos(np.clip(np.sum(cam.unproject(px) * truth.unproject(px), 1), -1, 1)))
    assert ang.max() < 0.3


def test_fisheye_stereo_extrinsic() -> None:
    poses = _poses(12, seed=9)
    left = [GRID.detect(render_aprilgrid_view(GRID, FISHEYE, T)) for T in poses]
    right = [GRID.detect(render_aprilgrid_view(GRID, FISHEYE, T_RIGHT_LEFT @ T)) for T in poses]
    st = calibrate_stereo(left, right, FISHEYE, FISHEYE)
    assert np.linalg.norm(st.T_right_left[:3, 3] - T_RIGHT_LEFT[:3, 3]) < 0.002
    assert np.degrees(geometry.rotation_angle(st.T_right_left[:3, :3].T @ T_RIGHT_LEFT[:3, :3])) < 0.2
    assert st.epipolar_rms_px < 0.5
