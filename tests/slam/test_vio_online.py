"""Live VIO: causal poses while data streams in, on the seeded feature simulation."""

from __future__ import annotations

import numpy as np

from democap.model import TrackState
from slam.vio import synthetic
from slam.vio.online import OnlineVio


def test_online_poses_are_causal_and_accurate() -> None:
    seq = synthetic.simulate(synthetic.SimSpec(duration_s=5.0, camera="pinhole", stereo=True, seed=8))
    live = OnlineVio(seq.rig, seq.camera, seq.camera)
    j = 0
    errors = []
    for i, f in enumerate(seq.frames):
        while j < len(seq.imu) and seq.imu.t_ns[j] <= f.t_ns:  # only IMU up to the frame: causal
            live.add_imu(int(seq.imu.t_ns[j]), seq.imu.gyro_imu[j], seq.imu.accel_imu[j])
            j += 1
        pose = live.add_observations(f, keyframe=i % 3 == 0)
        if pose is None:
            assert i < 15  # initialisation waits for 0.3 s of IMU only
            continue
        assert pose.T_world_nav is not None
        T_world_imu = pose.T_world_nav @ pose.T_nav_imu
        errors.append(np.linalg.norm(T_world_imu[:3, 3] - seq.T_world_imu[i, :3, 3]))
        assert pose.state == TrackState.OK
    assert len(errors) > 120
    assert np.sqrt(np.mean(np.square(errors))) < 0.01
    assert max(errors) < 0.03
