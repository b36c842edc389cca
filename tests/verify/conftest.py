"""Fixtures for the verify tests: a wheelhouse of tiny wheels built here and hermetic installer
settings (the helpers behind them live in ``_verify_helpers``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from _verify_helpers import build_wheel, hermetic_environ

if TYPE_CHECKING:
    from collections.abc import Iterator
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
