"""The virtual rig's motion, IMU and clocks: physically consistent and deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from democap import geometry
from democap.formats.tum import read_tum, write_tum
from devices.sim import body
from devices.sim.clock import DeviceClock, HostClock, true_clock_mapping
from devices.sim.imu import EUROC_NOISE, synthesize_imu
from devices.sim.motion import MOTION_KINDS, gap_free_spans, replay_motion, scripted_motion


def _integrate(imu, p0, v0, R0, dt):
    """Second-order strapdown integration (trapezoidal in rate and acceleration)."""
    p, v, R = p0.copy(), v0.copy(), R0.copy()
    out = [p.copy()]
    g = body.GRAVITY_WORLD
    for k in range(len(imu) - 1):
        R_next = R @ geometry.so3_exp(0.5 * (imu.gyro[k] + imu.gyro[k + 1]) * dt)
        a0 = R @ imu.accel[k] + g
        a1 = R_next @ imu.accel[k + 1] + g
        p = p + v * dt + (2 * a0 + a1) / 6 * dt * dt
        v = v + 0.5 * (a0 + a1) * dt
        R = R_next
        out.append(p.copy())
    return np.array(out), R


@pytest.mark.parametrize("kind", ["pick_place", "pour", "wipe"])
def test_noise_free_imu_integrates_back_to_the_motion(kind):
    motion = scripted_motion(kind, seconds=8.0, seed=3)
    t0, rate = 1.5, 200.0  # from inside the task, where the rig moves
    t = t0 + np.arange(0, 5.0 + 1e-9, 1 / rate)
    imu = synthesize_imu(motion, t, noise=None)
    p, R_end = _integrate(imu, motion.position(t0)[0], motion.velocity(t0)[0], motion.rotation(t0)[0], 1 / rate)
    truth = motion.position(t)
    assert np.linalg.norm(truth - truth[0], axis=1).max() > 0.1  # it really moved
    assert np.max(np.linalg.norm(p - truth, axis=1)) < 0.01
    assert geometry.rotation_angle(R_end.T @ motion.rotation(t[-1])[0]) < np.radians(0.2)


def test_rest_reads_gravity_up_and_motion_is_realistic():
    motion = scripted_motion("mixed", seconds=25.0, seed=1)
    imu = synthesize_imu(motion, np.arange(0, 0.5, 0.005), noise=None)
    up_in_imu = np.einsum("nji,j->ni", motion.rotation(imu.t_s), [0, 0, 1.0])
    assert np.allclose(np.einsum("ni,ni->n", imu.accel, up_in_imu), 9.81, atol=0.2)
    t = np.arange(0, 25, 0.01)
    speed = np.linalg.norm(motion.velocity(t), axis=1)
    assert speed[:80].max() < 0.02  # nearly still first second
    assert 0.2 < speed.max() < 1.5
    assert np.linalg.norm(motion.accel_world(t), axis=1).max() < 8.0
    z = motion.position(t)[:, 2]
    assert z.min() > 0.1 and z.max() < 0.9
    assert len(motion.episodes) >= 2 and {e.task for e in motion.episodes} <= set(MOTION_KINDS)
    w = motion.gripper_width(t)
    assert w.min() < 0.05 and w.max() == pytest.approx(0.08)
    # the camera looks down at the table: optical axis has a negative z component
    T_world_cam = motion.pose(t) @ body.T_IMU_CAM0
    assert np.mean(T_world_cam[:, 2, 2] < -0.3) > 0.95


def test_same_seed_same_samples_and_different_seed_differs():
    t = np.arange(0, 6, 0.005)
    a = synthesize_imu(scripted_motion("pour", 12.0, seed=5), t, seed=9)
    b = synthesize_imu(scripted_motion("pour", 12.0, seed=5), t, seed=9)
    c = synthesize_imu(scripted_motion("pour", 12.0, seed=6), t, seed=9)
    assert np.array_equal(a.gyro, b.gyro) and np.array_equal(a.accel, b.accel)
    assert not np.allclose(a.accel, c.accel)


def test_imu_noise_matches_its_densities_and_saturates():
    motion = scripted_motion("pick_place", 10.0, seed=2)
    t = np.arange(0, 10, 1 / 200)
    ideal = synthesize_imu(motion, t, noise=None)
    noisy = synthesize_imu(motion, t, noise=EUROC_NOISE, seed=4, gyro_bias0=[0, 0, 0], accel_bias0=[0, 0, 0])
    resid = noisy.gyro - ideal.gyro - noisy.gyro_bias
    assert np.std(resid) == pytest.approx(EUROC_NOISE.gyro_noise_density * np.sqrt(200), rel=0.1)
    resid_a = noisy.accel - ideal.accel - noisy.accel_bias
    assert np.std(resid_a) == pytest.approx(EUROC_NOISE.accel_noise_density * np.sqrt(200), rel=0.1)
    assert np.abs(noisy.gyro_bias).max() > 0  # the bias walks
    from dataclasses import replace

    tight = replace(EUROC_NOISE, accel_range_m_s2=10.5)
    sat = synthesize_imu(motion, t, noise=tight, seed=4)
    assert sat.saturated.any() and np.abs(sat.accel).max() <= 10.5


def test_device_clock_offset_drift_and_jump():
    clock = DeviceClock(offset_ns=5_000_000_000, drift_ppm=50.0, jumps=((10.0, 2_000_000),))
    d = clock.device_ns([0.0, 1.0, 9.999, 10.0, 20.0])
    assert d[0] == 5_000_000_000
    assert d[1] - d[0] == 1_000_050_000  # 50 ppm fast
    assert d[3] - d[2] > 2_000_000  # the jump
    t_back = clock.sim_time_s(d)
    assert np.allclose(t_back, [0.0, 1.0, 9.999, 10.0, 20.0], atol=1e-9)
    host = HostClock(start_ns=123_000_000_000)
    mapping = true_clock_mapping(clock, host, at_s=0.0)
    t = np.array([0.0, 3.0, 9.0])
    assert np.all(np.abs(mapping.to_host(clock.device_ns(t)) - host.host_ns(t)) <= 1)
    after = true_clock_mapping(clock, host, at_s=12.0)
    assert abs(int(after.to_host(clock.device_ns(15.0))[0]) - int(host.host_ns(15.0)[0])) <= 1


def test_tum_round_trip(tmp_path):
    motion = scripted_motion("wipe", 6.0, seed=0)
    t_ns = np.arange(0, 50) * 33_333_333 + 1_700_000_000_123_456_789
    T = motion.pose(np.linspace(0, 5, 50))
    write_tum(tmp_path / "t.txt", t_ns, T)
    back = read_tum(tmp_path / "t.txt")
    assert np.array_equal(back.t_ns, t_ns)
    assert np.allclose(back.T_world_body(), T, atol=1e-8)


def test_replay_skips_gaps_and_matches_file(tmp_path, test_data):
    src = read_tum(test_data / "trajectory_eval_tum_rgbd" / "freiburg1_xyz-groundtruth.txt")
    # Cut a 1 s hole into the file: the replay must keep only the longest gap-free span.
    t_s = src.t_s - src.t_s[0]
    keep = (t_s < 3.0) | (t_s > 4.0)
    gapped = tmp_path / "gapped.txt"
    write_tum(gapped, src.t_ns[keep], src.T_world_body()[keep])
    spans = gap_free_spans(t_s[keep])
    assert len(spans) == len(gap_free_spans(t_s)) + 1
    i0, i1 = max(spans, key=lambda s: s[1] - s[0])
    still = 1.0
    motion = replay_motion(gapped, tabletop=False, still_s=still)
    span_t = t_s[keep][i0:i1] - t_s[keep][i0]
    T_file = src.T_world_body()[keep][i0:i1]
    assert motion.duration_s == pytest.approx(span_t[-1] + still + 0.3, abs=0.02)
    # after the ease-in, sim time = file time + still + ramp/2
    sel = span_t > 1.0
    T_sim = motion.pose(span_t[sel] + still + 0.3) @ body.T_IMU_CAM0
    err = np.linalg.norm(T_sim[:, :3, 3] - T_file[sel, :3, 3], axis=1)
    assert np.median(err) < 0.002 and err.max() < 0.01
    rot = geometry.rotation_angle(np.swapaxes(T_sim[:, :3, :3], 1, 2) @ T_file[sel, :3, :3])
    assert np.max(rot) < np.radians(1.0)


def test_replay_tabletop_fits_the_workspace(test_data):
    motion = replay_motion(test_data / "trajectory_eval_tum_rgbd" / "fr2_desk_groundtruth.txt", seconds=20.0)
    p = motion.position(np.arange(0, motion.duration_s, 0.05))
    assert motion.duration_s == pytest.approx(20.3, abs=0.05)
    assert np.linalg.norm(p - p[0], axis=1).max() < 0.3
    assert p[:, 2].min() > 0.1 and p[:, 2].max() < 0.9


def test_replay_euroc_groundtruth_csv(test_data):
    path = test_data / "euroc_v1_01_easy_micro" / "mav0" / "state_groundtruth_estimate0" / "data.csv"
    motion = replay_motion(path, tabletop=False, still_s=0.5)
    from democap.formats.euroc import read_groundtruth_csv

    gt = read_groundtruth_csv(path)
    t_file = (gt.t_ns - gt.t_ns[0]) * 1e-9
    assert motion.duration_s == pytest.approx(t_file[-1] + 0.5 + 0.3, abs=0.02)
    sel = t_file > 1.0
    p_sim = (motion.pose(t_file[sel] + 0.5 + 0.3) @ body.T_IMU_CAM0)[:, :3, 3]
    assert np.max(np.linalg.norm(p_sim - gt.p_world_body[sel], axis=1)) < 0.005


def test_cropped_motion_starts_mid_move() -> None:
    full = scripted_motion("pick_place", 12.0, seed=2)
    late = full.cropped(2.5)
    t = np.linspace(0.0, 9.0, 50)
    assert np.allclose(late.position(t), full.position(t + 2.5), atol=1e-6)
    assert np.allclose(late.rotation(t), full.rotation(t + 2.5), atol=1e-6)
    assert np.linalg.norm(late.velocity(0.0)) > 0.05 and late.duration_s == pytest.approx(full.duration_s - 2.5)
    assert late.episodes[0].t0_s == 0.0  # the first task was already under way
    with pytest.raises(ValueError):
        full.cropped(11.5)
