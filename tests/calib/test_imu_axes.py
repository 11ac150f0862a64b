"""The GoPro sample's gyro axes checked against the rotation seen by optical flow."""

from __future__ import annotations

import av
import numpy as np

from calib.imu_axes import axis_correlation, flow_rotations
from democap import geometry
from democap.model import CameraModel
from devices.gopro import read_gopro


def test_flow_rotation_recovers_a_synthetic_pan():
    rng = np.random.default_rng(1)
    cam = CameraModel("pinhole-radtan", 320, 240, 250, 250, 160, 120)
    texture = (rng.random((600, 900)) * 255).astype(np.uint8)
    texture = np.asarray(__import__("cv2").GaussianBlur(texture, (5, 5), 1.5))
    frames = [texture[100:340, 100 + 3 * k : 420 + 3 * k] for k in range(6)]  # camera pans right 3 px/frame
    R, ok = flow_rotations(frames, cam)
    assert ok.all()
    w = geometry.so3_log(R)
    assert np.allclose(w[:, 1], 3 / 250, atol=1.5e-3) and np.abs(w[:, [0, 2]]).max() < 2e-3  # about camera y


def test_karma_pan_is_gyro_minus_z(test_data):
    path = test_data / "gopro_gpmf_karma" / "karma.mp4"
    tel = read_gopro(path)
    w, h = tel.video_size
    # HERO5 wide: roughly equidistant, about 120 degrees across; exact focal length does not matter here.
    cam = CameraModel("fisheye-equidistant", w, h, 410.0, 410.0, w / 2, h / 2, (0.0, 0.0, 0.0, 0.0))
    with av.open(str(path)) as c:
        R, ok = flow_rotations((f.to_ndarray(format="gray") for f in c.decode(video=0)), cam)
    gyro = tel.tracks["GYRO"]
    res = axis_correlation(tel.video_t_ns, R, ok, gyro.t_ns, gyro.values)
    # The stabilised drone camera mostly pans (about camera y); roll and tilt barely move.
    assert res.camera_rate_std[1] > 3 * max(res.camera_rate_std[0], res.camera_rate_std[2])
    assert res.confirmed() == {"y": (2, -1)}  # camera y (down) = -z of the importer's gyro axes
