"""Session format v1: round trips, integrity checks, atomic manifest, SIGKILL recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from capture.session import Session, SessionWriter, StreamSpec
from democap.errors import SessionFormatError
from democap.model import Decision

REPO = Path(__file__).resolve().parents[2]


def _write_session(root: Path, frames: int = 45, codec: str = "ffv1") -> Path:
    w = SessionWriter(root, source={"kind": "test"}, rigs={"rig0": {"device": {"serial": "R1"}}})
    v = w.add_video(StreamSpec("rig0.cam0", "video", "rig0", "cam0", 30.0), 64, 48, "gray", codec)
    imu = w.add_table(StreamSpec("rig0.imu", "imu", "rig0", "imu", 200.0))
    t0 = 1_000_000_000
    rng = np.random.default_rng(0)
    for i in range(frames):
        img = rng.integers(0, 255, (48, 64), dtype=np.uint8)
        img[:8, :8] = i * 5
        v.append(img, t0 + i * 33_333_333, i * 33_333, 1_000_000)
    n_imu = frames * 200 // 30
    imu.append_many(
        {
            "t_host_ns": t0 + np.arange(n_imu) * 5_000_000,
            "t_device_ns": np.arange(n_imu) * 5000,
            "gyro_x": np.zeros(n_imu),
            "gyro_y": np.zeros(n_imu),
            "gyro_z": np.ones(n_imu),
            "accel_x": np.zeros(n_imu),
            "accel_y": np.zeros(n_imu),
            "accel_z": np.full(n_imu, 9.81),
        }
    )
    return w.close()


def test_round_trip_lossless_video_and_tables(tmp_path):
    path = _write_session(tmp_path)
    s = Session(path)
    assert s.manifest["status"] == "complete"
    assert s.streams["rig0.cam0"]["count"] == 45 and s.streams["rig0.imu"]["count"] == 300
    assert s.streams["rig0.cam0"]["chunks"] == 2  # segments of at most 1 s
    frames = dict(s.frames("rig0.cam0"))
    assert len(frames) == 45 and all(int(frames[i][0, 0]) == i * 5 for i in range(45))
    rng = np.random.default_rng(0)
    first = rng.integers(0, 255, (48, 64), dtype=np.uint8)
    first[:8, :8] = 0
    assert np.array_equal(frames[0], first)  # FFV1 is lossless
    ft = s.columns("rig0.cam0")
    assert list(ft["index"][:3]) == [0, 1, 2] and ft["t_device_ns"][1] == 33_333
    assert np.array_equal(s.frame("rig0.cam0", 31), frames[31])
    assert s.verify() == []
    assert len(s.episodes) == 1 and s.episodes[0].t0_ns == 1_000_000_000


def test_h264_round_trip_is_close(tmp_path):
    w = SessionWriter(tmp_path, source={"kind": "test"})
    v = w.add_video(StreamSpec("rig0.cam0", "video", "rig0", "cam0", 30.0), 128, 96, "rgb24", "h264")
    img = np.zeros((96, 128, 3), np.uint8)
    img[:, :64] = (200, 40, 40)
    for i in range(10):
        v.append(img, i * 33_000_000)
    s = Session(w.close())
    out = s.frame("rig0.cam0", 5)
    assert out.shape == (96, 128, 3) and np.abs(out.astype(int) - img).mean() < 3


def test_refuses_to_overwrite_existing_session(tmp_path):
    w = SessionWriter(tmp_path, source={"kind": "test"}, session_id="fixed")
    w.close()
    with pytest.raises(SessionFormatError, match="refusing to overwrite"):
        SessionWriter(tmp_path, source={"kind": "test"}, session_id="fixed")


def test_verify_finds_truncated_and_missing_chunks(tmp_path):
    path = _write_session(tmp_path)
    seg = sorted((path / "streams" / "rig0.cam0").glob("seg-*.mkv"))[0]
    seg.write_bytes(seg.read_bytes()[:100])
    chunk = sorted((path / "streams" / "rig0.imu").glob("chunk-*.parquet"))[-1]
    chunk.unlink()
    problems = Session(path).verify()
    assert any("truncated" in p and "seg-000000.mkv" in p for p in problems)
    assert any("missing" in p and chunk.name in p for p in problems)
    with pytest.raises(SessionFormatError, match="missing"):
        Session(path).table("rig0.imu")


def test_bad_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(SessionFormatError, match="not a democap session"):
        Session(tmp_path)
    (tmp_path / "manifest.json").write_text("{ nope")
    with pytest.raises(SessionFormatError, match="not valid JSON"):
        Session(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": "democap.session", "schema_version": 99}))
    with pytest.raises(SessionFormatError, match="newer"):
        Session(tmp_path)


def test_decisions_are_append_only_and_tolerate_a_torn_line(tmp_path):
    s = Session(_write_session(tmp_path))
    s.add_decision(Decision(0, "reject", 1, operator="op1"))
    with open(s.path / "decisions.jsonl", "a") as f:
        f.write('{"episode": 0, "act')  # a writer killed mid-line
    assert [d.action for d in s.decisions()] == ["reject"]
    with pytest.raises(SessionFormatError, match="episode 7"):
        s.add_decision(Decision(7, "accept", 2))


WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from capture.session import SessionWriter, StreamSpec
    w = SessionWriter(sys.argv[1], source={"kind": "test"}, session_id="killed")
    v = w.add_video(StreamSpec("rig0.cam0", "video", "rig0", "cam0", 30.0), 64, 48, "gray", "h264")
    imu = w.add_table(StreamSpec("rig0.imu", "imu", "rig0", "imu", 200.0))
    ev = w.add_table(StreamSpec("rig0.events", "events", "rig0", "events"))
    t0 = time.monotonic_ns()
    ev.append(t_host_ns=t0, t_device_ns=0, kind="episode", value="start:pick the cup")
    i = 0
    while True:
        t = time.monotonic_ns()
        v.append(np.full((48, 64), i % 250, np.uint8), t)
        imu.append_many({"t_host_ns": [t + k * 5_000_000 for k in range(6)], "t_device_ns": [0] * 6,
                         "gyro_x": [0.0] * 6, "gyro_y": [0.0] * 6, "gyro_z": [0.0] * 6,
                         "accel_x": [0.0] * 6, "accel_y": [0.0] * 6, "accel_z": [9.8] * 6})
        if i % 30 == 0:
            ev.flush()
            print(v.frames_written, imu.rows_written, t, flush=True)
        i += 1
        time.sleep(1 / 30)
""")


def test_sigkill_recovery_loses_at_most_the_open_chunk(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    reports = []
    deadline = time.monotonic() + 60
    while len(reports) < 5 and time.monotonic() < deadline:
        reports.append([int(x) for x in proc.stdout.readline().split()])
    kill_ns = time.monotonic_ns()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(reports) == 5, "writer did not start"
    path = tmp_path / "killed"
    assert json.loads((path / "manifest.json").read_text())["status"] == "recording"
    on_disk = {p.relative_to(path) for p in path.rglob("*") if p.is_file()}
    s = Session(path)  # opening recovers
    assert s.manifest["status"] == "recovered"
    frames, imu_rows = s.streams["rig0.cam0"]["count"], s.streams["rig0.imu"]["count"]
    assert frames >= reports[-1][0] and imu_rows >= reports[-1][1]
    # At most the chunk being filled is lost: the last kept sample is < ~1 s (+ scheduling slack) before the kill.
    assert (kill_ns - s.streams["rig0.cam0"]["t1_ns"]) / 1e9 < 1.6
    assert (kill_ns - s.streams["rig0.imu"]["t1_ns"]) / 1e9 < 1.6
    assert sum(1 for _ in s.frames("rig0.cam0")) == frames
    assert s.verify() == []
    assert len(s.episodes) == 1 and s.episodes[0].task == "pick the cup" and s.episodes[0].source == "trigger"
    after = {p.relative_to(path) for p in path.rglob("*") if p.is_file()}
    # Only the lock and the space reserve (zeros held back for closing) go; nothing recorded does.
    assert Path("recording.reserve") in on_disk
    assert on_disk - after <= {Path("recording.lock"), Path("recording.reserve")}, "recovery deletes nothing recorded"
