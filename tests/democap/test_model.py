"""The shared data model: geometry, cameras, time corrections, flags, export policy."""

from __future__ import annotations

import numpy as np
import pytest

from democap import geometry as g
from democap.errors import PolicyError
from democap.model import (
    DEFAULT_POLICY,
    CameraCalibration,
    CameraModel,
    ClockMapping,
    Decision,
    Episode,
    ExportPolicy,
    Flag,
    ImuNoise,
    RigCalibration,
    TimeCorrections,
    TrackState,
    Trajectory,
    corrected_times,
    flag_mask,
    review_of,
    select_frames,
    spans_from_mask,
)

rng = np.random.default_rng(7)


def random_rotations(n: int) -> np.ndarray:
    return g.so3_exp(rng.normal(size=(n, 3)) * 1.5)


def test_quaternion_orders_round_trip_and_differ():
    R = random_rotations(50)
    assert np.allclose(g.quat_wxyz_to_matrix(g.matrix_to_quat_wxyz(R)), R, atol=1e-12)
    assert np.allclose(g.quat_xyzw_to_matrix(g.matrix_to_quat_xyzw(R)), R, atol=1e-12)
    q = g.matrix_to_quat_wxyz(R[0])
    assert np.allclose(g.matrix_to_quat_xyzw(R[0]), np.r_[q[1:], q[0]])
    # 90 degrees about z: w = cos(45), z = sin(45), in w,x,y,z order
    assert np.allclose(g.matrix_to_quat_wxyz(g.rot_z(np.pi / 2)), [np.sqrt(0.5), 0, 0, np.sqrt(0.5)])


def test_so3_log_exp_near_pi_and_zero():
    for angle in (0.0, 1e-10, 0.3, np.pi - 1e-6):
        w = np.array([0.0, 0.6, 0.8]) * angle
        assert np.allclose(g.so3_log(g.so3_exp(w)), w, atol=1e-6)


def test_pose_inverse_and_frame_convention():
    T_a_b = g.se3(random_rotations(1)[0], [1.0, 2.0, 3.0])
    p_b = rng.normal(size=(5, 3))
    p_a = g.transform_points(T_a_b, p_b)
    assert np.allclose(g.transform_points(g.se3_inverse(T_a_b), p_a), p_b)


def test_kabsch_and_nearest_rotation():
    R = random_rotations(1)[0]
    b = rng.normal(size=(30, 3))
    a = b @ R.T
    assert np.allclose(g.kabsch(a, b), R, atol=1e-12)
    a_bad = a.copy()
    a_bad[0] += 50.0  # one outlier, weighted out
    w = np.ones(30)
    w[0] = 0.0
    assert np.allclose(g.kabsch(a_bad, b, w), R, atol=1e-12)
    assert np.allclose(g.nearest_rotation(R * 3.0 + 1e-9), R, atol=1e-8)
    reflection = np.diag([1.0, 1.0, -1.0])
    assert np.linalg.det(g.nearest_rotation(reflection)) > 0  # never a reflection


def test_interpolate_poses_hits_samples_and_midpoints():
    t = np.array([0, 10, 20], dtype=np.int64)
    T = g.se3(np.stack([np.eye(3), g.rot_z(0.4), g.rot_z(0.8)]), [[0, 0, 0], [1, 0, 0], [2, 0, 0]])
    out = g.interpolate_poses(t, T, np.array([0, 5, 10, 15, 25]))
    assert np.allclose(out[[0, 2]], T[[0, 1]])
    assert np.isclose(g.yaw_of(out[1]), 0.2) and np.isclose(out[1, 0, 3], 0.5)
    assert np.allclose(out[4], T[2])  # clamped


@pytest.mark.parametrize(
    "model,dist", [("pinhole-radtan", (-0.28, 0.07, 2e-4, 2e-5)), ("fisheye-equidistant", (0.01, -0.02, 0.003, 0.001))]
)
def test_camera_project_unproject_round_trip(model, dist):
    cam = CameraModel(model, 752, 480, 458.6, 457.3, 367.2, 248.4, dist)
    u, v = np.meshgrid(np.linspace(0, 751, 15), np.linspace(0, 479, 11))
    px = np.stack([u.ravel(), v.ravel()], 1)
    rays = cam.unproject(px)
    assert np.allclose(np.linalg.norm(rays, axis=1), 1)
    assert np.abs(cam.project(rays * 2.5) - px).max() < 1e-4


def test_camera_matches_opencv_projection():
    import cv2

    cam = CameraModel("pinhole-radtan", 640, 480, 500, 505, 320, 240, (-0.2, 0.05, 0.001, -0.002, 0.01))
    pts = rng.normal(size=(40, 3)) * [0.3, 0.3, 0.1] + [0, 0, 1.5]
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.K, cam.D)
    assert np.abs(cam.project(pts) - ref.reshape(-1, 2)).max() < 1e-9
    fish = CameraModel("fisheye-equidistant", 640, 480, 300, 300, 320, 240, (0.02, -0.01, 0.003, -0.001))
    ref, _ = cv2.fisheye.projectPoints(pts[:, None, :], np.zeros(3), np.zeros(3), fish.K, fish.D)
    assert np.abs(fish.project(pts) - ref.reshape(-1, 2)).max() < 1e-7


def test_unknown_camera_model_is_refused():
    with pytest.raises(ValueError, match="unknown camera model"):
        CameraModel("kannala", 10, 10, 1, 1, 1, 1)  # type: ignore[arg-type]


def test_clock_mapping_and_corrections_keep_raw_values():
    raw_dev = np.array([0, 1_000_000_000, 2_000_000_000], dtype=np.int64)
    host = np.array([5, 6, 7], dtype=np.int64)
    m = ClockMapping(device_ref_ns=0, host_ref_ns=10_000, drift_ppm=50.0)
    corr = TimeCorrections(clock=m, latency_ns=1000, offset_ns=-200)
    t = corrected_times(host, raw_dev, corr)
    # Device stamps mapped through the clock already are the sample times: no latency on top.
    assert list(t) == [10_000 - 200, 10_000 + 1_000_050_000 - 200, 10_000 + 2_000_100_000 - 200]
    assert list(raw_dev) == [0, 1_000_000_000, 2_000_000_000]  # untouched
    assert list(corrected_times(host, None, TimeCorrections(latency_ns=2))) == [3, 4, 5]
    assert TimeCorrections.from_dict(corr.to_dict()) == corr


def test_trajectory_validates_shapes_and_time_order():
    t = np.array([0, 1, 2], dtype=np.int64)
    T = np.repeat(np.eye(4)[None], 3, 0)
    ok = Trajectory(t, T, np.zeros(3, np.uint8), np.ones(3, np.float32))
    assert ok.share_ok() == 1.0
    with pytest.raises(ValueError, match="increasing"):
        Trajectory(t[::-1].copy(), T, np.zeros(3, np.uint8), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="disagree"):
        Trajectory(t, T[:2], np.zeros(3, np.uint8), np.ones(3, np.float32))
    assert TrackState(3).label == "interpolated"


def test_flag_mask_is_half_open_and_filters():
    t = np.arange(10, dtype=np.int64) * 100
    flags = [
        Flag("observation.blur", "warn", 200, 500),
        Flag("embodiment.unreachable", "error", 800, 900, robot="panda"),
    ]
    m = flag_mask(flags, t)
    assert list(np.flatnonzero(m)) == [2, 3, 4, 8]
    assert list(np.flatnonzero(flag_mask(flags, t, kinds=["embodiment.*"]))) == [8]
    assert list(np.flatnonzero(flag_mask(flags, t, min_severity="error"))) == [8]


def test_spans_round_trip_through_mask():
    t = np.arange(12, dtype=np.int64) * 33
    mask = np.zeros(12, bool)
    mask[[2, 3, 4, 9, 10, 11]] = True
    spans = spans_from_mask(t, mask)
    assert [(a, b) for a, b, _ in spans] == [(66, 165), (297, 396)]
    flags = [Flag("observation.blur", "warn", a, b) for a, b, _ in spans]
    assert np.array_equal(flag_mask(flags, t), mask)


def test_flag_validation():
    with pytest.raises(ValueError, match="unknown flag kind"):
        Flag("observation.nope", "warn", 0, 1)
    with pytest.raises(ValueError, match="robot"):
        Flag("embodiment.unreachable", "error", 0, 1)
    with pytest.raises(ValueError, match="empty"):
        Flag("observation.blur", "warn", 5, 5)


def test_policy_parsing_errors_name_the_problem():
    with pytest.raises(PolicyError, match="matches no known flag kind"):
        ExportPolicy.from_dict({"rules": [{"kind": "observation.typo", "action": "mask"}]}, "p.yaml")
    with pytest.raises(PolicyError, match="p.yaml"):
        ExportPolicy.from_dict({"rules": [{"kind": "*", "action": "delete"}]}, "p.yaml")
    pol = ExportPolicy.from_dict(
        {"default": "keep", "rules": [{"kind": "observation.*", "action": "mask", "severity": "warn"}]}
    )
    assert ExportPolicy.from_dict(pol.to_dict()) == pol


def test_select_frames_trim_mask_exclude_and_review():
    t = np.arange(100, dtype=np.int64) * 10
    ep = Episode(0, 0, 1000)
    lost = Flag("observation.tracking_lost", "error", 0, 200)
    blur = Flag("observation.blur", "error", 500, 520)
    sel = select_frames(ep, t, [lost, blur], DEFAULT_POLICY)
    assert not sel.excluded and sel.frame_keep[:20].sum() == 0 and sel.frame_keep[20:].all()
    assert list(np.flatnonzero(sel.frame_mask)) == [50, 51]
    unreachable = Flag("embodiment.unreachable", "error", 300, 310, robot="panda")
    assert select_frames(ep, t, [unreachable], DEFAULT_POLICY).excluded
    decisions = [Decision(0, "trim", 1, t0_ns=100, t1_ns=300), Decision(0, "note", 2, note="cup slipped")]
    rev = review_of(decisions, 0)
    sel = select_frames(ep, t, [], DEFAULT_POLICY, rev)
    assert list(np.flatnonzero(sel.frame_keep)) == list(range(10, 30)) and rev.notes == ("cup slipped",)
    rej = review_of(decisions + [Decision(0, "reject", 3)], 0)
    assert select_frames(ep, t, [], DEFAULT_POLICY, rej).excluded


def test_calibration_round_trip_and_hash_stability():
    cam = CameraModel("fisheye-equidistant", 640, 480, 300, 300, 320, 240, (0.1, 0.01, 0.0, 0.0), readout_s=0.02)
    calib = RigCalibration(
        "rig-1",
        (CameraCalibration("cam0", cam, g.se3(g.rot_z(0.1), [0.01, 0, 0]), 1500),),
        ImuNoise(1.7e-4, 1.9e-5, 2e-3, 3e-3, 200.0),
        T_cam_tcp=np.eye(4),
    )
    back = RigCalibration.from_dict(calib.to_dict())
    assert back.hash == calib.hash and back.camera("cam0").camera == cam
    other = RigCalibration("rig-1", calib.cameras, calib.imu, T_cam_tcp=g.se3(np.eye(3), [0, 0, 0.1]))
    assert other.hash != calib.hash
