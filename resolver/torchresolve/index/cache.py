"""The on-disk cache of index pages and file metadata.

Layout under the root (one JSON document per entry)::

    pages/<sha256 of URL>.json      a page body with its ETag / Last-Modified and fetch time
    metadata/<sha256 of file>.json  the metadata of one distribution file (immutable)

Every write goes to a temporary file in the same folder and is renamed over the entry, so
concurrent runs and a killed process leave either the old entry or the new one. An entry that
cannot be read back (truncated, edited, wrong schema) is deleted and reported as a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CACHE_ENV", "Cache", "CachedPage", "default_cache_dir"]

CACHE_ENV = "TORCHRESOLVE_CACHE_DIR"
_SCHEMA = 1


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$TORCHRESOLVE_CACHE_DIR`` if set, else the user cache dir (platformdirs).

    :param environ: the environment to read; ``None`` reads :data:`os.environ`.
    """
    env = os.environ if environ is None else environ
    override = env.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_cache_path("torchresolve")


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedPage:
    """A page as stored: body, validators, media type and when it was last confirmed fresh."""

    url: str
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    fetched: float


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Cache:
    """A directory of cache entries; safe for threads and for concurrent processes.

    :param root: the cache directory; created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self.recovered: list[str] = []

    # -- generic entries -------------------------------------------------------
    def _path(self, section: str, key: str) -> Path:
        return self.root / section / key[:2] / f"{key}.json"

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("schema") != _SCHEMA:
                raise ValueError("wrong schema")
        except ValueError:
            self._discard(path)
            return None
        return data

    def _discard(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()
        with self._lock:
            self.recovered.append(str(path))

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        data = {"schema": _SCHEMA, **data}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
            Path(tmp).replace(path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()
            raise

    # -- pages -----------------------------------------------------------------
    def get_page(self, url: str) -> CachedPage | None:
        """The stored page for ``url``, or ``None`` (missing or unreadable)."""
        path = self._path("pages", _key(url))
        data = self._read(path)
        if data is None:
            return None
        try:
            return CachedPage(
                url=str(data["url"]),
                body=str(data["body"]).encode("utf-8", errors="surrogateescape"),
                content_type=str(data["content_type"]),
                etag=data.get("etag"),
                last_modified=data.get("last_modified"),
                fetched=float(data["fetched"]),
            )
        except (KeyError, TypeError, ValueError):
            self._discard(path)
            return None

    def put_page(self, page: CachedPage) -> None:
        """Store ``page`` (replacing any previous entry atomically)."""
        self._write(
            self._path("pages", _key(page.url)),
            {
                "url": page.url,
                "body": page.body.decode("utf-8", errors="surrogateescape"),
                "content_type": page.content_type,
                "etag": page.etag,
                "last_modified": page.last_modified,
                "fetched": page.fetched,
            },
        )

    # -- metadata --------------------------------------------------------------
    def get_metadata(self, key: str) -> dict[str, Any] | None:
        """The stored metadata document under ``key`` (a file's sha256), or ``None``."""
        path = self._path("metadata", key)
        data = self._read(path)
        if data is None:
            return None
        if not isinstance(data.get("metadata"), dict):
            self._discard(path)
            return None
        result: dict[str, Any] = data["metadata"]
        return result

    def discard_metadata(self, key: str) -> None:
        """Forget the metadata under ``key`` (it was stored but cannot be used)."""
        self._discard(self._path("metadata", key))

    def put_metadata(self, key: str, document: Mapping[str, Any]) -> None:
        """Store a metadata document under ``key``; kept forever (files are immutable)."""
        self._write(self._path("metadata", key), {"metadata": dict(document)})

    @staticmethod
    def url_key(url: str) -> str:
        """The key for metadata of a file the index gave no sha256 for."""
        return "url-" + _key(url)
