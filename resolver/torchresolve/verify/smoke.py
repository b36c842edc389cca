"""Running the standalone smoke suite (``_smoke.py``) with a target interpreter.

The suite runs in one process, in a worker thread's subprocess, while this thread follows its
JSON-lines output to report progress. If the process dies in the middle of a group (a segfault
in a kernel, an abort in a C extension), that group is recorded as failed and the suite is
started again for the groups it had not reached, so one crash does not hide the other results.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from torchresolve import _subprocess
from torchresolve.errors import SubprocessError
from torchresolve.observer import Observer
from torchresolve.verify.report import CheckResult

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["SMOKE_PACKAGES", "SMOKE_SCRIPT", "SmokeOptions", "run_smoke"]

SMOKE_SCRIPT = Path(__file__).with_name("_smoke.py")
"""The standalone suite, run by path with the target interpreter."""

SMOKE_PACKAGES = frozenset({"numpy", "torch", "torchvision", "torchaudio", "transformers"})
"""Packages the suite imports; those in the proposal must import (missing ones fail)."""

_MAX_RESTARTS = 5
_POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True, kw_only=True)
class SmokeOptions:
    """How to run the suite.

    :param gpu: whether a GPU is expected (``auto``: when the NVIDIA driver shows one).
    :param required: packages whose absence is a failure, not a skip.
    :param checkpoints: user files to ``torch.load``.
    :param ddp_world: processes for the multi-process DDP check (0: two when two GPUs).
    :param timeout: seconds for the whole suite, restarts included.
    :param script: the suite to run (another script speaking the same protocol, in tests).
    """

    gpu: Literal["auto", "yes", "no"] = "auto"
    required: frozenset[str] = frozenset()
    checkpoints: tuple[Path, ...] = ()
    exclude: tuple[str, ...] = ()
    ddp_world: int = 0
    timeout: float = 1800.0
    script: Path = SMOKE_SCRIPT


def _argv(python: Path, out: Path, options: SmokeOptions, exclude: Sequence[str]) -> list[str]:
    argv = [str(python), str(options.script), "--out", str(out), "--gpu", options.gpu]
    for name in sorted(options.required):
        argv += ["--require", name]
    for path in options.checkpoints:
        argv += ["--checkpoint", str(path)]
    for group in exclude:
        argv += ["--exclude", group]
    if options.ddp_world:
        argv += ["--ddp-world", str(options.ddp_world)]
    return argv


class _Follower:
    """Reads complete JSON lines appended to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.buffer = ""

    def poll(self) -> list[dict[str, Any]]:
        try:
            with self.path.open(encoding="utf-8") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
                self.offset = handle.tell()
        except FileNotFoundError:
            return []
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split("\n")
        events = []
        for line in lines:
            with contextlib.suppress(json.JSONDecodeError):
                events.append(json.loads(line))
        return events


def _one_pass(
    argv: list[str],
    out: Path,
    *,
    timeout: float,
    environ: Mapping[str, str],
    on_event: Any,
) -> tuple[_subprocess.Completed | None, str]:
    """Run the suite once, feeding each event to ``on_event``; (completed or None, problem)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["done"] = _subprocess.run(argv, timeout=timeout, env=environ, check=False)
        except SubprocessError as exc:
            box["error"] = exc

    follower = _Follower(out)
    pid: int | None = None
    thread = threading.Thread(target=work, name="torchresolve-smoke", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(_POLL_SECONDS)
            for event in follower.poll():
                if event.get("event") == "start":
                    pid = int(event["pid"])
                on_event(event)
    except BaseException:
        # Ctrl-C reaches only us when it was sent to this process alone: stop the suite we
        # started (by its own pid, reported in its first line) before unwinding.
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        thread.join(5)
        raise
    for event in follower.poll():
        on_event(event)
    if "error" in box:
        return None, str(box["error"])
    return box["done"], ""


def run_smoke(
    python: Path,
    options: SmokeOptions,
    *,
    environ: Mapping[str, str],
    observer: Observer | None = None,
) -> list[CheckResult]:
    """Run the suite with ``python`` and return one result per check.

    A crashed group becomes a failed check named after the group; a suite that cannot start at
    all becomes one failed check ``smoke``.
    """
    observer = observer or Observer()
    results: list[CheckResult] = []
    exclude = list(options.exclude)
    deadline = time.monotonic() + options.timeout
    observer.task_started("smoke tests")
    with tempfile.TemporaryDirectory(prefix="torchresolve-smoke-") as folder:
        for attempt in range(_MAX_RESTARTS + 1):
            out = Path(folder, f"results-{attempt}.jsonl")
            begun: list[str] = []
            finished = False

            def on_event(event: dict[str, Any], begun: list[str] = begun) -> None:
                nonlocal finished
                kind = event.get("event")
                if kind == "begin":
                    begun.append(str(event["group"]))
                elif kind == "end":
                    finished = True
                elif kind == "result":
                    result = CheckResult(
                        name=str(event["name"]),
                        status=event["status"],
                        reason=str(event.get("reason", "")),
                        seconds=float(event.get("seconds", 0.0)),
                        details=dict(event.get("details") or {}),
                    )
                    results.append(result)
                    observer.task_advanced("smoke tests", detail=result.name)
                    observer.note(
                        f"smoke: {result.status.upper()} {result.name} ({result.seconds:.2f} s)"
                    )

            left = deadline - time.monotonic()
            started = time.monotonic()
            done, problem = _one_pass(
                _argv(python, out, options, exclude),
                out,
                timeout=max(left, 1.0),
                environ=environ,
                on_event=on_event,
            )
            if finished:
                break
            elapsed = time.monotonic() - started
            if done is not None:
                tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
                problem = f"exit status {done.returncode}: {tail}"
            if not begun:
                results.append(
                    CheckResult(
                        name="smoke",
                        status="fail",
                        reason=f"the smoke suite did not start: {problem}",
                        seconds=elapsed,
                    )
                )
                break
            crashed = begun[-1]
            results.append(
                CheckResult(
                    name=crashed,
                    status="fail",
                    reason=f"the smoke process died during this group: {problem}",
                    seconds=elapsed,
                    details={"problem": problem},
                )
            )
            exclude.extend(begun)
            if done is None or time.monotonic() >= deadline:
                break  # timed out: no time left for the remaining groups
    observer.task_finished("smoke tests")
    return results
