"""Start-up cost: registering a command or reading the default index loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

_HEAVY = ("pypi_simple", "pydantic", "bs4", "requests", "torchresolve.index.client")


def _loaded_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(done.stdout.split())


@pytest.mark.parametrize("command", ["audit", "doctor", "matrix", "verify"])
def test_registering_a_command_skips_the_index_client(command: str) -> None:
    loaded = _loaded_after(
        f"from torchresolve.cli.main import build_parser; build_parser([{command!r}])"
    )
    assert not loaded & set(_HEAVY)
    other_commands = {f"torchresolve.cli.{c}" for c in ("upgrade", "constraints")}
    assert not loaded & other_commands


def test_default_index_is_read_without_importing_pypi_simple() -> None:
    loaded = _loaded_after(
        "from torchresolve.index.config import default_index_url; print(default_index_url())"
    )
    assert "pypi_simple" not in loaded


def test_default_index_is_the_client_library_constant() -> None:
    from pypi_simple import PYPI_SIMPLE_ENDPOINT

    from torchresolve.index.config import default_index_url

    assert default_index_url() == PYPI_SIMPLE_ENDPOINT


def test_full_parser_still_lists_every_command() -> None:
    from torchresolve.cli.main import COMMANDS, build_parser

    text = build_parser().format_help()
    assert all(name in text for name in COMMANDS)
