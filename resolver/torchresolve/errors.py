"""The exception hierarchy of torchresolve.

Policy: every error raised on purpose by torchresolve derives from :class:`TorchResolveError`.
Each seam has its own base class; leaf errors store the data that explains them and build their
message in ``__str__``. Only the CLI turns an error into an exit code:

* :class:`InputError` (bad user input: a file, a flag) -> exit 2, one line, nothing written;
* :class:`UnsatisfiableError` -> exit 1;
* any other :class:`TorchResolveError` -> exit 1 with its message.

Anything else escaping to the CLI is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DataError",
    "HardwareError",
    "IndexQueryError",
    "InputError",
    "ResolutionError",
    "SubprocessError",
    "TorchResolveError",
    "UnsatisfiableError",
    "VerifyError",
]


class TorchResolveError(Exception):
    """Root of every error torchresolve raises on purpose."""


class InputError(TorchResolveError, ValueError):
    """Bad input from the user: a malformed file, an unknown flag value.

    :param problem: what is wrong, one sentence without a trailing period.
    :param path: the file, when the problem is in a file.
    :param line: 1-based line number in ``path``, when known.
    :param key: a key path inside a structured file (``release[3].variants.cu118``).
    """

    def __init__(
        self,
        problem: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.problem}"


class DataError(TorchResolveError):
    """The curated database (data/*.toml) is malformed or inconsistent.

    Carries the file and the key path, like :class:`InputError`.
    """

    def __init__(self, problem: str, *, path: str, key: str = "") -> None:
        self.problem = problem
        self.path = path
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        key = f" at {self.key!r}" if self.key else ""
        return f"{self.path}{key}: {self.problem}"


class IndexQueryError(TorchResolveError):
    """The package index could not answer (after retries), or answered nonsense.

    :param url: the URL that failed.
    :param problem: what went wrong (``HTTP 503``, ``timed out after 3 tries``).
    """

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.url}: {self.problem}"


class ResolutionError(TorchResolveError):
    """Base for failures of the solver and the planner."""


@dataclass
class UnsatisfiableError(ResolutionError):
    """No consistent set exists for the requirements and the target.

    :param conflicts: one plain-words line per conflicting requirement chain.
    :param hint: what to relax.
    """

    conflicts: list[str]
    hint: str = ""
    reference: str = "unsatisfiable"
    chains: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        text = "no consistent set of packages: " + "; ".join(self.conflicts)
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class VerifyError(TorchResolveError):
    """Creating, installing into or testing a verification environment failed."""


class HardwareError(TorchResolveError):
    """GPU/driver detection produced output that cannot be understood."""


class SubprocessError(TorchResolveError):
    """A subprocess started through :mod:`torchresolve._subprocess` failed or timed out."""

    def __init__(
        self, argv: list[str], problem: str, *, returncode: int | None = None, stderr: str = ""
    ) -> None:
        self.argv = argv
        self.problem = problem
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(str(self))

    def __str__(self) -> str:
        tail = self.stderr.strip().splitlines()[-1:] if self.stderr.strip() else []
        extra = f": {tail[0]}" if tail else ""
        return f"{self.argv[0]}: {self.problem}{extra}"
