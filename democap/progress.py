"""The one progress helper: a bar on a terminal, percentages in logs, a callback for the GUI.

Usage::

    with Progress("rendering", total=n) as bar:
        for ...:
            bar.advance()

Set ``Progress.listener`` (a callable ``(label, done, total)``) to receive updates
elsewhere, e.g. in a GUI worker; ``Progress.cancelled`` lets a caller stop long work.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import ClassVar, TypeVar

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside long work when the user asked to cancel it."""


class Progress:
    listener: ClassVar[Callable[[str, int, int], None] | None] = None
    cancel_requested: ClassVar[Callable[[], bool] | None] = None
    quiet: ClassVar[bool] = False

    def __init__(self, label: str, total: int, stream=None) -> None:
        self.label, self.total, self.done = label, max(int(total), 0), 0
        self.stream = stream or sys.stderr
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._last_pct = -1
        self._t0 = time.monotonic()

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.done = self.total
            self._draw(force=True)
        if self._tty and not Progress.quiet:
            self.stream.write("\n")
            self.stream.flush()

    def advance(self, n: int = 1) -> None:
        self.done = min(self.done + n, self.total) if self.total else self.done + n
        if Progress.cancel_requested is not None and Progress.cancel_requested():
            raise Cancelled(self.label)
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if Progress.listener is not None:
            Progress.listener(self.label, self.done, self.total)
        if Progress.quiet:
            return
        now = time.monotonic()
        pct = int(100 * self.done / self.total) if self.total else 100
        if self._tty:
            if not force and now - self._last < 0.1:
                return
            width = 30
            fill = int(width * pct / 100)
            elapsed = now - self._t0
            self.stream.write(
                f"\r{self.label:<24} [{'#' * fill}{'.' * (width - fill)}] {pct:3d}% "
                f"{self.done}/{self.total} {elapsed:5.1f}s"
            )
            self.stream.flush()
        elif (force and pct != self._last_pct) or pct >= self._last_pct + 25:
            self.stream.write(f"{self.label}: {pct}%\n")
            self.stream.flush()
            self._last_pct = pct
        self._last = now


def track(items: Iterable[T], label: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar."""
    if total is None:
        total = len(items) if isinstance(items, Sized) else 0
    with Progress(label, total) as bar:
        for it in items:
            yield it
            bar.advance()
