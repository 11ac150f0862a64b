"""slam.vio.estimate end to end on a real session (EuRoC V1_01 clip, stereo-inertial)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from democap import geometry
from democap.errors import StageError
from democap.model import TrackState
from slam import metrics
from slam.vio.estimator import estimate


@pytest.fixture(scope="module")
def euroc_session(test_data: Path, tmp_path_factory: pytest.TempPathFactory):
    from capture.importers.euroc import import_euroc
    from democap.home import Home

    home = Home.resolve(tmp_path_factory.mktemp("vio") / "home")
    return import_euroc(test_data / "euroc_v1_01_easy_micro", home)


def test_euroc_stereo_inertial(euroc_session) -> None:
    traj, summary = estimate(euroc_session, "rig0", {})
    assert summary["stereo"] and summary["world_anchor"] == "first_pose" and "reason" not in summary
    assert len(traj) == 95 and traj.share_ok() == 1.0
    assert np.isfinite(traj.sigma()).all()
    # World z is up: the accelerometer at rest reads +g along world z.
    c = euroc_session.columns("reference.pose")
    q = np.stack([c["qw"], c["qx"], c["qy"], c["qz"]], 1)
    T_ref = geometry.se3(geometry.quat_wxyz_to_matrix(q), np.stack([c["x"], c["y"], c["z"]], 1))
    valid, T_at = metrics.match_reference(traj.t_ns, c["t_host_ns"], T_ref)
    assert valid.sum() > 60
    e = metrics.ate(traj.T_world_body[valid], T_at[valid], "4dof")
    # The clip is nearly still (2 cm of motion): this checks frames, timing and stability, not accuracy.
    assert e.ate_rmse_m < 0.02
    up_est = traj.T_world_body[valid][:, 2, :3]  # world z in imu coordinates
    up_ref = T_at[valid][:, 2, :3]
    assert np.degrees(np.arccos(np.clip(np.sum(up_est * up_ref, 1), -1, 1))).max() < 3.0
    assert np.all(traj.state[valid] == TrackState.OK)


def test_missing_imu_is_a_stage_error(euroc_session, monkeypatch: pytest.MonkeyPatch) -> None:
    from slam.vio import estimator

    monkeypatch.setattr(estimator, "load_imu", lambda session, rig: None)
    with pytest.raises(StageError, match="no IMU"):
        estimate(euroc_session, "rig0", {})
