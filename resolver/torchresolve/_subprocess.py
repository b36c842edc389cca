"""The one wrapper through which torchresolve starts subprocesses."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torchresolve.errors import SubprocessError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["Completed", "run"]


@dataclass(frozen=True, slots=True)
class Completed:
    """The result of a finished subprocess."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    check: bool = True,
    input_text: str | None = None,
) -> Completed:
    """Run ``argv`` to completion and capture its output as text.

    :param timeout: seconds before the process is killed and :class:`SubprocessError` raised.
    :param env: the full environment; ``None`` inherits this process's environment.
    :param check: raise :class:`SubprocessError` on a non-zero exit code.
    :raises SubprocessError: the program is missing, timed out, or (with ``check``) failed.
    """
    args = [os.fspath(a) for a in argv]
    try:
        proc = subprocess.run(  # argv comes from torchresolve itself; no shell
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else dict(env),
            cwd=cwd,
            input=input_text,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SubprocessError(args, "program not found") from exc
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr if isinstance(exc.stderr, str) else ""
        raise SubprocessError(args, f"timed out after {timeout:g} s", stderr=stderr) from exc
    done = Completed(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise SubprocessError(
            args,
            f"exited with status {proc.returncode}",
            returncode=proc.returncode,
            stderr=proc.stderr,
        )
    return done
