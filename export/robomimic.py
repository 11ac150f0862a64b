"""robomimic HDF5 writer: one file, ``data/demo_<i>/{obs/..., actions, rewards, dones, states}``.

Attributes as robomimic reads them: ``data.attrs["total"]`` (frames), ``data.attrs["env_args"]``
(JSON: env_name, type, env_kwargs), per demo ``attrs["num_samples"]``; train/valid filter
keys under ``mask/``. Observation keys follow robosuite's names: ``robot0_eef_pos`` (N, 3),
``robot0_eef_quat`` (N, 4) in **x,y,z,w** order (robosuite's), ``robot0_gripper_width`` (N, 1)
metres, ``robot0_joint_pos`` (N, nq) when a robot was given, and ``<rig>_<cam>_image``
(N, H, W, 3) uint8. With two rigs the second is ``robot1_*``.
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

#: robomimic's EnvType.GYM_TYPE: the closest to "no simulator" among its env types.
ENV_TYPE = 2


def write(
    path: Path,
    episodes: Sequence[EpisodeFrames],
    splits: Sequence[str],
    fps: int,
    image_size: tuple[int, int] | None = None,
    bar: Progress | None = None,
    blur_faces: str = "head",
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        total = 0
        masks: dict[str, list[bytes]] = {}
        for i, (ep, sp) in enumerate(zip(episodes, splits, strict=True)):
            g = data.create_group(f"demo_{i}")
            obs = g.create_group("obs")
            for k, r in enumerate(ep.tracked_rigs):
                pre = f"robot{k}_"
                pose = ep.ee_pose_of(r)
                obs.create_dataset(pre + "eef_pos", data=pose[:, :3])
                obs.create_dataset(pre + "eef_quat", data=pose[:, [4, 5, 6, 3]])  # w,x,y,z -> x,y,z,w
                obs.create_dataset(pre + "gripper_width", data=r.gripper_m[:, None])
                if r.joints is not None:
                    obs.create_dataset(pre + "joint_pos", data=r.joints)
            for r in ep.rigs:
                img = image_stack(ep, r, image_size, blur_faces, bar)
                obs.create_dataset(
                    f"{r.rig}_{r.camera.split('.', 1)[1]}_image",
                    data=img,
                    chunks=(1,) + img.shape[1:],
                    compression="lzf",
                )
            state, names = ep.state()
            action, _ = ep.action()
            g.create_dataset("actions", data=action.astype(np.float64))
            g.create_dataset("states", data=state.astype(np.float64))
            g.create_dataset("rewards", data=np.zeros(len(ep)))
            dones = np.zeros(len(ep), np.int64)
            dones[-1] = 1
            g.create_dataset("dones", data=dones)
            g.create_dataset("timestamp_host_ns", data=ep.t_host_ns)
            g.create_dataset("timestamp_corrected_ns", data=ep.t_ns)
            g.create_dataset("gap_flags", data=ep.flags)
            g.attrs["num_samples"] = len(ep)
            g.attrs["task"] = ep.task
            g.attrs["session"] = ep.session.id
            g.attrs["episode"] = ep.episode.index
            g.attrs["action_names"] = json.dumps(names)
            total += len(ep)
            masks.setdefault("valid" if sp == "val" else sp, []).append(f"demo_{i}".encode())
        data.attrs["total"] = total
        data.attrs["env_args"] = json.dumps(
            {
                "env_name": "democap_handheld",
                "type": ENV_TYPE,
                "env_kwargs": {
                    "control_freq": fps,
                    "quaternion_order": "xyzw",
                    "note": "real-world demonstrations; no simulator",
                },
            }
        )
        if masks:
            m = f.create_group("mask")
            for name, demos in masks.items():
                m.create_dataset(name, data=np.array(demos, dtype="S"))
    return path
