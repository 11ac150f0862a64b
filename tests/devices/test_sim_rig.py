"""The virtual rig as a RigSource: arrival order, rates, clocks, faults, ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from democap import geometry
from democap.model import RigCalibration, TimeCorrections, corrected_times
from devices.base import CameraFrame, ClockExchange, GripperSample, ImuBatch, LinkGap, RigEvent
from devices.sim.rig import SimRig, SimRigConfig, camera_setup
from devices.sim.scene import TAG_SIZE_M

SMALL = dict(width=160, height=120, photos=False, host_start_ns=5_000_000_000_000)


def _collect(rig: SimRig) -> list:
    return list(rig.source().samples())


def _arrival(s) -> int:
    if isinstance(s, ImuBatch):
        return int(s.t_host_ns[-1])
    if isinstance(s, ClockExchange):
        return s.t_host_recv_ns
    if isinstance(s, LinkGap):
        return s.t1_ns
    return s.t_host_ns


@pytest.fixture(scope="module")
def stereo_samples():
    rig = SimRig(SimRigConfig(seconds=6.0, seed=2, motion="pick_place", fps=15.0, **SMALL))
    return rig, _collect(rig)


def test_samples_arrive_in_order_at_their_rates(stereo_samples):
    rig, samples = stereo_samples
    arrivals = [_arrival(s) for s in samples]
    assert arrivals == sorted(arrivals)
    imu = [s for s in samples if isinstance(s, ImuBatch)]
    n_imu = sum(len(b.t_host_ns) for b in imu)
    assert n_imu == pytest.approx(6.0 * 200, abs=3)
    t_imu = np.concatenate([b.t_device_ns for b in imu])
    assert np.all(np.diff(t_imu) > 0)
    assert np.median(np.diff(t_imu)) == pytest.approx(5e6, abs=1)  # the IMU ticks on the device crystal...
    true_period = np.median(np.diff(rig.ground_truth().t_host_ns))
    assert true_period == pytest.approx(5e6 * (1 - 20e-6), abs=2)  # ...which runs 20 ppm fast
    frames = [s for s in samples if isinstance(s, CameraFrame)]
    cam0 = [f for f in frames if f.sensor == "cam0"]
    assert {f.sensor for f in frames} == {"cam0", "cam1"} and len(cam0) == len(frames) // 2
    assert len(cam0) == pytest.approx(6.0 * 15, abs=2)
    assert cam0[0].image.shape == (120, 160) and cam0[0].image.dtype == np.uint8
    assert all(2e6 < f.exposure_ns < 2.1e7 for f in cam0)
    grip = [s for s in samples if isinstance(s, GripperSample)]
    assert len(grip) == pytest.approx(6.0 * 30, abs=2)
    widths = np.array([g.width_m for g in grip])
    assert widths.min() < 0.045 and widths.max() > 0.075  # it grasped and released
    events = [s for s in samples if isinstance(s, RigEvent)]
    assert [e.value.split(":")[0] for e in events] == ["start", "stop"]
    assert events[0].value == "start:pick_place" and events[0].kind == "episode"
    desc = rig.describe()
    assert [c.sensor for c in desc.cameras] == ["cam0", "cam1"] and desc.imu_rate_hz == 200.0


def test_same_config_same_samples(stereo_samples):
    rig, samples = stereo_samples
    again = _collect(SimRig(rig.config))
    assert len(again) == len(samples)
    for a, b in zip(samples, again, strict=True):
        assert type(a) is type(b) and _arrival(a) == _arrival(b)
        if isinstance(a, ImuBatch):
            assert np.array_equal(a.gyro, b.gyro) and np.array_equal(a.accel, b.accel)
        if isinstance(a, CameraFrame):
            assert np.array_equal(a.image, b.image)


def test_device_stamps_map_to_ground_truth_times(stereo_samples):
    rig, samples = stereo_samples
    gt = rig.ground_truth()
    imu = [s for s in samples if isinstance(s, ImuBatch)]
    t_dev = np.concatenate([b.t_device_ns for b in imu])
    t_host = np.concatenate([b.t_host_ns for b in imu])
    mapped = corrected_times(t_host, t_dev, TimeCorrections(clock=gt.clock_mapping))
    assert np.abs(mapped - gt.t_host_ns[: len(mapped)]).max() <= 2
    assert np.all(t_host > mapped)  # arrival after the sample: transport latency
    cam0 = [s for s in samples if isinstance(s, CameraFrame) and s.sensor == "cam0"]
    stamps = np.array([f.t_device_ns for f in cam0])
    cal = rig.calibration().camera("cam0")
    t_cam = corrected_times(
        np.zeros_like(stamps), stamps, TimeCorrections(clock=gt.clock_mapping, offset_ns=cal.time_offset_ns)
    )
    assert np.abs(t_cam - gt.frame_t_host_ns[: len(cam0)]).max() <= 2
    ex = [s for s in samples if isinstance(s, ClockExchange)]
    assert len(ex) >= 10
    # NTP estimate of the offset from the exchanges agrees with the true mapping within the delay asymmetry.
    e = ex[3]
    offset = ((e.t_device_rx_ns - e.t_host_send_ns) + (e.t_device_tx_ns - e.t_host_recv_ns)) / 2
    true = gt.clock.device_ns((e.t_host_send_ns - rig.host.start_ns) * 1e-9)[0] - e.t_host_send_ns
    assert abs(offset - true) < 1e6


def test_ground_truth_and_calibration(stereo_samples):
    rig, _ = stereo_samples
    gt = rig.ground_truth()
    traj = gt.trajectory()
    assert len(traj) == len(gt.t_s) and traj.world_anchor == "tag"
    cal = rig.calibration()
    back = RigCalibration.from_dict(cal.to_dict())
    assert back.hash == cal.hash
    T01 = geometry.se3_inverse(cal.camera("cam0").T_imu_cam) @ cal.camera("cam1").T_imu_cam
    assert np.linalg.norm(T01[:3, 3]) == pytest.approx(0.064, abs=0.002)
    assert gt.episodes and gt.episodes[0][2] == "pick_place"
    assert gt.tag_size_m == TAG_SIZE_M and len(gt.tags) == 8


def test_tags_are_in_view_most_of_the_time():
    """Default rig: a whole table tag projects inside cam0 on most frames (checked geometrically)."""
    rig = SimRig(SimRigConfig(seconds=30.0, seed=5, photos=False, host_start_ns=0))
    gt = rig.ground_truth()
    name, cam, _ = camera_setup("stereo-pinhole")[0]
    T_world_cam = rig.motion.pose(gt.frame_t_s) @ gt.T_imu_cam[name]
    h = gt.tag_size_m / 2
    corners = np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]])
    seen = np.zeros(len(T_world_cam), bool)
    for T_world_tag in gt.tags.values():
        pts_world = geometry.transform_points(T_world_tag, corners)
        for i, T in enumerate(T_world_cam):
            uv = cam.project(geometry.transform_points(geometry.se3_inverse(T), pts_world))
            if np.all(np.isfinite(uv)) and np.all((uv >= 5) & (uv <= [cam.width - 6, cam.height - 6])):
                seen[i] = True
    assert seen.mean() > 0.8


def test_faults_drop_frames_and_link(stereo_samples):
    rig, clean = stereo_samples
    faulty = SimRig(
        SimRigConfig(
            seconds=6.0,
            seed=2,
            motion="pick_place",
            cameras="mono-fisheye",
            fps=15.0,
            dropped_frame_rate=0.1,
            link_gaps_s=((3.0, 4.0),),
            **SMALL,
        )
    )
    samples = _collect(faulty)
    gaps = [s for s in samples if isinstance(s, LinkGap)]
    assert len(gaps) == 1
    g = gaps[0]
    assert not any(g.t0_ns <= _arrival(s) < g.t1_ns for s in samples if not isinstance(s, LinkGap))
    frames = [s for s in samples if isinstance(s, CameraFrame)]
    n_clean = sum(1 for s in clean if isinstance(s, CameraFrame) and s.sensor == "cam0")
    assert len(frames) < 0.85 * n_clean
    assert {f.sensor for f in frames} == {"cam0"}


def test_replay_rig_and_depth(test_data):
    path = test_data / "trajectory_eval_tum_rgbd" / "freiburg1_xyz-groundtruth.txt"
    rig = SimRig(SimRigConfig(seconds=3.0, motion=str(path), cameras="mono-pinhole", depth=True, **SMALL))
    samples = _collect(rig)
    depth = [s for s in samples if isinstance(s, CameraFrame) and s.sensor == "depth0"]
    assert depth and depth[0].image.dtype == np.uint16 and depth[0].image.max() > 100
    assert rig.describe().cameras[-1].pix_fmt == "gray16le"


def _matches(img_a: np.ndarray, img_b: np.ndarray, cam_a, cam_b) -> tuple[np.ndarray, np.ndarray]:
    """ORB matches between two images as normalised (undistorted) coordinates (N, 2) each."""
    import cv2

    orb = cv2.ORB_create(1500)
    ka, da = orb.detectAndCompute(img_a, None)
    kb, db = orb.detectAndCompute(img_b, None)
    m = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    pa = np.array([ka[x.queryIdx].pt for x in m]).reshape(-1, 1, 2)
    pb = np.array([kb[x.trainIdx].pt for x in m]).reshape(-1, 1, 2)
    return (
        cv2.undistortPoints(pa, cam_a.K, cam_a.D).reshape(-1, 2),
        cv2.undistortPoints(pb, cam_b.K, cam_b.D).reshape(-1, 2),
    )


def test_images_agree_with_ground_truth_poses_and_stereo_extrinsics():
    """Feature geometry between rendered images matches the true motion and the true stereo calibration."""
    import cv2

    # No fingers: they move with the camera and would be correct matches of a different motion.
    rig = SimRig(
        SimRigConfig(
            seconds=6.0,
            seed=7,
            motion="pick_place",
            sensor_noise=False,
            motion_blur=False,
            fingers=False,
            photos=False,
            host_start_ns=0,
        )
    )
    gt = rig.ground_truth()
    cal = rig.calibration()
    cam0, cam1 = cal.camera("cam0").camera, cal.camera("cam1").camera
    for i, j in ((40, 46), (100, 106)):  # 0.2 s apart while the rig moves
        a, b = rig.render_frame(i, "cam0").image, rig.render_frame(j, "cam0").image
        xa, xb = _matches(a, b, cam0, cam0)
        T_wc = rig.motion.pose(gt.frame_t_s[[i, j]]) @ gt.T_imu_cam["cam0"]
        T_b_a = geometry.se3_inverse(T_wc[1]) @ T_wc[0]  # maps cam_a points into cam_b, like recoverPose
        baseline = np.linalg.norm(T_b_a[:3, 3])
        assert baseline > 0.05
        # Epipolar residual of every match under the TRUE relative pose, in pixels.
        E_true = geometry.skew(T_b_a[:3, 3] / baseline) @ T_b_a[:3, :3]
        r = np.abs(np.einsum("ni,ij,nj->n", np.c_[xb, np.ones(len(xb))], E_true, np.c_[xa, np.ones(len(xa))]))
        assert np.mean(r * cam0.fx < 1.5) > 0.6 and np.median(r * cam0.fx) < 1.0  # ORB keypoints: ~0.5 px
        E, inliers = cv2.findEssentialMat(xa, xb, np.eye(3), cv2.RANSAC, 0.999, 1e-3)
        _, R, t, _ = cv2.recoverPose(E, xa, xb, np.eye(3), mask=inliers)
        assert geometry.rotation_angle(R.T @ T_b_a[:3, :3]) < np.radians(1.0)
    # Stereo: matches between cam0 and cam1 lie on the epipolar lines of the calibrated extrinsic.
    left, right = rig.render_frame(i, "cam0").image, rig.render_frame(i, "cam1").image
    x0, x1 = _matches(left, right, cam0, cam1)
    T_c1_c0 = geometry.se3_inverse(cal.camera("cam1").T_imu_cam) @ cal.camera("cam0").T_imu_cam
    E01 = geometry.skew(T_c1_c0[:3, 3]) @ T_c1_c0[:3, :3]
    h0, h1 = np.c_[x0, np.ones(len(x0))], np.c_[x1, np.ones(len(x1))]
    residual = np.abs(np.einsum("ni,ij,nj->n", h1, E01, h0)) * cam0.fx  # ~pixels
    assert len(residual) > 100 and np.median(residual) < 0.5
