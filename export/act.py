"""ACT HDF5 writer: ``episode_<i>.hdf5`` per episode, as ACT's loader reads them.

``/observations/qpos`` (N, D) and ``/observations/qvel`` (N, D) float64 (D = the state:
joints + gripper per rig, or TCP pose x,y,z,qw,qx,qy,qz + gripper), ``/observations/images/<cam>``
(N, H, W, 3) uint8 with ``<cam>`` = ``<rig>_<camera>``, ``/action`` (N, D) float64 (the next
frame's state); root attrs ``sim = False``. ``split.json`` lists the episodes per split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from democap.progress import Progress
from export.episodes import EpisodeFrames
from export.images import image_stack


def write(
    out_dir: Path,
    episodes: Sequence[EpisodeFrames],
    splits: Sequence[str],
    fps: int,
    image_size: tuple[int, int] | None = None,
    bar: Progress | None = None,
    blur_faces: str = "head",
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    by_split: dict[str, list[int]] = {}
    for i, (ep, sp) in enumerate(zip(episodes, splits, strict=True)):
        state, names = ep.state()
        action, _ = ep.action()
        qpos = state.astype(np.float64)
        t = (ep.t_ns - ep.t_ns[0]) * 1e-9
        qvel = np.gradient(qpos, t, axis=0) if len(t) > 1 else np.zeros_like(qpos)
        p = out_dir / f"episode_{i}.hdf5"
        with h5py.File(p, "w") as f:
            f.attrs["sim"] = False
            f.attrs["fps"] = fps
            f.attrs["task"] = ep.task
            f.attrs["session"] = ep.session.id
            f.attrs["episode"] = ep.episode.index
            f.attrs["qpos_names"] = json.dumps(names)
            obs = f.create_group("observations")
            obs.create_dataset("qpos", data=qpos)
            obs.create_dataset("qvel", data=qvel)
            imgs = obs.create_group("images")
            for r in ep.rigs:
                img = image_stack(ep, r, image_size, blur_faces, bar)
                imgs.create_dataset(
                    f"{r.rig}_{r.camera.split('.', 1)[1]}", data=img, chunks=(1,) + img.shape[1:], compression="lzf"
                )
            f.create_dataset("action", data=action.astype(np.float64))
            f.create_dataset("timestamp_host_ns", data=ep.t_host_ns)
            f.create_dataset("gap_flags", data=ep.flags)
        files.append(p)
        by_split.setdefault(sp, []).append(i)
    (out_dir / "split.json").write_text(json.dumps(by_split, indent=2, sort_keys=True) + "\n")
    return files
