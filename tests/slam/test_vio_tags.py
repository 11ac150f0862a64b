"""Tag detection + PnP: frame convention against a rendered marker, covariance sanity."""

from __future__ import annotations

import cv2
import numpy as np

from democap import geometry
from democap.model import CameraModel
from slam.vio.tags import detect_tags, tag_corners_tag, tag_from_corners


def _render_tag(camera: CameraModel, T_cam_tag: np.ndarray, size_m: float, tag_id: int = 7) -> np.ndarray:
    """A pinhole image of a tag36h11 marker at a known pose (white margin around the black square)."""
    cell = 40
    marker = cv2.aruco.generateImageMarker(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h11), tag_id, 8 * cell
    )
    pad = 2 * cell
    marker = cv2.copyMakeBorder(marker, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    n = marker.shape[0]
    m_per_px = size_m / (8 * cell)
    # Marker image pixel (u, v) -> tag frame (x right, y up), origin at the centre.
    src = np.array([[0, 0], [n, 0], [n, n], [0, n]], dtype=np.float64)
    xy = (src - n / 2) * m_per_px * np.array([1, -1])
    pts = geometry.transform_points(T_cam_tag, np.column_stack([xy, np.zeros(4)]))
    dst = camera.project(pts)
    H = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
    return cv2.warpPerspective(marker, H, (camera.width, camera.height), borderValue=128)


def test_detected_pose_matches_the_rendered_pose() -> None:
    camera = CameraModel("pinhole-radtan", 640, 480, 500.0, 500.0, 320.0, 240.0)
    # The tag faces the camera: its z axis (out of the face) points back towards the camera.
    R_cam_tag = geometry.so3_exp([np.pi, 0.0, 0.0]) @ geometry.so3_exp([0.4, -0.3, 0.6])
    T_cam_tag = geometry.se3(R_cam_tag, [0.03, -0.02, 0.45])
    img = _render_tag(camera, T_cam_tag, 0.08)
    obs = detect_tags(img, camera, 0.08)
    assert [o.tag_id for o in obs] == [7]
    T = obs[0].T_cam_tag
    assert np.linalg.norm(T[:3, 3] - T_cam_tag[:3, 3]) < 0.005
    assert np.degrees(geometry.rotation_angle(T[:3, :3].T @ T_cam_tag[:3, :3])) < 2.0
    assert obs[0].reprojection_px < 1.5


def test_covariance_grows_with_distance_on_fisheye() -> None:
    camera = CameraModel("fisheye-equidistant", 640, 480, 230.0, 230.0, 320.0, 240.0, (0.02, -0.01, 0.0, 0.0))
    sig = []
    for z in (0.3, 0.9):
        T_cam_tag = geometry.se3(geometry.so3_exp([np.pi + 0.2, 0.1, 0.0]), [0.05, 0.0, z])
        px = camera.project(geometry.transform_points(T_cam_tag, tag_corners_tag(0.1)))
        obs = tag_from_corners(1, px, camera, 0.1)
        assert obs is not None
        assert np.allclose(obs.T_cam_tag, T_cam_tag, atol=1e-6)
        sig.append(np.sqrt(np.diag(obs.cov_cam_tag)[3:]).max())
    assert sig[1] > 3 * sig[0]
