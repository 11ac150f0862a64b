"""Whole-trajectory retargeting speed: IK with continuity plus every embodiment check.

Generated demos (ik.synthetic, stated as such) at 30 Hz: clean ones, and ones with an
injected problem (unreachable stretch, limit, speed, table dip, gripper), retargeted to
the robot with per-frame IK seeded from the previous frame, smoothing and velocity
limiting, then checked (joint limits, velocity/acceleration, self and table collision
with the URDF's collision geometry through coal, manipulability, gripper). Single thread.
Target: >= 2,000 frames/s.

    python bench/bench_retarget.py [--robot panda] [--demos 20] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ik.profile import find_profile
from ik.robot import load_robot
from ik.stage import retarget_rig
from ik.synthetic import PROBLEMS, clean_demo, inject


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robot", default="panda")
    ap.add_argument("--demos", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    robot = load_robot(find_profile(args.robot))
    T_wb = robot.profile.T_world_base
    rng = np.random.default_rng(7)
    demos = []
    for k in range(args.demos):
        d = clean_demo(robot, T_wb, seconds=args.seconds, seed=100 + k)
        if k % 2:  # every other demo carries one problem
            problem = PROBLEMS[(k // 2) % len(PROBLEMS)]
            t0 = float(rng.uniform(3, args.seconds - 6))
            d = inject(robot, d, T_wb, problem, t0, t0 + (0.5 if problem == "joint_velocity" else 2.5))
        demos.append(d)
    retarget_rig(robot, demos[0].trajectory(), demos[0].T_world_tcp, demos[0].gripper_m, "rig0", T_world_base=T_wb)

    rates = {"clean": [0, 0.0, 0.0], "with problem": [0, 0.0, 0.0]}
    for k, d in enumerate(demos):
        t, c = time.perf_counter(), time.process_time()
        retarget_rig(robot, d.trajectory(), d.T_world_tcp, d.gripper_m, "rig0", T_world_base=T_wb)
        key = "with problem" if k % 2 else "clean"
        rates[key][0] += len(d.t_ns)
        rates[key][1] += time.perf_counter() - t
        rates[key][2] += time.process_time() - c
    frames = sum(r[0] for r in rates.values())
    wall = sum(r[1] for r in rates.values())
    cpu = sum(r[2] for r in rates.values())
    print(
        f"robot {robot.name}: {len(demos)} demos, {frames} frames at 30 Hz, "
        f"{len(robot.collision.collisionPairs)} self-collision pairs + table, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    for key, (n, w, c) in rates.items():
        print(f"  {key:<13} {n / w:8.0f} frames/s wall, {n / c:8.0f} frames/s of CPU time")
    print(f"throughput {frames / wall:.0f} frames/s (wall), {frames / cpu:.0f} frames/s (CPU time)")


if __name__ == "__main__":
    main()
