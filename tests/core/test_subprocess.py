"""The one subprocess wrapper: captured output, typed failures, timeouts."""

from __future__ import annotations

import sys

import pytest

from torchresolve._subprocess import run
from torchresolve.errors import SubprocessError


def test_captures_stdout_and_exit_code() -> None:
    done = run([sys.executable, "-c", "print('hello')"], timeout=30)
    assert done.returncode == 0
    assert done.stdout == "hello\n"


def test_nonzero_exit_raises_with_the_last_stderr_line() -> None:
    code = "import sys; sys.stderr.write('first\\nlast words\\n'); sys.exit(3)"
    with pytest.raises(SubprocessError) as info:
        run([sys.executable, "-c", code], timeout=30)
    assert info.value.returncode == 3
    assert str(info.value).endswith("exited with status 3: last words")


def test_check_false_returns_the_failure() -> None:
    done = run([sys.executable, "-c", "raise SystemExit(4)"], timeout=30, check=False)
    assert done.returncode == 4


def test_timeout_is_a_typed_error() -> None:
    with pytest.raises(SubprocessError, match=r"timed out after 0\.5 s"):
        run([sys.executable, "-c", "import time; time.sleep(10)"], timeout=0.5)


def test_missing_program_is_a_typed_error() -> None:
    with pytest.raises(SubprocessError, match="program not found"):
        run(["torchresolve-no-such-program"], timeout=5)
