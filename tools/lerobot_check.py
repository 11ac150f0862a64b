#!/usr/bin/env python3
"""Load a democap LeRobot export with lerobot's own LeRobotDataset and check it.

Runs INSIDE the separate lerobot venv (lerobot 0.4.4 pins torch < 2.11, which the dev
venv does not have). Recipe (see tests/export/test_lerobot_compat.py, which creates it
when DEMOCAP_LEROBOT_VENV_CREATE=1)::

    python3 -m venv ~/.cache/democap/lerobot-venv-<hash>
    ~/.cache/democap/lerobot-venv-<hash>/bin/pip install lerobot==0.4.4

Usage: ``lerobot_check.py DATASET_DIR [--expect-episodes N] [--expect-frames N]``. Offline
(HF_HUB_OFFLINE=1). Prints one JSON object with what it saw; exits non-zero on a failed check.
Checks: metadata loads; a torch DataLoader iterates the whole dataset with the right
shapes; fps; episode boundaries; a delta_timestamps action chunk running past an
episode's end is padded and flagged in ``action_is_pad``; video decodes with the
``pyav`` backend; the splits in info.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--expect-episodes", type=int)
    ap.add_argument("--expect-frames", type=int)
    ap.add_argument("--chunk", type=int, default=5, help="action chunk length for delta_timestamps")
    args = ap.parse_args()

    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

    report: dict = {"lerobot_checks": []}
    failures: list[str] = []

    def check(name: str, ok: bool, detail: object = None) -> None:
        report["lerobot_checks"].append({"check": name, "ok": bool(ok), "detail": detail})
        if not ok:
            failures.append(f"{name}: {detail}")

    meta = LeRobotDatasetMetadata("democap/export", root=args.root)
    fps = meta.fps
    report.update(
        fps=fps,
        total_episodes=meta.total_episodes,
        total_frames=meta.total_frames,
        video_keys=list(meta.video_keys),
        features=sorted(meta.features),
        splits=meta.info.get("splits"),
    )
    if args.expect_episodes is not None:
        check("episodes", meta.total_episodes == args.expect_episodes, meta.total_episodes)
    if args.expect_frames is not None:
        check("frames", meta.total_frames == args.expect_frames, meta.total_frames)

    ds = LeRobotDataset("democap/export", root=args.root, video_backend="pyav")
    check("len", len(ds) == meta.total_frames, len(ds))
    state_dim = meta.features["observation.state"]["shape"][0]
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=False, num_workers=0)
    n = 0
    for batch in loader:
        b = batch["observation.state"].shape[0]
        check_shape = batch["observation.state"].shape == (b, state_dim) and batch["action"].shape == (b, state_dim)
        for key in meta.video_keys:
            h, w, c = meta.features[key]["shape"]
            check_shape &= tuple(batch[key].shape) == (b, c, h, w)
        if not check_shape:
            check("batch shapes", False, {k: tuple(v.shape) for k, v in batch.items() if hasattr(v, "shape")})
            break
        n += b
    check("dataloader iterated every frame", n == meta.total_frames, n)
    # Episode boundaries: index ranges from the episodes table match the data.
    eps = meta.episodes
    bounds = []
    for i in range(meta.total_episodes):
        ep = eps[i]
        a, b = int(ep["dataset_from_index"]), int(ep["dataset_to_index"])
        first, last = ds[a], ds[b - 1]
        ok = (
            int(first["episode_index"]) == i
            and int(last["episode_index"]) == i
            and int(first["frame_index"]) == 0
            and int(last["frame_index"]) == b - a - 1
            and b - a == int(ep["length"])
        )
        bounds.append([a, b])
        check(f"episode {i} boundaries", ok, [a, b])
        ts = float(last["timestamp"])
        check(f"episode {i} timestamp = frame_index / fps", abs(ts - (b - a - 1) / fps) < 1e-4, ts)
    report["episode_bounds"] = bounds
    # Action chunk past the end of the first episode: padded and flagged.
    k = args.chunk
    chunked = LeRobotDataset(
        "democap/export", root=args.root, video_backend="pyav", delta_timestamps={"action": [i / fps for i in range(k)]}
    )
    end = bounds[0][1] - 1
    item = chunked[end - 1]
    pad = item["action_is_pad"].tolist()
    check("action chunk shape", tuple(item["action"].shape) == (k, state_dim), tuple(item["action"].shape))
    check("action_is_pad past episode end", pad == [False, False] + [True] * (k - 2), pad)
    # The padded rows repeat the episode's last action (lerobot clamps the index).
    last_action = chunked[end]["action"][0]
    check("padding repeats the last action", bool(torch.allclose(item["action"][-1], last_action)), None)
    item0 = chunked[bounds[0][0]]
    check("no padding at episode start", not any(item0["action_is_pad"].tolist()), item0["action_is_pad"].tolist())
    report["task_example"] = ds[0]["task"]
    report["failures"] = failures
    print(json.dumps(report, default=str))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
