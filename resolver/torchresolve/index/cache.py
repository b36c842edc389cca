"""The on-disk cache of index pages and file metadata.

Layout under the root (one document per entry)::

    pages/<sha256 of URL>.json      a page body with its ETag / Last-Modified and fetch time
    parsed/<sha256 of URL, project, index>.marshal
                                    the files that page lists for one project, as plain rows
                                    (see :data:`~torchresolve.index.pages.FileRow`), with the
                                    page's validators, fetch time and body digest
    metadata/<sha256 of file>.json  the metadata of one distribution file (immutable)

The parsed entries exist for speed: reading ~50 big JSON pages and turning ~50,000 entries into
files took a second on every warm run; the rows are read back with :mod:`marshal` (plain tuples,
strings, numbers, dicts; no pickle, no code) and a format number, so an entry written by another
version of this code, or by another Python's marshal, is simply a miss and the page is parsed
again from ``pages/``.

Every write goes to a temporary file in the same folder and is renamed over the entry, so
concurrent runs and a killed process leave either the old entry or the new one. An entry that
cannot be read back (truncated, edited, wrong schema) is deleted and reported as a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torchresolve.index.pages import FileRow

__all__ = ["CACHE_ENV", "PARSED_FORMAT", "Cache", "CachedPage", "ParsedPage", "default_cache_dir"]

CACHE_ENV = "TORCHRESOLVE_CACHE_DIR"
_SCHEMA = 1
PARSED_FORMAT = 1
"""The version of the parsed-page entries; raise it whenever :data:`FileRow` changes."""
_PARSED_MAGIC = b"TRPF"
_MARSHAL_VERSION = 4


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedPage:
    """The files one page lists for one project, as rows, and the page they were parsed from.

    :ivar digest: sha256 of the page body the rows come from (a revalidated page whose body is
        unchanged reuses the rows).
    :ivar rows: the files; ``None`` when the page does not exist (HTTP 404).
    """

    url: str
    project: str
    index_url: str
    digest: str
    etag: str | None
    last_modified: str | None
    fetched: float
    rows: tuple[FileRow, ...] | None


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
        self._write_bytes(path, json.dumps(data, separators=(",", ":")).encode("utf-8"))

    @staticmethod
    def _write_bytes(path: Path, payload: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
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

    # -- parsed pages ----------------------------------------------------------
    def _parsed_path(self, url: str, project: str, index_url: str) -> Path:
        key = _key(f"{url}\n{project}\n{index_url}")
        return self.root / "parsed" / key[:2] / f"{key}.marshal"

    def get_parsed(self, url: str, *, project: str, index_url: str) -> ParsedPage | None:
        """The stored rows of ``project`` on the page at ``url``, or ``None``.

        An entry of another :data:`PARSED_FORMAT`, damaged, or for another page is discarded
        and reported as a miss. The rows themselves are checked when files are built from them
        (see :meth:`discard_parsed`).
        """
        path = self._parsed_path(url, project, index_url)
        try:
            payload = path.read_bytes()
        except OSError:
            return None
        header = _PARSED_MAGIC + PARSED_FORMAT.to_bytes(2, "big")
        try:
            if not payload.startswith(header):
                raise ValueError("not a parsed-page entry of this format")
            # A view, not a slice: the rows of a big project are megabytes.
            data = marshal.loads(memoryview(payload)[len(header) :])
            if not isinstance(data, tuple) or len(data) != 8:
                raise ValueError("wrong shape")
            stored_url, stored_project, stored_index, digest, etag, modified, fetched, rows = data
            if (stored_url, stored_project, stored_index) != (url, project, index_url):
                raise ValueError("entry of another page")
            if not isinstance(digest, str) or not isinstance(fetched, float):
                raise ValueError("wrong field types")
            if not (rows is None or isinstance(rows, tuple)):
                raise ValueError("wrong field types")
            if not (etag is None or isinstance(etag, str)):
                raise ValueError("wrong field types")
            if not (modified is None or isinstance(modified, str)):
                raise ValueError("wrong field types")
        except (ValueError, EOFError, TypeError):
            self._discard(path)
            return None
        return ParsedPage(
            url=url,
            project=project,
            index_url=index_url,
            digest=digest,
            etag=etag,
            last_modified=modified,
            fetched=fetched,
            rows=rows,
        )

    def put_parsed(self, page: ParsedPage) -> None:
        """Store ``page``'s rows (replacing any previous entry atomically)."""
        data = (
            page.url,
            page.project,
            page.index_url,
            page.digest,
            page.etag,
            page.last_modified,
            float(page.fetched),
            page.rows,
        )
        header = _PARSED_MAGIC + PARSED_FORMAT.to_bytes(2, "big")
        self._write_bytes(
            self._parsed_path(page.url, page.project, page.index_url),
            header + marshal.dumps(data, _MARSHAL_VERSION),
        )

    def discard_parsed(self, url: str, *, project: str, index_url: str) -> None:
        """Forget the rows of ``project`` on ``url`` (stored, but they cannot be used)."""
        self._discard(self._parsed_path(url, project, index_url))

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
