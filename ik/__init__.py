"""Retargeting rig demonstrations to robot joints, and embodiment-gap flags.

Modules, in the order data flows through them:

* ``profile``: robot profile YAML (built-ins in ``ik/robots``, user ones in ``Home.robots``).
* ``robot``: ``load_robot(profile) -> Robot`` (Pinocchio model, TCP frame, limits, coal collision geometry).
* ``solver``: ``IkSolver.solve`` (any solution, restarts) and ``IkSolver.track`` (continuous tracking).
* ``retarget``: ``retarget_poses`` for a whole trajectory (continuity, smoothing, velocity limits).
* ``checks``: per-frame evidence and ``embodiment.*`` flags.
* ``placement``: base placement search maximising the share of feasible frames.
* ``plots``: joints against limits with flagged spans.
* ``stage``: ``run(session, robot, home, place_base)``, the pipeline stage; ``retarget_rig`` without a session.
* ``cli``: ``democap retarget`` and ``democap robots``.
* ``synthetic``: generated demos with injected problems for tests and benchmarks.
"""
