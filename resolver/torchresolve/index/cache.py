"""The on-disk cache of index pages and file metadata.

Layout under the root (one document per entry)::

    pages/<sha256 of URL>.marshal   an HTML page body with its ETag / Last-Modified and fetch
                                    time (JSON project pages are kept as parsed rows only)
    parsed/<sha256 of URL, project, index>.marshal
                                    the files that page lists for one project, as plain rows
                                    (see :data:`~torchresolve.index.pages.FileRow`), after a
                                    head with the page's validators, fetch time and body digest
    targets/<sha256 of key>.marshal one project's files as one target (Python, platform) sees
                                    them, with the digests of the rows of every source it was
                                    computed from (one entry per project, target and sources)
    metadata/<sha256 of file>.json  the metadata of one distribution file (immutable)

The parsed entries exist for speed: reading ~50 big JSON pages and turning ~50,000 entries into
files took a second on every warm run; the rows are read back with :mod:`marshal` (plain tuples,
strings, numbers, dicts; no pickle, no code) and a format number, so an entry written by another
version of this code, or by another Python's marshal, is simply a miss and the page is parsed
again from ``pages/``. The target views go one step further for the warm path: of ~50,000 rows
a target takes ~9,000, and a view holds those and a per-version summary of the rest.

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
    from collections.abc import Callable, Mapping

    from torchresolve.index.pages import FileRow

__all__ = [
    "CACHE_ENV",
    "PAGE_FORMAT",
    "PARSED_FORMAT",
    "TARGET_FORMAT",
    "Cache",
    "CachedPage",
    "ParsedHead",
    "ParsedPage",
    "default_cache_dir",
]

CACHE_ENV = "TORCHRESOLVE_CACHE_DIR"
_SCHEMA = 1
PARSED_FORMAT = 2
"""The version of the parsed-page entries; raise it whenever :data:`FileRow` changes."""
_PARSED_MAGIC = b"TRPF"
PAGE_FORMAT = 1
"""The version of the stored raw pages."""
_PAGE_MAGIC = b"TRPG"
TARGET_FORMAT = 1
"""The version of the target views; raise it whenever their content changes."""
_TARGET_MAGIC = b"TRPT"
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
class ParsedHead:
    """What a parsed-page entry says about its page, without the rows (see :class:`ParsedPage`)."""

    url: str
    project: str
    index_url: str
    digest: str
    etag: str | None
    last_modified: str | None
    fetched: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedPage(ParsedHead):
    """The files one page lists for one project, as rows, and the page they were parsed from.

    :ivar digest: sha256 of the page body the rows come from (a revalidated page whose body is
        unchanged reuses the rows).
    :ivar rows: the files; ``None`` when the page does not exist (HTTP 404).
    """

    rows: tuple[FileRow, ...] | None


def _check_validators(etag: object, modified: object, fetched: object) -> None:
    """Raise :class:`ValueError` unless these are a stored entry's validators and fetch time."""
    if not isinstance(fetched, float):
        raise ValueError("wrong field types")
    if not (etag is None or isinstance(etag, str)):
        raise ValueError("wrong field types")
    if not (modified is None or isinstance(modified, str)):
        raise ValueError("wrong field types")


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Cache:
    """A directory of cache entries; safe for threads and for concurrent processes.

    :param root: the cache directory; created on first write.
    :param on_error: told once, in one line, when an entry cannot be written (a read-only or
        full disk, a file where the folder should be); the run goes on without storing it.
    """

    def __init__(self, root: Path, *, on_error: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self.recovered: list[str] = []
        self.write_failures = 0
        """Entries that could not be written (the cache is an optimisation: nothing fails)."""
        self._on_error = on_error

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

    def _write_bytes(self, path: Path, payload: bytes) -> None:
        try:
            self._replace(path, payload)
        except OSError as exc:
            with self._lock:
                self.write_failures += 1
                first = self.write_failures == 1
            if first and self._on_error is not None:
                self._on_error(
                    f"cannot write the cache folder {self.root} ({exc.strerror or exc});"
                    " going on without storing what was read"
                )

    @staticmethod
    def _replace(path: Path, payload: bytes) -> None:
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

    # -- binary entries --------------------------------------------------------
    def _read_marshal(self, path: Path, magic: bytes, fmt: int) -> tuple[Any, ...] | None:
        """The tuple stored at ``path`` under ``magic`` and format ``fmt``; ``None`` when
        missing; an entry of another kind or format, damaged, or not holding a tuple is
        discarded (``None``)."""
        try:
            payload = path.read_bytes()
        except OSError:
            return None
        header = magic + fmt.to_bytes(2, "big")
        try:
            if not payload.startswith(header):
                raise ValueError("not an entry of this format")
            # A view, not a slice: entries of big projects are megabytes.
            value = marshal.loads(memoryview(payload)[len(header) :])
            if not isinstance(value, tuple):
                raise ValueError("wrong shape")
        except (ValueError, EOFError, TypeError):
            self._discard(path)
            return None
        return value

    def _write_marshal(self, path: Path, magic: bytes, fmt: int, value: Any) -> None:
        self._write_bytes(
            path, magic + fmt.to_bytes(2, "big") + marshal.dumps(value, _MARSHAL_VERSION)
        )

    # -- pages -----------------------------------------------------------------
    def _page_path(self, url: str) -> Path:
        key = _key(url)
        return self.root / "pages" / key[:2] / f"{key}.marshal"

    def get_page(self, url: str) -> CachedPage | None:
        """The stored page for ``url``, or ``None`` (missing or unreadable)."""
        path = self._page_path(url)
        data = self._read_marshal(path, _PAGE_MAGIC, PAGE_FORMAT)
        if data is None:
            return None
        try:
            if len(data) != 6:
                raise ValueError("wrong shape")
            stored_url, body, content_type, etag, modified, fetched = data
            if stored_url != url or not isinstance(body, bytes):
                raise ValueError("entry of another page")
            if not isinstance(content_type, str):
                raise ValueError("wrong field types")
            _check_validators(etag, modified, fetched)
        except ValueError:
            self._discard(path)
            return None
        return CachedPage(
            url=url,
            body=body,
            content_type=content_type,
            etag=etag,
            last_modified=modified,
            fetched=fetched,
        )

    def put_page(self, page: CachedPage) -> None:
        """Store ``page`` (replacing any previous entry atomically).

        The body is stored as bytes (:mod:`marshal`), not inside a JSON document: encoding and
        decoding ~20 MB of quoted JSON text was a visible share of a cold run's CPU time.
        """
        self._write_marshal(
            self._page_path(page.url),
            _PAGE_MAGIC,
            PAGE_FORMAT,
            (
                page.url,
                bytes(page.body),
                page.content_type,
                page.etag,
                page.last_modified,
                float(page.fetched),
            ),
        )

    # -- parsed pages ----------------------------------------------------------
    def _parsed_path(self, url: str, project: str, index_url: str) -> Path:
        key = _key(f"{url}\n{project}\n{index_url}")
        return self.root / "parsed" / key[:2] / f"{key}.marshal"

    def get_parsed_head(self, url: str, *, project: str, index_url: str) -> ParsedHead | None:
        """The validators, fetch time and body digest of the stored rows of ``project`` on
        ``url``, read without the rows (a few hundred bytes of a multi-megabyte entry).

        ``None`` when missing, damaged, of another format or for another page (then discarded).
        """
        path = self._parsed_path(url, project, index_url)
        try:
            with path.open("rb") as handle:
                start = handle.read(len(_PARSED_MAGIC) + 6)
                header = _PARSED_MAGIC + PARSED_FORMAT.to_bytes(2, "big")
                if len(start) != len(header) + 4 or not start.startswith(header):
                    raise ValueError("not a parsed-page entry of this format")
                size = int.from_bytes(start[len(header) :], "big")
                blob = handle.read(size)
        except OSError:
            return None
        except ValueError:
            self._discard(path)
            return None
        return self._head(path, blob, url, project, index_url)

    def _head(
        self, path: Path, blob: bytes | memoryview, url: str, project: str, index_url: str
    ) -> ParsedHead | None:
        """Decode a parsed entry's head; ``None`` when it is unusable (then discarded)."""
        try:
            data = marshal.loads(blob)
            if not isinstance(data, tuple) or len(data) != 7:
                raise ValueError("wrong shape")
            stored_url, stored_project, stored_index, digest, etag, modified, fetched = data
            if (stored_url, stored_project, stored_index) != (url, project, index_url):
                raise ValueError("entry of another page")
            if not isinstance(digest, str):
                raise ValueError("wrong field types")
            _check_validators(etag, modified, fetched)
        except (ValueError, EOFError, TypeError):
            self._discard(path)
            return None
        return ParsedHead(
            url=url,
            project=project,
            index_url=index_url,
            digest=digest,
            etag=etag,
            last_modified=modified,
            fetched=fetched,
        )

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
            if not payload.startswith(header) or len(payload) < len(header) + 4:
                raise ValueError("not a parsed-page entry of this format")
            size = int.from_bytes(payload[len(header) : len(header) + 4], "big")
            view = memoryview(payload)[len(header) + 4 :]
            head = self._head(path, view[:size], url, project, index_url)
            if head is None:
                return None
            rows = marshal.loads(view[size:])
            if not (rows is None or isinstance(rows, tuple)):
                raise ValueError("wrong field types")
        except (ValueError, EOFError, TypeError):
            self._discard(path)
            return None
        return ParsedPage(
            url=url,
            project=project,
            index_url=index_url,
            digest=head.digest,
            etag=head.etag,
            last_modified=head.last_modified,
            fetched=head.fetched,
            rows=rows,
        )

    def put_parsed(self, page: ParsedPage) -> None:
        """Store ``page``'s rows (replacing any previous entry atomically).

        The head (page, validators, fetch time, digest) comes first with its length, so
        :meth:`get_parsed_head` reads it without the rows.
        """
        head = marshal.dumps(
            (
                page.url,
                page.project,
                page.index_url,
                page.digest,
                page.etag,
                page.last_modified,
                float(page.fetched),
            ),
            _MARSHAL_VERSION,
        )
        self._write_bytes(
            self._parsed_path(page.url, page.project, page.index_url),
            _PARSED_MAGIC
            + PARSED_FORMAT.to_bytes(2, "big")
            + len(head).to_bytes(4, "big")
            + head
            + marshal.dumps(page.rows, _MARSHAL_VERSION),
        )

    def discard_parsed(self, url: str, *, project: str, index_url: str) -> None:
        """Forget the rows of ``project`` on ``url`` (stored, but they cannot be used)."""
        self._discard(self._parsed_path(url, project, index_url))

    # -- target views ----------------------------------------------------------
    def _target_path(self, key: str) -> Path:
        return self.root / "targets" / key[:2] / f"{key}.marshal"

    def get_target(self, key: str) -> tuple[Any, ...] | None:
        """The stored view under ``key`` (see :meth:`put_target`), or ``None``.

        The value is plain data (a tuple of tuples, strings, numbers); its fields are checked
        by the caller, who discards it with :meth:`discard_target` when it cannot be used.
        """
        return self._read_marshal(self._target_path(key), _TARGET_MAGIC, TARGET_FORMAT)

    def put_target(self, key: str, value: tuple[Any, ...]) -> None:
        """Store a project's files as one target sees them, under ``key`` (replacing what was
        there).

        ``key`` and the value together must name everything the view was computed from: the
        caller keeps the digests of the rows it read in the value and compares them on read.
        """
        self._write_marshal(self._target_path(key), _TARGET_MAGIC, TARGET_FORMAT, value)

    def discard_target(self, key: str) -> None:
        """Forget the view under ``key`` (stored, but it cannot be used)."""
        self._discard(self._target_path(key))

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
