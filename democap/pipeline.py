"""Run a session's stale stages in order: trajectory -> retarget (per robot) -> flags.

The CLI's ``process``, the GUI and batch workers all call ``process()``. Every stage
skips itself when its recorded input hash matches, so re-running is cheap and an
interrupted ``process --pending`` resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from capture.catalog import refresh_session
from capture.session import Session, _append_line
from democap.errors import StageError
from democap.home import Home

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageResult:
    stage: str
    ran: bool
    seconds: float
    summary: dict


@contextlib.contextmanager
def _session_lock(session: Session) -> Iterator[None]:
    """One worker per session at a time (a stale lock of a dead process is taken over)."""
    lock = session.path / "stages" / ".lock"
    lock.parent.mkdir(exist_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pid = int(lock.read_text() or 0)
        try:
            os.kill(pid, 0)
            raise StageError(f"session {session.id} is being processed by process {pid}", session.path) from None
        except ProcessLookupError:
            lock.unlink()
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def process(
    session: Session,
    home: Home,
    robot: str | None = None,
    force: bool = False,
    method: str | None = None,
    place_base: bool = False,
    map_name: str | None = None,
) -> list[StageResult]:
    """``map_name``: track in that workspace map (``democap map build``); None keeps what the
    session's trajectory last used, "" drops a map."""
    from slam import stage as trajectory_stage

    results = []
    settings = {"map": map_name} if map_name is not None else None
    with _session_lock(session):
        t = time.monotonic()
        stale = force or trajectory_stage.is_stale(session, method, settings)
        rec = trajectory_stage.run(session, settings, method=method, force=force)
        results.append(StageResult("trajectory", stale, time.monotonic() - t, dict(rec.summary)))
        if robot:
            try:
                from ik import stage as retarget_stage
            except ImportError as e:
                raise StageError(f"retargeting is not available ({e})") from e
            t = time.monotonic()
            rec = retarget_stage.run(session, robot, home, place_base=place_base, force=force)
            results.append(StageResult(f"retarget/{robot}", True, time.monotonic() - t, dict(rec.summary)))
        try:
            from flags import stage as flags_stage
        except ImportError:
            flags_stage = None  # type: ignore[assignment]
        if flags_stage is not None:
            t = time.monotonic()
            rec = flags_stage.run(session, **_robot_camera(home, robot))
            results.append(StageResult("flags", True, time.monotonic() - t, dict(rec.summary)))
    refresh_session(home, session)
    return results


def pending_sessions(home: Home) -> list[Path]:
    """Sessions whose trajectory stage is missing or stale (the start of the chain)."""
    from slam import stage as trajectory_stage

    out = []
    for m in sorted(home.sessions.glob("*/manifest.json")):
        try:
            s = Session(m.parent)
            if s.manifest["status"] != "recording" and trajectory_stage.is_stale(s):
                out.append(m.parent)
        except Exception as e:  # noqa: BLE001 - one unreadable session must not stop the queue
            log.warning("skipping %s: %s", m.parent, e)
    return out


def process_pending(home: Home, robot: str | None = None) -> dict[str, str]:
    """Process every session with stale stages; failures are logged and the queue goes on."""
    queue_log = home.root / "process-queue.jsonl"
    outcome: dict[str, str] = {}
    for path in pending_sessions(home):
        sid = path.name
        _append_line(queue_log, {"session": sid, "event": "start", "realtime_ns": time.time_ns()})
        try:
            process(Session(path), home, robot=robot)
            outcome[sid] = "ok"
        except Exception as e:  # noqa: BLE001 - recorded per session; the queue is resumable
            outcome[sid] = f"failed: {e}"
            log.error("processing %s failed: %s", sid, e)
        _append_line(
            queue_log, {"session": sid, "event": "end", "outcome": outcome[sid], "realtime_ns": time.time_ns()}
        )
    return outcome


def _robot_camera(home: Home, robot: str | None) -> dict:
    """The robot's camera and its mount on the TCP from its profile, for the camera-mismatch flag."""
    if not robot:
        return {}
    from ik.profile import find_profile

    cam = find_profile(robot, home).camera
    if cam is None:
        return {}
    return {"robot_camera": cam.camera, "robot_T_tcp_cam": cam.T_mount_cam if cam.mount == "tcp" else None}
