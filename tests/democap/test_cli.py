"""The CLI end to end on the EuRoC clip, and its behaviour on bad input: one line, non-zero, nothing lost."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from democap.cli import main
from democap.formats.tum import read_tum


@pytest.fixture(scope="module")
def euroc_home(test_data, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    assert main(["--home", str(home), "import", str(test_data / "euroc_v1_01_easy_micro")]) == 0
    return home


def _sid(home) -> str:
    return sorted(p.name for p in (home / "sessions").iterdir())[0]


def test_import_show_process_trajectory(euroc_home, capsys, tmp_path):
    home = str(euroc_home)
    sid = _sid(euroc_home)
    capsys.readouterr()
    assert main(["--home", home, "sessions", "show", sid[:10]]) == 0
    out = capsys.readouterr().out
    for stream, count in (("rig0.cam0", 95), ("rig0.cam1", 95), ("rig0.imu", 2348), ("reference.pose", 999)):
        line = next(ln for ln in out.splitlines() if ln.startswith(stream))
        assert f" {count} " in line
    assert "1403715273262142976" in out and "1403715277962142976" in out
    assert main(["--home", home, "process", sid]) == 0
    assert "trajectory" in capsys.readouterr().out
    assert main(["--home", home, "process", sid]) == 0
    assert "up to date" in capsys.readouterr().out  # stages only re-run when stale
    out_file = tmp_path / "traj.tum"
    assert main(["--home", home, "trajectory", sid, "--format", "tum", "-o", str(out_file)]) == 0
    traj = read_tum(out_file)
    assert len(traj) == 95 and np.allclose(np.linalg.norm(traj.q_world_body_xyzw, axis=1), 1)
    # Overwriting the user's file needs --force.
    assert main(["--home", home, "trajectory", sid, "-o", str(out_file)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["--home", home, "verify", sid]) == 0


def test_unknown_session_and_bad_folder(euroc_home, capsys, tmp_path):
    assert main(["--home", str(euroc_home), "sessions", "show", "zzz"]) == 2
    err = capsys.readouterr().err
    assert "no session 'zzz'" in err and "Traceback" not in err
    assert main(["--home", str(euroc_home), "import", str(tmp_path)]) == 2
    assert "cannot tell the format" in capsys.readouterr().err
    assert main(["--home", str(euroc_home), "import", str(tmp_path / "missing")]) == 2


def test_truncated_stream_is_reported_and_kept(euroc_home, capsys, tmp_path):
    import shutil

    home = tmp_path / "h2"
    shutil.copytree(euroc_home, home)
    sid = _sid(home)
    chunk = sorted((home / "sessions" / sid / "streams" / "rig0.imu").glob("chunk-*.parquet"))[3]
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])
    assert main(["--home", str(home), "verify", sid]) == 1
    assert "truncated" in capsys.readouterr().err
    assert main(["--home", str(home), "process", sid, "--force"]) == 2
    err = capsys.readouterr().err
    assert chunk.name in err and "Traceback" not in err
    assert chunk.exists() and chunk.stat().st_size == len(data) // 2  # nothing deleted or rewritten


def test_console_script_runs(euroc_home):
    r = subprocess.run(
        [sys.executable, "-m", "democap.cli", "--home", str(euroc_home), "sessions", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and _sid(euroc_home) in r.stdout


def test_catalog_rebuild_cli(euroc_home, capsys):
    assert main(["--home", str(euroc_home), "catalog", "rebuild"]) == 0
    assert "1 sessions" in capsys.readouterr().out


def test_process_pending_is_a_resumable_queue(euroc_home, tmp_path, capsys):
    import shutil

    home = tmp_path / "h3"
    shutil.copytree(euroc_home, home)
    sid = _sid(home)
    shutil.rmtree(home / "sessions" / sid / "stages", ignore_errors=True)
    # A second session whose processing "was interrupted": same data, no stages.
    shutil.copytree(home / "sessions" / sid, home / "sessions" / (sid + "-copy"))
    manifest = home / "sessions" / (sid + "-copy") / "manifest.json"
    manifest.write_text(manifest.read_text().replace(f'"id": "{sid}"', f'"id": "{sid}-copy"'))
    assert main(["--home", str(home), "process", "--pending"]) == 0
    out = capsys.readouterr().out
    assert f"{sid}: ok" in out and f"{sid}-copy: ok" in out
    assert main(["--home", str(home), "process", "--pending"]) == 0
    assert "nothing pending" in capsys.readouterr().out
    log = (home / "process-queue.jsonl").read_text().splitlines()
    assert len(log) == 4  # start + end per session
