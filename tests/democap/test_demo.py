"""`democap demo` end to end on a short virtual recording: every stage real, nothing clobbered."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from democap.cli import main


def test_demo_end_to_end_twice(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["--home", str(home), "demo", "--seconds", "4", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    info = json.loads(
        (tmp_path / "home" / "exports" / first["dataset"].split("/")[-1] / "meta" / "info.json").read_text()
    )
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] >= 1
    assert info["fps"] == 30 and "observation.state" in info["features"] and "action" in info["features"]
    data = pq.read_table(next((tmp_path / "home" / "exports").glob("demo-*/data/chunk-*/file-*.parquet")))
    assert data.num_rows == info["total_frames"] > 60
    acc = first["accuracy"]
    assert acc["frames_with_pose"] > 0.9 and acc["unaligned_m"] < 0.02 and acc["ok_over_2cm"] == 0
    assert any(k.startswith("observation.") for k in first["flags"])  # the rig camera differs from the Panda's
    assert (home / "exports").joinpath(first["dataset"].split("/")[-1], "meta", "democap", "demo_report.png").exists()

    # A second run is a new session and a new dataset: the first is untouched.
    before = sorted(p.name for p in (home / "exports").iterdir())
    assert main(["--home", str(home), "demo", "--seconds", "3", "--seed", "1", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["session"] != first["session"] and second["dataset"] != first["dataset"]
    after = sorted(p.name for p in (home / "exports").iterdir())
    assert set(before) < set(after)
