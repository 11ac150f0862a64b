"""The virtual rig: one deterministic simulation model shared by everything that simulates a rig.

Without rendering (the virtual firmware uses only these):
  ``motion``  ``scripted_motion(kind, seconds, seed)`` / ``replay_motion(path)`` -> ``Motion``
              (true T_world_imu(t), velocity, accel, body rates, gripper width, task spans);
  ``imu``     ``synthesize_imu(motion, t_s, noise, seed)`` -> ``ImuSamples`` (EuRoC-like noise);
  ``clock``   ``DeviceClock`` (offset, drift, jumps), ``HostClock``, ``true_clock_mapping``;
  ``body``    where IMU, cameras, fingertips and finger markers sit on the rig.
With rendering:
  ``scene``   ``Scene.tabletop(seed, texture_root)``: textured table, boxes, walls, AprilTags;
  ``render``  ``Renderer(scene, camera).render(pose or pose_at, exposure_s=...)``.
Everything together:
  ``rig``     ``SimRig(SimRigConfig(...))``: calibration, ground truth, and ``.source()``, a
              ``devices.base.RigSource`` for the recorder.
"""
