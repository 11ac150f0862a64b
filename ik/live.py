"""Embodiment checks on a short live window of poses, and robot skeletons for display.

Both keep the loaded robot per process (URDF parsing takes a while). The GUI calls them in
a helper process (``gui.isolated``), so they must stay plain module-level functions with
picklable arguments and results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from democap.home import Home
from democap.model import Flag, TrackState, Trajectory

_ROBOTS: dict[str, Any] = {}


def robot(name: str, home: Home) -> Any:
    """The robot model, loaded once per process."""
    from ik.profile import find_profile
    from ik.robot import load_robot

    if name not in _ROBOTS:
        _ROBOTS[name] = load_robot(find_profile(name, home))
    return _ROBOTS[name]


def warm_up(name: str, home: Home) -> bool:
    robot(name, home)
    return True


def feasibility_window(
    robot_name: str, home: Home, t_ns: NDArray[np.int64], T_world_imu: NDArray[np.float64], calibration: Any = None
) -> list[Flag]:
    """Embodiment flags on a decimated live window of rig IMU poses (N, 4, 4).

    The rig's TCP follows as in the retarget stage: IMU -> camera (calibration) -> TCP (the
    calibration's T_cam_tcp, else the profile's default) -> robot TCP (profile).
    """
    from ik.stage import retarget_rig

    rob = robot(robot_name, home)
    prof = rob.profile
    T_imu_tcp = np.eye(4)
    if calibration is not None and calibration.cameras:
        cam = calibration.cameras[0]
        T_cam_tcp = calibration.T_cam_tcp if calibration.T_cam_tcp is not None else prof.T_cam_tcp_default
        T_imu_tcp = cam.T_imu_cam @ T_cam_tcp
    T_world_tcp = T_world_imu @ T_imu_tcp @ prof.T_rigtcp_tcp
    n = len(t_ns)
    traj = Trajectory(
        t_ns=np.asarray(t_ns, np.int64),
        T_world_body=T_world_tcp,
        state=np.full(n, TrackState.OK, np.uint8),
        quality=np.ones(n, np.float32),
        body="tcp",
    )
    return list(retarget_rig(rob, traj, T_world_tcp, np.full(n, np.nan), "rig0").flags)


def skeleton_points(
    robot_name: str, home: Home, q: NDArray[np.float64], T_world_base: NDArray[np.float64], max_samples: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Joint origins and TCP in the world (M, K, 3) by forward kinematics at decimated q (N, nq)."""
    import pinocchio as pin

    rob = robot(robot_name, home)
    idx = np.linspace(0, len(q) - 1, min(len(q), max_samples)).astype(int)
    data = rob.model.createData()
    pts = np.empty((len(idx), rob.model.njoints + 1, 3))
    for k, i in enumerate(idx):
        pin.forwardKinematics(rob.model, data, q[i])
        pin.updateFramePlacements(rob.model, data)
        origins = [data.oMi[j].translation for j in range(rob.model.njoints)]
        origins.append(data.oMf[rob.tcp_frame].translation)
        P = np.array(origins)
        pts[k] = P @ T_world_base[:3, :3].T + T_world_base[:3, 3]
    return idx, pts
