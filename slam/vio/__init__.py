"""Visual-inertial SLAM for the gripper pose (issue 6).

``estimate(session, rig, settings)`` is the stage entry point (see ``slam.vio.estimator``);
``slam.vio.backend.run`` works on front-end measurements directly (``slam.vio.measurements``).
"""
