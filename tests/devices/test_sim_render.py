"""The virtual rig's camera renderer: geometry a detector can verify, realism, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from democap import geometry
from democap.model import CameraModel
from devices.sim import body
from devices.sim.render import Renderer
from devices.sim.scene import TAG_SIZE_M, Scene, table_tag_poses

PINHOLE = CameraModel("pinhole-radtan", 640, 480, 384.0, 384.0, 322.0, 236.6, (-0.06, 0.02, 3e-4, -2e-4, 0.0))
FISHEYE = CameraModel("fisheye-equidistant", 640, 480, 230.0, 230.0, 322.0, 237.0, (0.015, -0.004, 0.0008, -0.0001))


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene.tabletop(seed=3, photos=False)


def _detector(dictionary: int) -> cv2.aruco.ArucoDetector:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_APRILTAG
    return cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(dictionary), params)


def _pnp(camera: CameraModel, corners: np.ndarray, size: float) -> np.ndarray:
    """T_cam_marker from 4 detected corners (OpenCV order), via normalised coordinates."""
    px = corners.reshape(-1, 1, 2).astype(np.float64)
    if camera.model == "fisheye-equidistant":
        und = cv2.fisheye.undistortPoints(px, camera.K, camera.D)
    else:
        und = cv2.undistortPoints(px, camera.K, camera.D)
    h = size / 2
    obj = np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]])
    ok, rvec, tvec = cv2.solvePnP(obj, und.reshape(-1, 2), np.eye(3), None, flags=cv2.SOLVEPNP_IPPE_SQUARE)
    assert ok
    return geometry.se3(cv2.Rodrigues(rvec)[0], tvec.ravel())


def _look_at_tag(tag_id: int, dist: float, yaw_deg: float, pitch_deg: float) -> np.ndarray:
    R = body.camera_look_rotation(np.radians(yaw_deg), np.radians(pitch_deg), 0.1)[0]
    return geometry.se3(R, table_tag_poses()[tag_id][:3, 3] - R[:, 2] * dist)


@pytest.mark.parametrize("camera", [PINHOLE, FISHEYE], ids=["pinhole", "fisheye"])
def test_tags_are_detected_at_their_known_poses(scene, camera):
    renderer = Renderer(scene, camera, noise=None)
    detector = _detector(cv2.aruco.DICT_APRILTAG_36h11)
    checked = 0
    for tag_id, (dist, yaw, pitch) in zip(
        (0, 3, 4, 6), [(0.3, 0, 60), (0.35, 20, 50), (0.28, -15, 70), (0.4, 10, 55)], strict=True
    ):
        T_world_cam = _look_at_tag(tag_id, dist, yaw, pitch)
        image = renderer.render(T_world_cam).image
        corners, ids, _ = detector.detectMarkers(image)
        assert ids is not None and tag_id in ids.ravel()
        for c, i in zip(corners, ids.ravel(), strict=True):
            T_cam_tag = _pnp(camera, c, TAG_SIZE_M)
            truth = geometry.se3_inverse(T_world_cam) @ scene.tags[int(i)]
            p = truth[:3, 3]
            # Far or strongly distorted tags (a fisheye bends their edges, aruco fits straight lines):
            # detector bias, not renderer geometry.
            max_off_axis = 30 if camera.model == "fisheye-equidistant" else 45
            if np.linalg.norm(p) > 0.45 or np.degrees(np.arccos(p[2] / np.linalg.norm(p))) > max_off_axis:
                continue
            assert np.linalg.norm(T_cam_tag[:3, 3] - truth[:3, 3]) < 0.004
            assert geometry.rotation_angle(T_cam_tag[:3, :3].T @ truth[:3, :3]) < np.radians(1.0)
            checked += 1
    assert checked >= 3


def test_finger_markers_sit_where_the_width_puts_them(scene):
    renderer = Renderer(scene, PINHOLE, noise=None)
    detector = _detector(cv2.aruco.DICT_4X4_50)
    T_world_cam = _look_at_tag(7, 0.35, 0, 55)
    spread = []
    for width in (0.02, 0.08):
        image = renderer.render(T_world_cam, gripper_width_m=width).image
        corners, ids, _ = detector.detectMarkers(image)
        assert ids is not None and set(ids.ravel()) == set(body.FINGER_MARKER_IDS)
        truth = body.T_cam0_finger_marker(width)
        for c, i in zip(corners, ids.ravel(), strict=True):
            T_cam_marker = _pnp(PINHOLE, c, body.FINGER_MARKER_SIZE_M)
            assert np.linalg.norm(T_cam_marker[:3, 3] - truth[int(i)][:3, 3]) < 0.003
        centres = {int(i): c.reshape(4, 2).mean(0) for c, i in zip(corners, ids.ravel(), strict=True)}
        spread.append(centres[1][0] - centres[0][0])
    assert spread[1] > spread[0] + 50  # wider grip, markers further apart in the image


def test_same_inputs_same_image_and_noise_is_seeded(scene):
    T = _look_at_tag(1, 0.4, 5, 50)
    a = Renderer(scene, PINHOLE).render(T, gripper_width_m=0.05, noise_seed=11).image
    b = Renderer(Scene.tabletop(seed=3, photos=False), PINHOLE).render(T, gripper_width_m=0.05, noise_seed=11).image
    c = Renderer(scene, PINHOLE).render(T, gripper_width_m=0.05, noise_seed=12).image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0.5 < np.abs(a.astype(float) - c.astype(float)).std() < 6  # noise of a few grey levels
    other = Renderer(Scene.tabletop(seed=4, photos=False), PINHOLE).render(T, noise_seed=11).image
    assert np.abs(a.astype(float) - other.astype(float)).mean() > 10  # another seed, another table


def _sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(img.astype(np.float32), cv2.CV_32F).var())


def test_motion_blur_exposure_and_brightness(scene):
    renderer = Renderer(scene, PINHOLE, noise=None, fingers=False)
    T0 = _look_at_tag(2, 0.4, 0, 55)
    spin = np.array([0.0, 2.5, 0.0])  # rad/s about the camera's y axis: a quick pan

    def pose_at(dt):
        return np.stack([T0 @ geometry.se3(geometry.so3_exp(spin * d), np.zeros(3)) for d in np.atleast_1d(dt)])

    sharp = renderer.render(pose_at, exposure_s=0.0)
    blurred = renderer.render(pose_at, exposure_s=0.015)
    assert blurred.blur_px > 5
    assert _sharpness(blurred.image) < 0.6 * _sharpness(sharp.image)
    dark = renderer.render(T0, brightness=0.5).image.astype(float)
    assert dark.mean() == pytest.approx(0.5 * sharp.image.astype(float).mean(), rel=0.05)
    bright = renderer.render(T0, brightness=4.0).image
    assert np.mean(bright == 255) > 0.3  # overexposed: clipped


def test_depth_matches_the_table_plane(scene):
    renderer = Renderer(scene, PINHOLE, noise=None, fingers=False)
    T_world_cam = _look_at_tag(7, 0.4, 0, 60)
    frame = renderer.render(T_world_cam, depth=True)
    assert frame.depth_mm is not None and frame.depth_mm.dtype == np.uint16
    # The pixel at a tag's centre sees the table: its depth is the tag centre's z in the camera.
    centre_cam = geometry.transform_points(geometry.se3_inverse(T_world_cam), scene.tags[7][:3, 3][None])[0]
    u, v = PINHOLE.project(centre_cam[None])[0]
    assert frame.depth_mm[int(round(v)), int(round(u))] == pytest.approx(centre_cam[2] * 1000, abs=3)


def test_rolling_shutter_exposes_rows_later(scene):
    rs = CameraModel(**{**PINHOLE.to_dict(), "distortion": PINHOLE.distortion, "readout_s": 0.03})
    T0 = _look_at_tag(2, 0.4, 0, 55)
    v = np.array([0.6, 0.0, 0.0])  # m/s sideways in the camera frame

    def pose_at(dt):
        return np.stack([T0 @ geometry.se3(np.eye(3), v * d) for d in np.atleast_1d(dt)])

    rolling = Renderer(scene, rs, noise=None, fingers=False).render(pose_at).image.astype(float)
    glob = Renderer(scene, PINHOLE, noise=None, fingers=False)
    start = glob.render(pose_at(0.0)[0]).image.astype(float)
    end = glob.render(pose_at(0.03)[0]).image.astype(float)
    top, bottom = slice(0, 40), slice(440, 480)
    assert np.abs(rolling[top] - start[top]).mean() < np.abs(rolling[top] - end[top]).mean()
    assert np.abs(rolling[bottom] - end[bottom]).mean() < np.abs(rolling[bottom] - start[bottom]).mean()


def test_photographs_from_shared_data_are_used(test_data):
    with_photos = Scene.tabletop(seed=1, texture_root=test_data)
    without = Scene.tabletop(seed=1, texture_root=test_data, photos=False)
    assert with_photos.photos_used > 5 and without.photos_used == 0
    T = _look_at_tag(1, 0.5, 0, 45)
    a = Renderer(with_photos, PINHOLE, noise=None).render(T).image
    b = Renderer(without, PINHOLE, noise=None).render(T).image
    assert not np.array_equal(a, b)
