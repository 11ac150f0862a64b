"""`democap flags` and `democap export` through the real CLI entry point."""

from __future__ import annotations

import json

from democap.cli import main
from flags.synthetic import make_session


def test_flags_then_export_from_the_command_line(home, tmp_path, capsys):
    make_session(
        home.sessions,
        session_id="20260101-000000-cli001",
        episodes=2,
        blur=tuple(range(5, 12)),
        lost=tuple(range(60, 66)),
    )
    assert main(["--home", str(home.root), "flags", "20260101-000000-cli"]) == 0
    out = capsys.readouterr().out
    assert "observation.blur" in out and "observation.tracking_lost" in out and "episode   0" in out
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "version": 1,
                "rules": [{"kind": "observation.tracking_lost", "action": "exclude_episode", "severity": "error"}],
            }
        )
    )
    rc = main(
        [
            "--home",
            str(home.root),
            "export",
            "last",
            "--format",
            "lerobot",
            "-o",
            str(tmp_path / "ds"),
            "--policy",
            str(policy),
            "--split",
            "val=0.5",
            "--json",
        ]
    )
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["episodes"] == 1 and res["excluded"][0]["reason"] == "observation.tracking_lost (error)"
    assert (tmp_path / "ds" / "meta" / "info.json").exists()


def test_user_errors_are_one_line(home, tmp_path, capsys):
    make_session(home.sessions, session_id="20260101-000000-cli002", episodes=1, n_frames=20)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "rules": [{"kind": "observation.nope", "action": "trim"}]}))
    rc = main(
        ["--home", str(home.root), "export", "last", "--format", "act", "-o", str(tmp_path / "o"), "--policy", str(bad)]
    )
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and "matches no known flag kind" in err
    rc = main(
        ["--home", str(home.root), "export", "last", "--format", "act", "-o", str(tmp_path / "o"), "--split", "val=2"]
    )
    assert rc != 0 and "FRACTION" in capsys.readouterr().err


def test_export_by_query_over_the_catalog(home, tmp_path, capsys):
    from capture.catalog import refresh_session
    from capture.session import Session

    for sid, task in (("20260101-000000-q1", "pick"), ("20260101-000000-q2", "pour")):
        path = make_session(home.sessions, session_id=sid, episodes=1, n_frames=20, tasks=(task,))
        refresh_session(home, Session(path))
    rc = main(
        [
            "--home",
            str(home.root),
            "export",
            "--where",
            "task = 'pour'",
            "--format",
            "lerobot",
            "-o",
            str(tmp_path / "q"),
            "--json",
        ]
    )
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["episodes"] == 1
    import pyarrow.parquet as pq

    tasks = str(pq.read_table(tmp_path / "q" / "meta" / "tasks.parquet").to_pylist())
    assert "pour" in tasks and "pick" not in tasks  # only the matching session's episode
    assert main(["--home", str(home.root), "export", "--format", "lerobot", "-o", str(tmp_path / "r")]) == 2
    assert "--where" in capsys.readouterr().err
