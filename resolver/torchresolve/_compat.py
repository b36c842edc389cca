"""Differences between the supported Python versions, resolved once."""

from __future__ import annotations

import sys

__all__ = ["tomllib"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
