"""Shared fixtures of the audit tests: the trimmed database and the lockfile tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchresolve.db import Database, load_database

LOCKFILES = Path(__file__).resolve().parent.parent / "fixtures" / "lockfiles"


@pytest.fixture(scope="session")
def db() -> Database:
    """The audit tests' trimmed copy of the curated database."""
    return load_database(LOCKFILES / "db")
