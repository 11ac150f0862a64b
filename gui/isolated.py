"""Native robotics work (Pinocchio, coal, gtsam) runs in a helper process, not in GUI threads.

Calling those extensions from a worker thread while Qt and pyqtgraph run in the main
thread aborted the interpreter ("none_dealloc", a reference-count error in a C extension)
in the latency benchmark. In a separate process such a fault cannot take the operator's
window (or a recording) down with it, and the GUI thread stays free. The helper process is
started once (spawn: no forked Qt state) and reused; if it dies it is started again.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from democap.errors import DemocapError

T = TypeVar("T")
_POOL: ProcessPoolExecutor | None = None
_LOCK = threading.Lock()


def _watch_parent(parent_pid: int) -> None:
    """In the helper: exit when the app is gone (it may leave with os._exit, skipping pool shutdown)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _pool() -> ProcessPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
        return _POOL


def run_isolated(fn: Callable[..., T], *args: Any, timeout_s: float = 600.0) -> T:
    """``fn(*args)`` in the helper process (fn must be a module-level function; args picklable)."""
    global _POOL
    try:
        return _pool().submit(fn, *args).result(timeout=timeout_s)
    except BrokenProcessPool as e:
        with _LOCK:
            _POOL = None
        raise DemocapError(
            "the helper process for robot and tracking work stopped unexpectedly; try again (it restarts by itself)"
        ) from e


def shutdown() -> None:
    global _POOL
    with _LOCK:
        if _POOL is not None:
            for proc in list(getattr(_POOL, "_processes", {}).values()):
                proc.terminate()  # its work is not needed any more; the app is closing
            _POOL.shutdown(wait=False, cancel_futures=True)
            _POOL = None
