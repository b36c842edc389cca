"""Bridges resolvelib's reporter callbacks to an :class:`~torchresolve.observer.Observer`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resolvelib import BaseReporter

from torchresolve.solver.base import Candidate, Requirement

if TYPE_CHECKING:
    from torchresolve.observer import Observer

__all__ = ["Reporter"]

_TASK = "resolving"


class Reporter(BaseReporter[Requirement, Candidate, str]):
    """Counts pins and backtracks and forwards them as task progress."""

    def __init__(self, observer: Observer | None) -> None:
        self.observer = observer
        self.pinned = 0
        self.rejected = 0

    def starting(self) -> None:
        if self.observer is not None:
            self.observer.task_started(_TASK)

    def pinning(self, candidate: Candidate) -> None:
        self.pinned += 1
        if self.observer is not None:
            self.observer.task_advanced(_TASK, 1, str(candidate))

    def rejecting_candidate(self, criterion: Any, candidate: Candidate) -> None:
        self.rejected += 1

    def ending(self, state: Any) -> None:
        if self.observer is not None:
            self.observer.task_finished(_TASK)
