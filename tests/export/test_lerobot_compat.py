"""The LeRobot export loads with lerobot's own LeRobotDataset (in its separate venv).

lerobot 0.4.4 pins torch < 2.11, so it lives in its own venv
(~/.cache/democap/lerobot-venv-<hash>, see tools/lerobot_check.py). The test runs
tools/lerobot_check.py there; it creates the venv when DEMOCAP_LEROBOT_VENV_CREATE=1
(about 3 minutes and 8 GB: lerobot pulls CUDA torch), else skips saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import export
from democap.model import Decision

REPO = Path(__file__).resolve().parents[2]
LEROBOT_REQ = "lerobot==0.4.4"
VENV = Path.home() / ".cache" / "democap" / f"lerobot-venv-{hashlib.sha256(LEROBOT_REQ.encode()).hexdigest()[:10]}"


def lerobot_python() -> Path:
    py = VENV / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "import lerobot"], capture_output=True).returncode == 0
    if ok:
        return py
    if os.environ.get("DEMOCAP_LEROBOT_VENV_CREATE") != "1":
        pytest.skip(
            f"lerobot venv not found at {VENV}; set DEMOCAP_LEROBOT_VENV_CREATE=1 to create it "
            f"(python3 -m venv + pip install {LEROBOT_REQ}: ~3 min, ~8 GB)"
        )
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", LEROBOT_REQ], check=True)
    return py


def run_check(py: Path, root: Path, *extra: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(root.parent / "hf")}
    env.pop("PYTHONPATH", None)
    p = subprocess.run(
        [str(py), str(REPO / "tools" / "lerobot_check.py"), str(root), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert p.stdout.strip(), p.stderr[-3000:]
    report = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0, report["failures"]
    return report


@pytest.mark.slow
def test_lerobot_loads_iterates_and_pads_action_chunks(session, tmp_path):
    py = lerobot_python()
    res = export.run([session], "lerobot", tmp_path / "ds", split={"val": 0.34}, robot="panda")
    report = run_check(py, tmp_path / "ds", "--expect-episodes", str(res.episodes), "--expect-frames", str(res.frames))
    assert report["fps"] == 30
    assert report["video_keys"] == ["observation.images.rig0_cam0"]
    assert report["splits"]["val"].endswith(f":{res.episodes}")
    assert report["task_example"] in ("pick the cup", "open the drawer")


@pytest.mark.slow
def test_lerobot_loads_after_append_and_bimanual(tmp_path, make_tracked):
    tracked_session = make_tracked
    py = lerobot_python()
    a = tracked_session(
        tmp_path / "a", session_id="20260101-000000-aaaaaa", episodes=2, n_frames=40, rigs=("rig0", "rig1"), seed=1
    )
    b = tracked_session(
        tmp_path / "b", session_id="20260101-000000-bbbbbb", episodes=2, n_frames=40, rigs=("rig0", "rig1"), seed=2
    )
    b.add_decision(Decision(1, "reject", 1, operator="op"))
    r1 = export.run([a], "lerobot", tmp_path / "ds")
    r2 = export.run([b], "lerobot", tmp_path / "ds", append=True)
    report = run_check(py, tmp_path / "ds", "--expect-episodes", str(r1.episodes + r2.episodes))
    assert r2.episodes == 1 and r2.excluded[0].reason == "rejected by operator"
    assert report["video_keys"] == ["observation.images.rig0_cam0", "observation.images.rig1_cam0"]
