"""Time to draw one frame of the review's 3-D view: the Panda as decimated meshes versus as a stick figure.

Renders ``gui.view3d.SceneView3D`` offscreen into an image at the review panel's size with the
robot at a sequence of joint configurations (a review playing). Prints per-frame draw times
(median / p95) per triangle budget; the review redraws at 25 Hz, so a frame must stay well
under 40 ms. ``--save`` writes the last frame of each budget as a PNG to look at.

    python bench/bench_view3d.py [--frames 60] [--budgets 2000,4000,8000] [--save /tmp]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--budgets", default="2000,4000,8000")
    ap.add_argument("--size", default="590x225", help="view size in pixels (the review panel's at 1280x800)")
    ap.add_argument("--save", default="", help="folder for a PNG of the last frame per budget")
    args = ap.parse_args()

    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    from gui.view3d import SceneView3D
    from ik.meshes import build_meshes, visual_model, visual_placements
    from ik.profile import find_profile
    from ik.robot import load_robot

    app = QApplication.instance() or QApplication([])  # noqa: F841 - must stay referenced
    w, h = (int(v) for v in args.size.split("x"))
    rob = load_robot(find_profile("panda"))
    visual = visual_model(rob)
    T_world_base = rob.profile.T_world_base_for("rig0")
    s = np.linspace(0, 2 * np.pi, args.frames)[:, None]
    q = rob.q_rest + 0.4 * np.sin(s + np.arange(rob.nq)) * (rob.upper - rob.lower) / 4
    T_world_geom = visual_placements(rob, visual, q, T_world_base)
    import pinocchio as pin

    data = rob.model.createData()
    sticks = []
    for qk in q:
        pin.forwardKinematics(rob.model, data, qk)
        pts = np.array([data.oMi[j].translation for j in range(rob.model.njoints)])
        sticks.append(pts @ T_world_base[:3, :3].T + T_world_base[:3, 3])

    view = SceneView3D()
    view.resize(w, h)
    path = np.stack([0.3 + 0.1 * np.cos(s[:, 0]), 0.1 * np.sin(s[:, 0]), 0.2 + 0.0 * s[:, 0]], 1)
    view.set_trajectory(path)
    view.set_extent(np.concatenate(sticks))
    img = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)

    def run(label: str, meshes: object) -> None:
        view.set_robot_meshes(meshes)
        times = []
        for k in range(args.frames):
            view.set_robot(sticks[k], T_world_geom[k])
            t0 = time.perf_counter()
            view.render(img)
            times.append((time.perf_counter() - t0) * 1000)
        p50, p95 = np.percentile(times, [50, 95])
        print(f"{label:<28} {w}x{h}: draw per frame median {p50:5.1f} ms  p95 {p95:5.1f} ms")
        if args.save:
            out = os.path.join(args.save, f"view3d-{label.split()[0]}.png")
            img.save(out)

    run("stick figure", None)
    for budget in (int(b) for b in args.budgets.split(",")):
        t0 = time.perf_counter()
        meshes = build_meshes(rob, budget)
        build_s = time.perf_counter() - t0
        run(f"meshes {budget} ({meshes.n_faces} tris)", meshes)
        print(f"{'':<28} (decimation took {build_s:.1f} s; cached per home after the first time)")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # PySide6 can crash while collecting widgets at exit
