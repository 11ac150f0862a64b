"""Long work off the UI thread: a job runs a library call in the thread pool and reports back by signal.

Errors a user can act on (``DemocapError``) arrive as their one-line message; anything else
arrives as a short sentence plus where the log is, never as a traceback in a dialog.
Progress comes through ``democap.progress.Progress.listener`` (set for the job's duration), and
a cancel request reaches the library through ``Progress.cancel_requested``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from democap.errors import DemocapError
from democap.progress import Cancelled, Progress

log = logging.getLogger(__name__)

#: Progress is a process-wide hook, so only one job at a time may own it.
_progress_owner = threading.Lock()


def error_text(exc: BaseException) -> str:
    """What to tell the user about ``exc``: the democap message, or what to do about a bug."""
    if isinstance(exc, DemocapError):
        return str(exc)
    if isinstance(exc, Cancelled):
        return "Cancelled."
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} ({exc.filename or 'file system'}). Check the path and free space, then retry."
    return (
        f"Unexpected {type(exc).__name__}: {exc}. The details are in the log (run `democap -v gui`); "
        "please report it with that log."
    )


class JobSignals(QObject):
    # Results stay on the job; only an argument-less signal crosses threads. Queued Signal(object)
    # emissions from pool threads aborted PySide6 with a reference-count error under load.
    done = Signal()
    failed = Signal(str)
    progress = Signal(str, int, int)


class Job(QRunnable):
    """Runs ``fn()`` in the pool. Connect to ``signals`` before starting; ``cancel()`` asks it to stop."""

    def __init__(self, fn: Callable[[], Any], *, track_progress: bool = False) -> None:
        super().__init__()
        self.fn = fn
        self.track_progress = track_progress
        self.signals = JobSignals()
        self._cancel = threading.Event()
        self.setAutoDelete(False)  # the owner keeps it (and its signals) alive until it reports
        self.result: Any = None

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        owned = self.track_progress and _progress_owner.acquire(blocking=False)
        if owned:
            Progress.listener = lambda label, done, total: self.signals.progress.emit(label, done, total)
            Progress.cancel_requested = self._cancel.is_set
        try:
            result = self.fn()
        except BaseException as e:  # noqa: BLE001 - every failure becomes a message for the user
            if not isinstance(e, (DemocapError, Cancelled)):
                log.exception("background job failed")
            self.signals.failed.emit(error_text(e))
            return
        finally:
            if owned:
                Progress.listener = None
                Progress.cancel_requested = None
                _progress_owner.release()
        self.result = result
        self.signals.done.emit()


class Jobs:
    """Keeps running jobs alive and starts them on the global pool."""

    def __init__(self) -> None:
        self.pool = QThreadPool.globalInstance()
        self._live: set[Job] = set()

    def start(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
        track_progress: bool = False,
    ) -> Job:
        job = Job(fn, track_progress=track_progress or on_progress is not None)
        self._live.add(job)
        if on_done is not None:
            job.signals.done.connect(lambda: on_done(job.result))
        if on_failed is not None:
            job.signals.failed.connect(on_failed)
        if on_progress is not None:
            job.signals.progress.connect(on_progress)
        job.signals.done.connect(lambda: self._live.discard(job))
        job.signals.failed.connect(lambda _m: self._live.discard(job))
        self.pool.start(job)
        return job

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)

    @property
    def busy(self) -> bool:
        return bool(self._live)
