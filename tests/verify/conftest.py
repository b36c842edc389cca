"""Fixtures for the verify tests: a wheelhouse of tiny wheels built here, hermetic installer
settings, and small real venvs to check in place."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest
from _verify_wheels import build_wheel

from torchresolve import _subprocess
from torchresolve.verify.venv import find_uv

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alpha 1.0 (needs beta>=1), beta 1.0 and 2.0, gamma 1.0."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(folder, "alpha", "1.0", requires=["beta>=1"])
    build_wheel(folder, "beta", "1.0")
    build_wheel(folder, "beta", "2.0")
    build_wheel(folder, "gamma", "1.0")
    return folder


def hermetic_environ() -> dict[str, str]:
    """This process's environment without the machine's pip/uv configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_NO_CONFIG"] = "1"
    return env


@pytest.fixture
def hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Apply :func:`hermetic_environ` to this process (the CLI reads ``os.environ``)."""
    env = hermetic_environ()
    for name in list(os.environ):
        if name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env


def make_env(root: Path, wheelhouse: Path, packages: list[str], *, no_deps: bool = False) -> Path:
    """A real venv at ``root`` holding ``packages`` from ``wheelhouse``; returns its python."""
    environ: Mapping[str, str] = hermetic_environ()
    uv = find_uv(environ)
    assert uv is not None, "uv is part of the test extras"
    _subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, root], timeout=120, env=environ
    )
    python = root / "bin" / "python"
    if packages:
        argv: list[str | Path] = [uv, "pip", "install", "--quiet", "--python", python]
        argv.append("--no-index")
        argv += ["--find-links", wheelhouse, *(["--no-deps"] if no_deps else []), *packages]
        _subprocess.run(argv, timeout=120, env=environ)
    return python
