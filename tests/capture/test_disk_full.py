"""A disk that fills up while recording costs nothing already recorded.

Each case records the virtual rig onto a real, small tmpfs mounted in a private mount
namespace (``unshare -m``), fills the disk from another writer part-way through, and copies
the home folder out before the namespace (and its tmpfs) goes away.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from capture.catalog import Catalog
from capture.session import RESERVE, Session
from democap.home import Home

#: Runs inside the namespace: mount, record while a filler takes every free byte, copy out.
_SCENARIO = textwrap.dedent(
    """
    import json, os, shutil, subprocess, sys, threading, time
    from pathlib import Path

    mnt, out, size, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], check=True)
    home = mnt / "home"
    result = {}

    def fill():
        # Wait for 2 s of video on disk, then take every free byte in one allocation.
        pattern = "sessions/*/streams/rig0.cam0/index.jsonl"
        while not any(len(p.read_text().splitlines()) >= 2 for p in home.glob(pattern)):
            time.sleep(0.02)
        result["fill_ns"] = time.monotonic_ns()
        fd = os.open(mnt / "filler.bin", os.O_WRONLY | os.O_CREAT)
        # Retried only while the recorder still holds its reserve: a disk that refills after
        # the reserve is released cannot close the session (it is recovered on the next open,
        # tests/capture/test_session.py), which is not what this test is about.
        while any(home.glob("sessions/*/recording.reserve")):
            try:
                os.posix_fallocate(fd, os.fstat(fd).st_size, shutil.disk_usage(mnt).free)
                break
            except OSError:
                continue  # the recorder wrote in between: try again with what is left
        result["filled"] = os.fstat(fd).st_size
        os.close(fd)

    args = ["record", "--virtual", "--seconds", "12", "--cameras", "mono-pinhole", "--realtime"]
    if mode == "cli":
        filler = threading.Thread(target=fill)
        filler.start()
        env = dict(os.environ, DEMOCAP_HOME=str(home))
        proc = subprocess.run([sys.executable, "-m", "democap.cli", *args], env=env, capture_output=True, text=True)
        result.update(rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
    else:
        # The recorder in this process with its free-space watch off: the first write that
        # fails for lack of space has to stop the recording by itself.
        import capture.recorder
        from capture.virtual import record_virtual
        from democap.home import Home

        capture.recorder._WATCH_PERIOD_S = 1e9
        filler = threading.Thread(target=fill)
        filler.start()
        s = record_virtual(Home.resolve(str(home)), seconds=12, cameras="mono-pinhole", realtime=True)
        result.update(rc=0, session=s.id)
    filler.join()
    shutil.copytree(home, out / "home")
    (out / "result.json").write_text(json.dumps(result))
    """
)


@functools.cache
def _namespace_tmpfs() -> str | None:
    """Why a private tmpfs cannot be mounted here (None when it can)."""
    if not shutil.which("unshare"):
        return "no unshare(1)"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs $d && umount $d"],
        capture_output=True,
        text=True,
    )
    return None if probe.returncode == 0 else f"cannot mount a tmpfs in a mount namespace: {probe.stderr.strip()}"


def _in_namespace(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a private mount namespace (skipping the test where none can be made)."""
    why = _namespace_tmpfs()
    if why:
        pytest.skip(why)
    return subprocess.run(["unshare", "-m", *argv], capture_output=True, text=True, timeout=timeout)


def _scenario(script: str, tmp_path: Path, *args: str) -> dict:
    """Run a scenario script (argv: mount point, output folder, *args); its result.json."""
    out = tmp_path / "out"
    out.mkdir()
    proc = _in_namespace(sys.executable, "-c", script, str(tmp_path / "mnt"), str(out), *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


def _record_onto_full_disk(tmp_path: Path, mode: str) -> tuple[dict, Home]:
    result = _scenario(_SCENARIO, tmp_path, "120m", mode)
    return result, Home.resolve(str(tmp_path / "out" / "home"))


def _check_saved(home: Home, result: dict) -> Session:
    [path] = list(home.sessions.iterdir())
    s = Session(path)
    stopped = s.manifest["stopped"]
    assert s.manifest["status"] == "complete", "closed properly, not left for recovery"
    assert stopped["reason"] == "disk_full"
    assert s.verify() == [], "every chunk on disk matches its index"
    assert not (path / RESERVE).exists() and not (path / "recording.lock").exists()
    # What came before the disk filled is kept: at most the chunk being written (1 s) is lost.
    cam = s.streams["rig0.cam0"]
    assert cam["count"] >= 60 and cam["count"] == sum(1 for _ in s.frames("rig0.cam0"))
    assert (result["fill_ns"] - cam["t1_ns"]) / 1e9 < 1.5
    assert (result["fill_ns"] - s.streams["rig0.imu"]["t1_ns"]) / 1e9 < 1.5
    # No hole anywhere in what was kept (a failed chunk is retried, not skipped).
    t_cam = s.columns("rig0.cam0")["t_host_ns"]
    t_imu = s.columns("rig0.imu")["t_host_ns"]
    assert np.max(np.diff(t_cam)) < 2.5e9 / 30 and np.max(np.diff(t_imu)) < 20e6
    # ... and nothing after it was pretended: the recording stopped well short of its 12 s.
    assert stopped["after_s"] < 8 and (cam["t1_ns"] - cam["t0_ns"]) / 1e9 < 8
    cat = Catalog(home)
    try:
        assert [r["id"] for r in cat.sessions()] == [s.id]
    finally:
        cat.close()
    return s


def test_cli_recording_stops_and_keeps_everything_when_the_disk_fills(tmp_path: Path) -> None:
    result, home = _record_onto_full_disk(tmp_path, "cli")
    assert result["filled"] > 50e6, "the filler took the free space"
    s = _check_saved(home, result)
    assert result["rc"] == 4, result["stderr"]
    assert "stopped early" in result["stderr"] and s.id in result["stderr"]
    assert "Traceback" not in result["stderr"]


def test_a_write_that_fails_for_lack_of_space_stops_the_recording(tmp_path: Path) -> None:
    result, home = _record_onto_full_disk(tmp_path, "in-process")
    s = _check_saved(home, result)
    assert s.id == result["session"]
    assert s.manifest["stopped"]["message"].startswith("a write failed"), s.manifest["stopped"]
    # The chunk whose write failed was written again once the reserve was released: no hole.
    assert "write_errors" not in s.manifest


_VIDEO_SCENARIO = textwrap.dedent(
    """
    import json, os, shutil, subprocess, sys
    from pathlib import Path
    import numpy as np
    from capture.session import SessionWriter, StreamSpec, is_no_space

    mnt, out = Path(sys.argv[1]), Path(sys.argv[2])
    mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mnt)], check=True)
    w = SessionWriter(mnt, source={"kind": "test"})
    video = w.add_video(StreamSpec("rig0.cam0", "video", "rig0", "cam0", 30.0), 320, 240, codec="ffv1")
    rng = np.random.default_rng(0)
    t, failed = 0, None
    for i in range(30 * 60):
        if i == 45:  # 1.5 s in: someone else takes every free byte
            fd = os.open(mnt / "filler.bin", os.O_WRONLY | os.O_CREAT)
            os.posix_fallocate(fd, 0, shutil.disk_usage(mnt).free)
            os.close(fd)
        try:
            video.append(rng.integers(0, 255, (240, 320), dtype=np.uint8), t)  # noise: ~77 kB per frame
        except Exception as e:
            failed = {"frame": i, "no_space": is_no_space(e), "error": str(e)}
            break
        t += 33_333_333
    released = w.release_reserve()
    w.close()
    shutil.copytree(w.path, out / "session")
    (out / "result.json").write_text(json.dumps({"failed": failed, "released": released, "lost": video.frames_lost}))
    """
)


def test_a_video_segment_that_cannot_be_finished_is_given_up_and_the_rest_kept(tmp_path: Path) -> None:
    result = _scenario(_VIDEO_SCENARIO, tmp_path)
    failed = result["failed"]
    assert failed is not None and failed["no_space"], failed
    assert 45 <= failed["frame"] <= 62, "the first write after the disk filled fails (within one segment)"
    assert result["released"]
    s = Session(tmp_path / "out" / "session")
    assert s.manifest["status"] == "complete" and s.verify() == []
    # The first segment (1 s of frames) was complete before the disk filled and is kept whole;
    # the one being written is given up, its .partial file left as it was.
    kept = s.streams["rig0.cam0"]["count"]
    assert kept in (30, 31) and result["lost"] == failed["frame"] - kept
    assert [f.name for f in s.stream_dir("rig0.cam0").glob("*.partial")] == ["seg-000001.mkv.partial"]
    assert sum(1 for _ in s.frames("rig0.cam0")) == kept


def test_a_recording_that_would_not_fit_is_refused_before_it_starts(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = (
        f"mount -t tmpfs -o size=40m tmpfs {mnt} && DEMOCAP_HOME={mnt}/home "
        f"{sys.executable} -m democap.cli record --virtual --seconds 20; echo rc=$?; ls -A {mnt}/home/sessions"
    )
    proc = _in_namespace("sh", "-c", script, timeout=120)
    assert "rc=2" in proc.stdout, proc.stdout + proc.stderr
    assert "MB free; 20 s of recording needs about" in proc.stderr and "choose another --home" in proc.stderr
    assert proc.stdout.strip().endswith("rc=2"), "no session folder was left behind"
