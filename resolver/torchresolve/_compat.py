"""Differences between the supported Python versions, resolved once."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["file_url_path", "tomllib"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


def file_url_path(url: str) -> Path:
    """The local path a ``file:`` URL names (percent-escapes decoded once).

    Not :func:`urllib.request.url2pathname`: importing :mod:`urllib.request` pulls in
    ``http.client``, ``ssl`` and ``email`` (~16 ms, a twentieth of a warm ``upgrade``).
    """
    path = urlsplit(url).path
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        from nturl2path import url2pathname

        return Path(url2pathname(path))
    return Path(unquote(path))
