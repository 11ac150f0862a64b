"""Front end on generated images: KLT follows a rotating view; features on the rig itself are dropped."""

from __future__ import annotations

import cv2
import numpy as np

from democap import geometry
from democap.model import CameraModel
from slam.vio.frontend import Frontend, FrontendSettings


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = cv2.GaussianBlur(rng.integers(0, 255, (h // 8, w // 8)).astype(np.uint8), (3, 3), 0)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(300):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, c, int(rng.integers(3, 15)), int(rng.integers(0, 255)), -1)
    return img


def test_tracks_follow_rotation_and_rig_parts_are_masked() -> None:
    rng = np.random.default_rng(11)
    cam = CameraModel("pinhole-radtan", 640, 480, 400.0, 400.0, 320.0, 240.0)
    K = cam.K
    world = _texture(rng, 1200, 1600)  # a far wall, seen through pure rotations
    K_world = np.array([[400.0, 0, 800], [0, 400.0, 600], [0, 0, 1]])
    finger = _texture(np.random.default_rng(2), 120, 90)  # a rig part: fixed in the image
    front = Frontend(cam, FrontendSettings(tags=False, max_features=150))
    R_prev = np.eye(3)
    for i in range(40):
        R_cam_world = geometry.so3_exp([0.02 * np.sin(0.3 * i), 0.15 * np.sin(0.1 * i), 0.004 * i])
        H = K @ R_cam_world @ np.linalg.inv(K_world)
        img = cv2.warpPerspective(world, H, (640, 480))
        img[360:480, 280:370] = finger
        obs = front.process(i * 33_000_000, img, None, R_cam_world @ R_prev.T if i else None)
        R_prev = R_cam_world
        # Every tracked feature outside the finger is where the rotation puts its world point.
        px = cam.project(np.column_stack([obs.xy_cam0, np.ones(len(obs.xy_cam0))]))
        on_finger = (px[:, 0] > 275) & (px[:, 0] < 375) & (px[:, 1] > 355)
        if i > 0 and len(px):
            rays_world = (np.column_stack([obs.xy_cam0, np.ones(len(px))])) @ R_cam_world  # R^T x
            world_px = rays_world @ K_world.T
            world_px = world_px[:, :2] / world_px[:, 2:3]
            # Same track id => same world pixel: compare with where it was first seen.
            if i == 1:
                first = dict(zip(obs.track_ids.tolist(), world_px.tolist(), strict=True))
            else:
                drift = [
                    np.linalg.norm(np.subtract(first[t], w))
                    for t, w, f in zip(obs.track_ids.tolist(), world_px.tolist(), on_finger, strict=True)
                    if t in first and not f
                ]
                # Translation-only KLT drifts under in-plane rotation (about 0.04 px per frame at 0.01 rad/frame).
                assert np.median(drift) < 1.0
                assert np.max(drift) < 4.0
    assert obs.stats["rig_fixed"] > 0
    assert not np.any(on_finger), "features on the rig part must end up masked"
    assert len(obs.track_ids) > 80
