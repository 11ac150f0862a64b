"""Embodiment-flag accuracy on generated cases (ik.synthetic; stated as such, not real demos).

Clean demos plus demos with one injected problem each (unreachable stretch, joint limit,
speed above the limits, table collision, gripper width out of range), random window
placement and seeds, seen through white tracking noise (1 mm, 0.2 deg per pose by default).
Scored per event:

* recall of a kind: share of injected windows expecting it that have an overlapping flag of it;
* precision of a kind: share of its flags that overlap a window expecting it. Flags inside
  a window whose problem physically implies them (``ik.synthetic.SECONDARY``, e.g. a
  singularity while the arm is stretched out of reach) are neither hits nor false alarms.

Target: >= 0.95 precision and recall per kind.

    python bench/bench_embodiment_flags.py [--robot panda] [--cases 40]
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from ik.profile import find_profile
from ik.robot import load_robot
from ik.stage import retarget_rig
from ik.synthetic import EXPECTED, PROBLEMS, SECONDARY, clean_demo, inject, with_tracking_noise

DURATION_S = {
    "unreachable": 1.5,
    "joint_limit": 5.0,
    "joint_velocity": 0.5,
    "table_collision": 3.5,
    "gripper_range": 1.0,
}
SLACK_NS = 200_000_000  # flags may start/end this close outside a window (derivative windows, ramps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robot", default="panda")
    ap.add_argument("--cases", type=int, default=40, help="cases per problem (and clean demos)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--noise-mm", type=float, default=1.0, help="white tracking noise per pose (position sigma)")
    ap.add_argument("--noise-deg", type=float, default=0.2, help="white tracking noise per pose (rotation sigma)")
    args = ap.parse_args()
    robot = load_robot(find_profile(args.robot))
    T_wb = robot.profile.T_world_base
    rng = np.random.default_rng(2024)

    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    found: Counter[str] = Counter()
    injected: Counter[str] = Counter()
    ignored: Counter[str] = Counter()
    clean_with_flags = 0
    for problem in (None, *PROBLEMS):
        for k in range(args.cases):
            demo = clean_demo(robot, T_wb, seconds=args.seconds, seed=int(rng.integers(1 << 30)))
            if problem is not None:
                t0 = float(rng.uniform(1.0, args.seconds - DURATION_S[problem] - 1.0))
                demo = inject(robot, demo, T_wb, problem, t0, t0 + DURATION_S[problem])
            demo = with_tracking_noise(demo, args.noise_mm * 1e-3, np.radians(args.noise_deg), seed=k)
            flags = retarget_rig(
                robot, demo.trajectory(), demo.T_world_tcp, demo.gripper_m, "rig0", T_world_base=T_wb
            ).flags
            if problem is None:
                clean_with_flags += bool(flags)
            windows = demo.windows
            for p, w0, w1 in windows:
                for kind in EXPECTED[p]:
                    injected[kind] += 1
                    hit = any(f.kind == kind and f.t0_ns < w1 + SLACK_NS and f.t1_ns > w0 - SLACK_NS for f in flags)
                    found[kind] += hit
            for f in flags:
                near = [(p, w0, w1) for p, w0, w1 in windows if f.t0_ns < w1 + SLACK_NS and f.t1_ns > w0 - SLACK_NS]
                if any(f.kind in EXPECTED[p] for p, _, _ in near):
                    tp[f.kind] += 1
                elif any(f.kind in SECONDARY[p] for p, _, _ in near):
                    ignored[f.kind] += 1
                else:
                    fp[f.kind] += 1
    print(
        f"robot {robot.name}: {args.cases} generated demos per problem + {args.cases} clean, "
        f"{args.seconds:g} s each at 30 Hz, tracking noise {args.noise_mm:g} mm / {args.noise_deg:g} deg per pose"
    )
    print(f"clean demos with any flag: {clean_with_flags}/{args.cases}")
    kinds = sorted(set(injected) | set(fp))
    print(f"{'kind':<32}{'precision':>10}{'recall':>8}   (flags tp/fp, windows found/injected, secondary ignored)")
    for kind in kinds:
        prec = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else float("nan")
        rec = found[kind] / injected[kind] if injected[kind] else float("nan")
        print(
            f"{kind:<32}{prec:10.3f}{rec:8.3f}   ({tp[kind]}/{fp[kind]}, {found[kind]}/{injected[kind]}, "
            f"{ignored[kind]})"
        )
    others = sorted(set(ignored) - set(kinds))
    for kind in others:
        print(f"{kind:<32}{'-':>10}{'-':>8}   (only as a secondary consequence: {ignored[kind]})")


if __name__ == "__main__":
    main()
