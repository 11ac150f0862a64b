"""RGB-D-inertial: registered depth gives mono features a virtual right camera, end to end on the virtual rig."""

from __future__ import annotations

import numpy as np
import pytest

from capture.session import reference_poses
from capture.virtual import record_virtual
from democap import geometry
from democap.model import CameraModel
from slam import metrics
from slam.vio.estimator import estimate
from slam.vio.frontend import Frontend, FrontendSettings, normalised


def test_depth_becomes_virtual_stereo_coordinates() -> None:
    cam = CameraModel("pinhole-radtan", 160, 120, 100.0, 100.0, 79.5, 59.5, (0.0, 0.0, 0.0, 0.0, 0.0))
    s = FrontendSettings(depth_baseline_m=0.05)
    depth = np.full((120, 160), 0.8, np.float32)
    depth[:, 100:] = 1.6  # a step: no depth on its edge
    depth[:10] = 0.0  # holes
    px = np.array([[40.0, 60.0], [130.0, 60.0], [100.0, 60.0], [40.0, 5.0]], np.float32)
    xy0, _ = normalised(cam, px.astype(np.float64), 1.0)
    xy1 = Frontend(cam, s)._from_depth(depth, px, xy0)
    assert xy1[0] == pytest.approx([xy0[0, 0] - 0.05 / 0.8, xy0[0, 1]])
    assert xy1[1] == pytest.approx([xy0[1, 0] - 0.05 / 1.6, xy0[1, 1]])
    assert np.isnan(xy1[2]).all() and np.isnan(xy1[3]).all()


def test_rgbd_inertial_tracks_without_tags(home) -> None:
    session = record_virtual(home, seconds=8.0, seed=1, motion="pick_place", cameras="mono-pinhole", depth=True)
    assert session.streams["rig0.depth0"]["registered_to"] == "cam0"
    traj, summary = estimate(session, "rig0", {"tags": False})
    assert summary["depth"] == "rig0.depth0" and not summary["stereo"]
    t_ref, T_ref = reference_poses(session)
    e = metrics.ate(traj.T_world_body, geometry.interpolate_poses(t_ref, T_ref, traj.t_ns), "4dof")
    # Measured 0.06 cm / 0.06 deg on 12 s (mono without depth: 0.09 cm).
    assert e.ate_rmse_m < 0.005 and e.rot_rmse_deg < 0.5
    assert traj.share_ok() > 0.95
