"""The virtual rig: one deterministic simulation model shared by everything that simulates a rig.

``motion`` (handheld trajectories), ``imu``, ``clock``, ``body`` (where sensors and fingers
sit) need no rendering; ``scene`` and ``render`` draw camera images; ``rig`` ties them into
a ``devices.base.RigSource`` with ground truth.
"""
