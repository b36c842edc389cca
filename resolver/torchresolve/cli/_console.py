"""Rendering for the terminal: errors on stderr and an :class:`Observer` that draws progress."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from torchresolve.observer import Observer

__all__ = ["Console"]


class Console(Observer):
    """Progress on stderr (a one-line bar when stderr is a terminal, lines otherwise)."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._tasks: dict[str, tuple[int, int | None]] = {}
        self._last_draw = 0.0
        self._dirty = False

    # -- messages -------------------------------------------------------------
    def error(self, message: str) -> None:
        """Print ``torchresolve: error: message`` as one line on stderr."""
        self._clear()
        first = message.strip().splitlines()[0] if message.strip() else "unknown error"
        self.stream.write(f"torchresolve: error: {first}\n")
        self.stream.flush()

    def warn(self, message: str) -> None:
        """Print a warning line on stderr (even when quiet)."""
        self._clear()
        self.stream.write(f"torchresolve: warning: {message}\n")
        self.stream.flush()

    def note(self, message: str) -> None:
        if self.quiet:
            return
        self._clear()
        self.stream.write(f"torchresolve: {message}\n")
        self.stream.flush()

    # -- Observer -------------------------------------------------------------
    def phase_started(self, name: str) -> None:
        if not self.quiet and not self._tty:
            self._clear()
            self.stream.write(f"torchresolve: {name}...\n")

    def phase_finished(self, name: str, seconds: float) -> None:
        if not self.quiet:
            self._clear()
            self.stream.write(f"torchresolve: {name} done in {seconds:.1f} s\n")
            self.stream.flush()

    def task_started(self, label: str, total: int | None = None) -> None:
        self._tasks[label] = (0, total)
        self._draw(label, force=True)

    def task_advanced(self, label: str, step: int = 1, detail: str = "") -> None:
        done, total = self._tasks.get(label, (0, None))
        self._tasks[label] = (done + step, total)
        self._draw(label, detail=detail)

    def task_finished(self, label: str) -> None:
        self._tasks.pop(label, None)
        self._clear()

    # -- drawing --------------------------------------------------------------
    def _draw(self, label: str, *, detail: str = "", force: bool = False) -> None:
        if self.quiet or not self._tty:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        done, total = self._tasks.get(label, (0, None))
        if total:
            width = 24
            filled = int(width * min(done, total) / total)
            bar = "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{total}"
        else:
            bar = f"{done}"
        line = f"{label} {bar} {detail}"[:100]
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self._dirty = True

    def _clear(self) -> None:
        if self._dirty:
            self.stream.write("\r\x1b[K")
            self._dirty = False

    def close(self) -> None:
        """Clear any progress line left on the terminal."""
        self._clear()
        self.stream.flush()
