"""The benchmark's ATE (slam.metrics, used by `democap bench slam`) agrees with evo's APE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from democap.formats.tum import read_tum
from slam import metrics


@pytest.mark.parametrize("alignment", ["se3", "sim3"])
def test_ate_matches_evo(test_data: Path, alignment: str) -> None:
    evo_metrics = pytest.importorskip("evo.core.metrics")
    from evo.core import sync
    from evo.core.trajectory import PoseTrajectory3D

    folder = test_data / "trajectory_eval_tum_rgbd"
    ref = read_tum(folder / "freiburg1_xyz-groundtruth.txt")
    est = read_tum(folder / "freiburg1_xyz-rgbdslam.txt")

    def evo_traj(t):
        return PoseTrajectory3D(poses_se3=list(t.T_world_body()), timestamps=t.t_s)

    traj_ref, traj_est = sync.associate_trajectories(evo_traj(ref), evo_traj(est), max_diff=0.01)
    T_ref, T_est = np.array(traj_ref.poses_se3), np.array(traj_est.poses_se3)  # matched, before alignment
    traj_est.align(traj_ref, correct_scale=alignment == "sim3")
    ape = evo_metrics.APE(evo_metrics.PoseRelation.translation_part)
    ape.process_data((traj_ref, traj_est))
    evo_rmse = ape.get_statistic(evo_metrics.StatisticsType.rmse)

    ours = metrics.ate(T_est, T_ref, alignment)  # type: ignore[arg-type]
    assert len(T_ref) > 500
    assert ours.ate_rmse_m == pytest.approx(evo_rmse, rel=1e-6, abs=1e-9)
    assert 0.005 < ours.ate_rmse_m < 0.5  # a real, non-trivial error (RGBD-SLAM on fr1_xyz: a few cm)
