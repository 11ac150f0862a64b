"""Visual-inertial SLAM for the gripper pose (issue 6).

Entry points:

* ``slam.vio.estimate(session, rig, settings) -> (Trajectory, summary)``: the trajectory
  stage's method "vio" (``slam.vio.estimator``). T_world_imu at cam0 timestamps on the IMU
  clock, per-frame TrackState/quality/position sigma; ``summary["reason"]`` says why when
  most frames could not be tracked.
* ``slam.vio.online.OnlineVio``: the same pipeline run causally for the live view.
* ``slam.vio.backend.run(frames, imu, rig)``: the factor-graph back end on front-end
  measurements (``slam.vio.measurements``), e.g. from ``slam.vio.synthetic``.

Layout: ``frontend`` (KLT + stereo + tags) -> ``measurements`` -> ``backend`` (GTSAM:
CombinedImuFactor, projection factors on the normalised plane, tag PnP factors;
IncrementalFixedLagSmoother online, Levenberg-Marquardt batch for export).
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy: importing slam.vio must not pull in OpenCV/GTSAM until an estimate is asked for.
    if name == "estimate":
        from slam.vio.estimator import estimate

        return estimate
    raise AttributeError(name)
