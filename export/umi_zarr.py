"""UMI replay-buffer writer: zarr format 2 inside a ``.zarr.zip``, keys as UMI's loaders read them.

``data/robot<k>_eef_pos`` (N, 3) float32, ``data/robot<k>_eef_rot_axis_angle`` (N, 3) float32
(rotation vector of ``T_world_tcp``), ``data/robot<k>_gripper_width`` (N, 1) float32,
``data/robot<k>_demo_start_pose`` / ``_demo_end_pose`` (N, 6) float64 (the episode's first /
last pose, position + rotation vector, repeated per step), ``data/camera<k>_rgb``
(N, 224, 224, 3) uint8 (centre-cropped, resized), ``meta/episode_ends`` (E,) int64.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from democap import geometry
from democap.progress import Progress
from export.episodes import EpisodeFrames
from export.images import image_stack

IMAGE_SIZE = (224, 224)


def write(
    path: Path, episodes: Sequence[EpisodeFrames], fps: int, bar: Progress | None = None, blur_faces: str = "head"
) -> Path:
    import zarr
    from zarr.storage import ZipStore

    path.parent.mkdir(parents=True, exist_ok=True)
    n_rigs = len(episodes[0].tracked_rigs)
    cols: dict[str, list[np.ndarray]] = {}
    ends = []
    total = 0
    for ep in episodes:
        for k, r in enumerate(ep.tracked_rigs[:n_rigs]):
            T = r.T_world_tcp
            pos = T[:, :3, 3]
            rot = geometry.so3_log(T[:, :3, :3])
            pose6 = np.concatenate([pos, rot], axis=1)
            n = len(T)
            cols.setdefault(f"robot{k}_eef_pos", []).append(pos.astype(np.float32))
            cols.setdefault(f"robot{k}_eef_rot_axis_angle", []).append(rot.astype(np.float32))
            cols.setdefault(f"robot{k}_gripper_width", []).append(r.gripper_m[:, None].astype(np.float32))
            cols.setdefault(f"robot{k}_demo_start_pose", []).append(np.repeat(pose6[:1], n, 0))
            cols.setdefault(f"robot{k}_demo_end_pose", []).append(np.repeat(pose6[-1:], n, 0))
            cols.setdefault(f"camera{k}_rgb", []).append(image_stack(ep, r, IMAGE_SIZE, blur_faces, bar))
        total += len(ep)
        ends.append(total)
    store = ZipStore(str(path), mode="w")
    try:
        root = zarr.open_group(store, mode="w", zarr_format=2, attributes={"fps": fps, "writer": "democap"})
        data = root.create_group("data")
        for name, parts in cols.items():
            arr = np.concatenate(parts, axis=0)
            chunks = (1,) + arr.shape[1:] if name.endswith("_rgb") else arr.shape
            data.create_array(name, data=arr, chunks=chunks)
        meta = root.create_group("meta")
        meta.create_array("episode_ends", data=np.asarray(ends, np.int64))
    finally:
        store.close()
    return path
