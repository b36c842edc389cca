"""Progress observation: library code reports, the CLI renders.

Every method has a no-op body, so an observer overrides only what it shows. Library code
calls these and never prints.
"""

from __future__ import annotations

__all__ = ["Observer"]


class Observer:
    """Receives progress events from long-running work. All methods are optional."""

    def phase_started(self, name: str) -> None:
        """A named phase (``resolve``, ``create venv``, ``install``, ``smoke``) started."""

    def phase_finished(self, name: str, seconds: float) -> None:
        """The named phase finished after ``seconds``."""

    def task_started(self, label: str, total: int | None = None) -> None:
        """A task with ``total`` steps (unknown when ``None``) started, e.g. fetching metadata."""

    def task_advanced(self, label: str, step: int = 1, detail: str = "") -> None:
        """``step`` more units of the task are done; ``detail`` names the last one."""

    def task_finished(self, label: str) -> None:
        """The task is done."""

    def note(self, message: str) -> None:
        """A one-line remark worth showing to a user watching progress (a fallback taken)."""
