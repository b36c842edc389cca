"""The index client: the files of a project across all sources, and each file's metadata.

Metadata is obtained cheapest first: the PEP 658/714 metadata file when the index offers one;
for wheels, HTTP range requests into the zip (central directory + METADATA only), else the whole
file when it is small; for sdists, static PEP 643 metadata from PKG-INFO, else the project JSON
API (only for the project's latest version), else the dependencies are marked unknown. Build
code is never run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urljoin

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from torchresolve._compat import file_url_path
from torchresolve.errors import IndexQueryError
from torchresolve.index.cache import PARSED_FORMAT, TARGET_FORMAT, CachedPage, ParsedPage
from torchresolve.index.http import BodyTooLarge, Fetcher, Response, SessionSource
from torchresolve.index.model import DistFile, Metadata, MetadataOrigin, TargetFiles
from torchresolve.index.pages import (
    HTML_TYPE,
    JSON_TYPE,
    FileEntry,
    FileRow,
    Link,
    PageFormatError,
    TargetFilter,
    file_from_row,
    html_links,
    json_page_rows,
    row_from_link,
    rows_from_links,
)
from torchresolve.index.wheelzip import NoRangeSupport, read_wheel_metadata
from torchresolve.observer import Observer

if TYPE_CHECKING:
    from collections.abc import Callable, Container, Iterable

    from packaging.utils import NormalizedName

    from torchresolve.index.cache import Cache
    from torchresolve.index.config import IndexConfig
    from torchresolve.index.http import TransferStats
    from torchresolve.target import Platform

_T = TypeVar("_T")
_PageRows = tuple[str, "tuple[FileRow, ...] | None"]
"""A page's body digest and its rows of one project (``None``: no such page)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Source:
    """One place a project's files are listed: a page (``url``), a local find-links
    ``folder``, or neither (a find-links location that does not exist); ``index_url`` is the
    index or find-links location the files are credited to."""

    url: str | None
    index_url: str
    folder: Path | None = None


__all__ = ["ACCEPT", "CacheMissError", "IndexClient", "json_api_url", "parse_metadata_text"]

ACCEPT = f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.01"
_NOT_FOUND = "x-torchresolve/not-found"
_JSON_TYPES = frozenset({JSON_TYPE, "application/json"})
_HTML_TYPES = frozenset({HTML_TYPE, "text/html"})


class CacheMissError(IndexQueryError):
    """Offline, and the cache lacks what was asked for; ``missing`` lists every URL."""

    def __init__(self, missing: Iterable[str]) -> None:
        self.missing = tuple(missing)
        shown = ", ".join(self.missing[:3])
        more = f" and {len(self.missing) - 3} more" if len(self.missing) > 3 else ""
        super().__init__(
            self.missing[0] if self.missing else "",
            f"not in the cache and --offline is set ({len(self.missing)} missing: {shown}{more})",
        )


def json_api_url(index_url: str, project: str) -> str | None:
    """The project JSON API URL next to a simple index: ``.../simple/`` -> ``.../pypi/P/json``.

    ``None`` when the index URL does not end in ``/simple/`` (no JSON API to derive).
    """
    base = index_url.rstrip("/")
    if not base.endswith("/simple"):
        return None
    return f"{base.removesuffix('/simple')}/pypi/{canonicalize_name(project)}/json"


def _opt_specifier(value: str | None) -> SpecifierSet | None:
    if not value or not value.strip():
        return None
    return _specifier(value)


# The metadata of the releases of one project repeat the same Requires-Dist lines (a warm
# upgrade run reads ~10,000 lines, ~900 distinct); each distinct line is parsed once. The
# objects are shared between Metadata values, which never change them.
@functools.lru_cache(maxsize=16384)
def _specifier(value: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(value)
    except InvalidSpecifier:
        return None


@functools.lru_cache(maxsize=16384)
def _requirement(line: str) -> Requirement:
    return Requirement(line)


def _requirements(lines: Iterable[str], problems: list[str]) -> tuple[Requirement, ...]:
    found: list[Requirement] = []
    for line in lines:
        try:
            found.append(_requirement(line))
        except InvalidRequirement:
            problems.append(f"skipped unparsable Requires-Dist {line!r}")
    return tuple(found)


def parse_metadata_text(text: str, file: DistFile, origin: MetadataOrigin) -> Metadata:
    """Parse a METADATA / PKG-INFO document (RFC 822 headers) into :class:`Metadata`.

    Unparsable ``Requires-Dist`` lines are skipped and listed in ``problems``; a missing or
    invalid Name/Version falls back to the file's.
    """
    import email.parser  # only when metadata is parsed, not on a warm run

    headers = email.parser.HeaderParser().parsestr(text)
    problems: list[str] = []
    try:
        version = Version(headers.get("Version", "") or str(file.version))
    except InvalidVersion:
        version = file.version
    name = canonicalize_name(headers.get("Name") or file.project)
    return Metadata(
        name=name,
        version=version,
        requires_dist=_requirements(headers.get_all("Requires-Dist") or [], problems),
        requires_python=_opt_specifier(headers.get("Requires-Python")),
        provides_extra=frozenset(
            str(canonicalize_name(e)) for e in headers.get_all("Provides-Extra") or []
        ),
        origin=origin,
        known=True,
        problems=tuple(problems),
    )


def _static_pkg_info(text: str) -> bool:
    """Whether PKG-INFO's dependencies are reliable: Metadata-Version >= 2.2, not dynamic."""
    import email.parser  # only when metadata is parsed, not on a warm run

    headers = email.parser.HeaderParser().parsestr(text)
    try:
        version = Version(headers.get("Metadata-Version", "0"))
    except InvalidVersion:
        return False
    dynamic = {d.strip().lower() for d in headers.get_all("Dynamic") or []}
    return version >= Version("2.2") and "requires-dist" not in dynamic


def _sdist_pkg_info(body: bytes, filename: str) -> str | None:
    """The top-level ``<name>-<version>/PKG-INFO`` of an sdist archive, if present."""
    import tarfile  # sdists only: not imported on the warm path

    try:
        if filename.lower().endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                names = [n for n in archive.namelist() if n.count("/") == 1]
                member = next((n for n in names if n.endswith("/PKG-INFO")), None)
                return None if member is None else archive.read(member).decode("utf-8", "replace")
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
            for info in archive:
                if info.isfile() and info.name.count("/") == 1 and info.name.endswith("/PKG-INFO"):
                    handle = archive.extractfile(info)
                    return None if handle is None else handle.read().decode("utf-8", "replace")
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError):
        return None
    return None


def _to_document(meta: Metadata) -> dict[str, Any]:
    return {
        "name": str(meta.name),
        "version": str(meta.version),
        "requires_dist": [str(r) for r in meta.requires_dist],
        "requires_python": None if meta.requires_python is None else str(meta.requires_python),
        "provides_extra": sorted(meta.provides_extra),
        "origin": meta.origin,
        "known": meta.known,
        "problems": list(meta.problems),
    }


def _from_document(doc: dict[str, Any]) -> Metadata:
    """Rebuild :class:`Metadata` from a cache document; raises on any malformed field."""
    return Metadata(
        name=canonicalize_name(str(doc["name"])),
        version=Version(str(doc["version"])),
        requires_dist=tuple(_requirement(str(r)) for r in doc["requires_dist"]),
        requires_python=_opt_specifier(doc["requires_python"]),
        provides_extra=frozenset(str(e) for e in doc["provides_extra"]),
        origin=doc["origin"],
        known=bool(doc["known"]),
        problems=tuple(str(p) for p in doc["problems"]),
    )


def _directory_rows(
    folder: Path, entries: tuple[str, ...], project: NormalizedName
) -> tuple[FileRow, ...]:
    """Rows of ``project``'s files among ``entries`` (names) of a local find-links directory."""
    url = folder.resolve().as_uri() + "/"
    found: list[FileRow] = []
    for name in entries:
        row = row_from_link(project=project, filename=name, url=url + quote(name))
        if row is None:
            continue
        entry = folder / name
        if entry.is_file():
            found.append((*row[:9], entry.stat().st_size, *row[10:]))
    return tuple(found)


def _target_files(project: NormalizedName, entries: Iterable[FileEntry]) -> TargetFiles:
    """Summarise the :data:`FileEntry` values of every file of ``project`` (in listing order).

    Files are first grouped by the entry's key (the version string of a row: tens of
    thousands of hashes of a :class:`Version` cost more than the rest), then the groups of
    equal versions are merged. The earliest upload time is the one ``min`` over the
    version's files in listing order gives: the first of equal times.
    """
    files: list[DistFile] = []
    # key -> [version, earliest upload, its position, some file not yanked]
    groups: dict[object, list[Any]] = {}
    compiled = False
    for position, (key, version, uploaded, yanked, platform_specific, file, _) in enumerate(
        entries
    ):
        group = groups.get(key)
        if group is None:
            group = groups[key] = [version, None, position, False]
        if uploaded is not None and (group[1] is None or uploaded < group[1]):
            group[1] = uploaded
            group[2] = position
        if not yanked:
            group[3] = True
        if platform_specific:
            compiled = True
        if file is not None:
            files.append(file)
    versions: dict[Version, None] = {}
    earliest: dict[Version, tuple[datetime, int]] = {}
    live: set[Version] = set()
    for version, uploaded, position, alive in groups.values():
        versions[version] = None
        if uploaded is not None:
            known = earliest.get(version)
            if (
                known is None
                or uploaded < known[0]
                or (uploaded == known[0] and position < known[1])
            ):
                earliest[version] = (uploaded, position)
        if alive:
            live.add(version)
    return TargetFiles(
        project=project,
        files=tuple(files),
        versions=tuple(versions),
        released={v: earliest[v][0] for v in versions if v in earliest},
        yanked=frozenset(v for v in versions if v not in live),
        compiled=compiled,
    )


def _rows_digest(rows: tuple[FileRow, ...]) -> str:
    """A digest naming the rows of a find-links folder (names, sizes...).

    Of their ``repr``, not of :func:`marshal.dumps`: marshal's bytes depend on which objects
    happen to be shared (its back-references), so equal rows can give different bytes.
    """
    return hashlib.sha256(repr(rows).encode("utf-8")).hexdigest()


def _encode_target(found: TargetFiles, entries: Iterable[FileEntry]) -> tuple[object, ...]:
    """:class:`TargetFiles` as plain data for the cache (see :func:`_decode_target`).

    Each file is written as the row it was built from (taken from ``entries``, those
    ``found`` was summarised from) and its source; versions are written as strings, upload
    times in ISO format.
    """
    sources = list(dict.fromkeys(f.index_url for f in found.files))
    where = {url: position for position, url in enumerate(sources)}
    kept = [
        (where[file.index_url], row)
        for _, _, _, _, _, file, row in entries
        if file is not None and row is not None
    ]
    return (
        tuple(sources),
        tuple(kept),
        tuple(str(v) for v in found.versions),
        tuple((str(v), t.isoformat()) for v, t in found.released.items()),
        tuple(str(v) for v in found.yanked),
        found.compiled,
    )


def _decode_target(project: NormalizedName, data: object) -> TargetFiles:
    """Rebuild :class:`TargetFiles` from :func:`_encode_target`'s data.

    :raises ValueError: (or TypeError, LookupError...) the data is malformed.
    """
    if not isinstance(data, tuple) or len(data) != 6:
        raise ValueError("wrong shape")
    sources, files, versions, released, yanked, compiled = data
    if not isinstance(compiled, bool):
        raise TypeError("wrong field types")
    parsed = {text: Version(text) for text in versions}
    return TargetFiles(
        project=project,
        files=tuple(
            file_from_row(row, project=project, index_url=str(sources[source]))
            for source, row in files
        ),
        versions=tuple(parsed.values()),
        released={parsed[v]: datetime.fromisoformat(t) for v, t in released},
        yanked=frozenset(parsed[v] for v in yanked),
        compiled=compiled,
    )


def _local_path(location: str) -> Path | None:
    """A find-links location as a local path, or ``None`` for a remote URL."""
    if location.startswith("file:"):
        return file_url_path(location)
    if "://" in location:
        return None
    return Path(location).expanduser()


class IndexClient:
    """Reads project files and file metadata from the configured sources, with a cache.

    :param config: the sources (see :func:`~torchresolve.index.load_index_config`).
    :param session: the HTTP session; size its pool to ``max_workers`` (see ``make_session``);
        or a function making it, called when the first network request is due.
    :param cache: the on-disk cache; ``None`` keeps results in memory for this client only.
    :param timeout: seconds per connect and per read.
    :param offline: answer from the cache only; a miss raises :class:`CacheMissError`.
    :param refresh: revalidate every cached page, and retry metadata that was unknown.
    :param observer: receives progress (fetching metadata) and notes (fallbacks taken).
    :param max_workers: parallel metadata fetches in :meth:`metadata_many`.
    :param retries: extra tries on timeouts, connection errors, 429 and 5xx.
    :param backoff: seconds before the first retry, doubled each time.
    :param page_ttl: seconds a cached page is used without asking the server again.
    :param max_download: largest file downloaded whole to read its metadata (bytes).
    """

    def __init__(
        self,
        config: IndexConfig,
        *,
        session: SessionSource,
        cache: Cache | None = None,
        timeout: float = 30.0,
        offline: bool = False,
        refresh: bool = False,
        observer: Observer | None = None,
        max_workers: int = 8,
        retries: int = 3,
        backoff: float = 0.5,
        page_ttl: float = 600.0,
        max_download: int = 20 * 1024 * 1024,
    ) -> None:
        self.config = config
        self.cache = cache
        self.offline = offline
        self.refresh = refresh
        self.observer = observer if observer is not None else Observer()
        self.max_workers = max(1, max_workers)
        self.page_ttl = page_ttl
        self.max_download = max_download
        self._fetcher = Fetcher(
            session, timeout=timeout, retries=retries, backoff=backoff, observer=self.observer
        )
        self._lock = threading.Lock()
        self._files: dict[str, tuple[DistFile, ...]] = {}
        self._targets: dict[tuple[str, Version, str], TargetFiles] = {}
        self._filters: dict[tuple[Version, str], TargetFilter] = {}
        self._project_locks: dict[str, threading.Lock] = {}
        self._metadata: dict[DistFile, Metadata] = {}
        self._refreshed: set[str] = set()
        self._links: dict[tuple[str, str], tuple[Link, ...]] = {}
        self._page_sources: dict[str, int] = {}
        self._listings: dict[str, tuple[str, ...]] = {}
        self._digests_read: dict[NormalizedName, tuple[str, ...]] = {}

    @property
    def stats(self) -> TransferStats:
        """Requests made and bytes received by this client so far."""
        return self._fetcher.stats

    # -- pages -------------------------------------------------------------------
    def _page(self, url: str, *, project: str, index_url: str) -> _PageRows:
        """The body digest and the rows of ``project``'s files on the page at ``url`` (rows
        ``None``: no such page).

        Fast path: the parsed entry of the page (rows, validators, fetch time) when it is fresh
        (or offline); the raw page is then not read at all. A stale parsed entry is revalidated
        with its own validators, and a 304 keeps its rows (again without the raw page). Without
        a parsed entry, the raw page is read, revalidated or fetched as needed and parsed. A
        new body is parsed (unless the parsed entry holds rows of the same body) and both
        entries are written.
        """
        cache = self.cache
        revalidate = self.refresh and url not in self._refreshed
        parsed = None
        if cache is not None:
            parsed = cache.get_parsed(url, project=project, index_url=index_url)
            fresh_rows = parsed is not None and time.time() - parsed.fetched < self.page_ttl
            if parsed is not None and (self.offline or (fresh_rows and not revalidate)):
                self._count_page("parsed-cache")
                return parsed.digest, parsed.rows
        # With stored rows the raw page is not needed: a 304 confirms the rows' body.
        cached = cache.get_page(url) if cache is not None and parsed is None else None
        if self.offline:
            if cached is None:
                raise CacheMissError([url])
            self._count_page("page-cache")
            return self._rows(cached, project=project, index_url=index_url)
        fresh = cached is not None and time.time() - cached.fetched < self.page_ttl
        if cached is not None and fresh and not revalidate:
            try:
                stored = self._rows(cached, project=project, index_url=index_url)
            except IndexQueryError:
                cached = None  # an unusable entry: fetch it again
            else:
                self._count_page("page-cache")
                return stored
        problem = ""
        for attempt in range(self._fetcher.retries + 1):
            if attempt:
                time.sleep(self._fetcher.backoff * (2 ** (attempt - 1)))
            headers = {"Accept": ACCEPT}
            known = parsed if parsed is not None else cached
            if known is not None and attempt == 0:
                if known.etag:
                    headers["If-None-Match"] = known.etag
                if known.last_modified:
                    headers["If-Modified-Since"] = known.last_modified
            response = self._fetcher.get(url, headers=headers, kind="page")
            with self._lock:
                self._refreshed.add(url)
            if response.status == 304 and parsed is not None:
                if cache is not None:
                    cache.put_parsed(
                        dataclasses.replace(
                            parsed,
                            etag=response.headers.get("etag", parsed.etag),
                            last_modified=response.headers.get(
                                "last-modified", parsed.last_modified
                            ),
                            fetched=time.time(),
                        )
                    )
                self._count_page("network")
                return parsed.digest, parsed.rows
            if response.status == 304 and cached is not None:
                page = CachedPage(
                    url=url,
                    body=cached.body,
                    content_type=cached.content_type,
                    etag=response.headers.get("etag", cached.etag),
                    last_modified=response.headers.get("last-modified", cached.last_modified),
                    fetched=time.time(),
                )
            elif response.status == 404:
                page = CachedPage(
                    url=url,
                    body=b"",
                    content_type=_NOT_FOUND,
                    etag=None,
                    last_modified=None,
                    fetched=time.time(),
                )
            else:
                page = self._page_from(response, url)
            try:
                digest, rows = self._rows(page, project=project, index_url=index_url, store=False)
            except _RetryablePage as exc:
                problem = exc.problem
                self.observer.note(f"{url}: {problem}; retrying")
                continue
            if cache is not None:
                if page.content_type not in _JSON_TYPES:
                    # A JSON project page lists one project: its parsed entry (rows,
                    # validators, digest) is all a later run reads. An HTML page (a find-links
                    # page lists every project) is kept for the projects not parsed yet.
                    cache.put_page(page)
                self._store_rows(page, rows, project=project, index_url=index_url, digest=digest)
            self._count_page("network")
            return digest, rows
        raise IndexQueryError(url, f"{problem} (gave up after {self._fetcher.retries + 1} tries)")

    def _count_page(self, source: str, count: int = 1) -> None:
        with self._lock:
            self._page_sources[source] = self._page_sources.get(source, 0) + count

    @property
    def page_sources(self) -> dict[str, int]:
        """How many page reads were answered from where, so far: ``target-cache`` (a stored
        target view of :meth:`files_for`, counted once per source it stands for; no row read),
        ``parsed-cache`` (stored rows, nothing parsed), ``page-cache`` (a stored page, parsed
        here) and ``network``."""
        with self._lock:
            return dict(self._page_sources)

    @staticmethod
    def _page_from(response: Response, url: str) -> CachedPage:
        return CachedPage(
            url=url,
            body=response.body,
            content_type=response.content_type,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            fetched=time.time(),
        )

    def _rows(
        self, page: CachedPage, *, project: str, index_url: str, store: bool = True
    ) -> _PageRows:
        """The body digest and rows of ``project`` on ``page``: from the parsed entry when it
        was made from the same body, else parsed now (and stored when ``store``)."""
        digest = hashlib.sha256(page.body).hexdigest()
        if self.cache is not None:
            parsed = self.cache.get_parsed(page.url, project=project, index_url=index_url)
            if parsed is not None and parsed.digest == digest:
                return digest, parsed.rows
        rows = self._parse_page(page, project=project, digest=digest)
        if store:
            self._store_rows(page, rows, project=project, index_url=index_url, digest=digest)
        return digest, rows

    def _store_rows(
        self,
        page: CachedPage,
        rows: tuple[FileRow, ...] | None,
        *,
        project: str,
        index_url: str,
        digest: str | None = None,
    ) -> None:
        if self.cache is None:
            return
        self.cache.put_parsed(
            ParsedPage(
                url=page.url,
                project=project,
                index_url=index_url,
                digest=digest or hashlib.sha256(page.body).hexdigest(),
                etag=page.etag,
                last_modified=page.last_modified,
                fetched=page.fetched,
                rows=rows,
            )
        )

    def _parse_page(
        self, page: CachedPage, *, project: str, digest: str
    ) -> tuple[FileRow, ...] | None:
        if page.content_type == _NOT_FOUND:
            return None
        if page.content_type in _JSON_TYPES:
            try:
                return json_page_rows(page.body, page_url=page.url, project=project)
            except PageFormatError as exc:
                raise _RetryablePage(page.url, str(exc)) from exc
        if page.content_type in _HTML_TYPES:
            # A find-links page (torch_stable.html: thousands of links) serves every project;
            # its links are parsed once per client, then filtered per project.
            memo_key = (page.url, digest)
            with self._lock:
                links = self._links.get(memo_key)
            if links is None:
                try:
                    links = html_links(page.body, page_url=page.url)
                except PageFormatError as exc:
                    raise IndexQueryError(page.url, str(exc)) from exc
                with self._lock:
                    self._links[memo_key] = links
            return rows_from_links(links, project=project)
        raise IndexQueryError(
            page.url, f"unexpected content type {page.content_type or '(none)'!r} for an index page"
        )

    def _files_from_rows(
        self,
        rows: Iterable[FileRow],
        found: dict[str, _T],
        *,
        build: Callable[[Iterable[FileRow], str, Container[str]], dict[str, _T]],
        project: NormalizedName,
        index_url: str,
        url: str,
    ) -> None:
        """Add what ``build`` makes of the rows not yet in ``found`` (by file name); only
        those are built (``build(rows, index_url, found)``: by file name, first row wins).

        All or nothing: ``found`` is left as it was when a row cannot be built.

        :raises IndexQueryError: a row cannot be built (a damaged parsed entry; discarded).
        """
        try:
            added = build(rows, index_url, found)
        except (ValueError, TypeError, LookupError, InvalidVersion, AttributeError) as exc:
            if self.cache is not None:
                self.cache.discard_parsed(url, project=project, index_url=index_url)
            raise _DamagedRows(url, f"damaged parsed cache entry ({exc})") from exc
        found.update(added)

    # -- files ---------------------------------------------------------------------
    def files(self, project: str) -> tuple[DistFile, ...]:
        """Every file of ``project`` from all sources: index, extra indexes, then find-links.

        A file name seen in an earlier source hides the same name in later ones. A project
        missing from a source contributes nothing; missing everywhere gives ``()``.

        :raises IndexQueryError: a source failed after retries or answered nonsense.
        :raises CacheMissError: offline and a page is not cached.
        """
        canonical = canonicalize_name(project)
        with self._lock:
            if canonical in self._files:
                return self._files[canonical]
            # One fetch per project even when threads ask for it at the same time.
            project_lock = self._project_locks.setdefault(canonical, threading.Lock())
        with project_lock:
            with self._lock:
                if canonical in self._files:
                    return self._files[canonical]
            result = self._collect_files(canonical)
            with self._lock:
                self._files[canonical] = result
            return result

    def files_for(self, project: str, python: Version, platform: Platform) -> TargetFiles:
        """The files of ``project`` that install on CPython ``python`` on ``platform``.

        The same files as :meth:`files` filtered by :func:`~torchresolve.index.supports`
        (yanked files included), with the versions, earliest upload times, yanked versions and
        platform-specific wheels of *all* files summarised in :class:`TargetFiles`. Only the
        files the target takes are built, which makes this much cheaper than :meth:`files` for
        projects with thousands of files (torch, numpy). Reads the same sources the same way;
        when :meth:`files` already answered for ``project``, its files are reused.

        :param python: the target ``X.Y``.
        :raises IndexQueryError: a source failed after retries or answered nonsense.
        :raises CacheMissError: offline and a page is not cached.
        """
        canonical = canonicalize_name(project)
        key = (canonical, python, platform)
        with self._lock:
            known = self._targets.get(key)
            if known is not None:
                return known
            every = self._files.get(canonical)
            target = self._filters.get((python, platform))
            if target is None:
                target = self._filters[python, platform] = TargetFilter(python, platform)
            project_lock = self._project_locks.setdefault(canonical, threading.Lock())
        if every is not None:
            result = _target_files(canonical, map(target.file_entry, every))
        else:
            with project_lock:
                with self._lock:
                    known = self._targets.get(key)
                if known is not None:
                    return known
                result = self._stored_target(canonical, python, platform, target)
        with self._lock:
            self._targets[key] = result
        return result

    def _stored_target(
        self, canonical: NormalizedName, python: Version, platform: Platform, target: TargetFilter
    ) -> TargetFiles:
        """:meth:`files_for` through the cache's target views.

        One view per project, target and sources (a slot, rewritten when the rows change, so
        the cache does not grow with every new page), holding the digests of the rows it was
        computed from. When every source is answered by a fresh parsed entry of those digests,
        the view answers without any row being read; else the rows are read and filtered, and
        the slot is rewritten with the digests of the rows read.
        """
        slot = self._target_slot(canonical, python, platform)
        known = self._sources_digest(canonical)
        if known is not None and self.cache is not None:
            stored = self.cache.get_target(slot)
            if stored is not None:
                try:
                    digests, view = stored
                    fresh = digests == tuple(known)
                    result = _decode_target(canonical, view) if fresh else None
                except (ValueError, TypeError, LookupError, InvalidVersion, AttributeError):
                    self.cache.discard_target(slot)
                    result = None
                if result is not None:
                    self._count_page("target-cache", len(known))
                    with self._lock:
                        self._digests_read[canonical] = tuple(known)
                    return result
        build = functools.partial(target.row_entries, project=canonical)
        digests_read: list[str] = []
        entries = self._collect(canonical, build, digests_read)
        result = _target_files(canonical, entries.values())
        if self.cache is not None:
            view = _encode_target(result, entries.values())
            self.cache.put_target(slot, (tuple(digests_read), view))
        return result

    def files_many(self, projects: Iterable[str]) -> dict[NormalizedName, tuple[DistFile, ...]]:
        """:meth:`files` of many projects, fetched in parallel (up to ``max_workers``).

        :raises CacheMissError: offline; lists every page missing from the cache.
        :raises IndexQueryError: the first failure, after all fetches ended.
        """
        names = list(dict.fromkeys(canonicalize_name(p) for p in projects))
        results: dict[NormalizedName, tuple[DistFile, ...]] = {}
        missing: list[str] = []
        failures: list[IndexQueryError] = []
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            futures = {pool.submit(self.files, name): name for name in names}
            for future in as_completed(futures):
                try:
                    results[futures[future]] = future.result()
                except CacheMissError as exc:
                    missing.extend(exc.missing)
                except IndexQueryError as exc:
                    failures.append(exc)
        if missing:
            raise CacheMissError(sorted(missing))
        if failures:
            raise failures[0]
        return {name: results[name] for name in names}

    def _collect_files(self, canonical: NormalizedName) -> tuple[DistFile, ...]:
        def build(
            rows: Iterable[FileRow], index_url: str, seen: Container[str]
        ) -> dict[str, DistFile]:
            added: dict[str, DistFile] = {}
            for row in rows:
                name = row[0]
                if name not in seen and name not in added:
                    added[name] = file_from_row(row, project=canonical, index_url=index_url)
            return added

        return tuple(self._collect(canonical, build).values())

    def _collect(
        self,
        canonical: NormalizedName,
        build: Callable[[Iterable[FileRow], str, Container[str]], dict[str, _T]],
        digests: list[str] | None = None,
    ) -> dict[str, _T]:
        """What ``build`` makes of every row of ``canonical`` from all sources, by file name
        (a name seen in an earlier source hides the same name in later ones).

        :param digests: receives one digest per source, in order, naming the rows it gave
            (see :meth:`_sources_digest`).
        """
        found: dict[str, _T] = {}
        sink: list[str] = [] if digests is None else digests
        for source in self._sources(canonical):
            if source.folder is not None:
                rows = _directory_rows(source.folder, self._listing(source.folder), canonical)
                sink.append(_rows_digest(rows))
                self._files_from_rows(
                    rows,
                    found,
                    build=build,
                    project=canonical,
                    index_url=source.index_url,
                    url=source.index_url,
                )
            elif source.url is None:
                self.observer.note(
                    f"find-links location {source.index_url} does not exist; skipped"
                )
                sink.append("absent")
            else:
                sink.append(
                    self._add_page_files(
                        source.url, found, build, project=canonical, index_url=source.index_url
                    )
                )
        with self._lock:
            self._digests_read[canonical] = tuple(sink)
        return found

    def sources_digest(self, project: str) -> tuple[str, ...] | None:
        """One digest per source (indexes, then find-links) naming the rows of ``project``
        it lists, as the cache holds them now; ``None`` unless every source would be answered
        from the cache without asking the server (fresh entries, or offline; no ``refresh``).

        Reads no rows and makes no request: for checking a result computed from earlier
        reads (see :meth:`digests_read`) against the cache.
        """
        found = self._sources_digest(canonicalize_name(project))
        return None if found is None else tuple(found)

    def digests_read(self) -> dict[NormalizedName, tuple[str, ...]]:
        """The :meth:`sources_digest` of every project this client has read so far, as it
        was when read."""
        with self._lock:
            return dict(self._digests_read)

    def _sources_digest(self, canonical: NormalizedName) -> list[str] | None:
        """The digest of every source's rows of ``canonical`` as the cache holds them now,
        without reading the rows; ``None`` when some source would not be answered from a
        fresh parsed entry (a miss, a stale entry, ``refresh``, a missing find-links folder):
        then the rows are read the usual way.

        The digests are those :meth:`_collect` reports for the same sources.
        """
        cache = self.cache
        if cache is None or self.refresh:
            return None
        now = time.time()
        found: list[str] = []

        def head(url: str, index_url: str) -> bool:
            entry = cache.get_parsed_head(url, project=canonical, index_url=index_url)
            if entry is None or not (self.offline or now - entry.fetched < self.page_ttl):
                return False
            found.append(entry.digest)
            return True

        for source in self._sources(canonical):
            if source.folder is not None:
                rows = _directory_rows(source.folder, self._listing(source.folder), canonical)
                found.append(_rows_digest(rows))
            elif source.url is None or not head(source.url, source.index_url):
                return None  # a missing find-links location: the usual way notes it
        return found

    def _sources(self, canonical: NormalizedName) -> list[_Source]:
        """Where ``canonical``'s files are listed, in order: each index's project page, then
        each find-links location (a local folder, a page, or one that does not exist)."""
        found = [
            _Source(url=urljoin(index_url, quote(canonical) + "/"), index_url=index_url)
            for index_url in self.config.indexes
        ]
        for location in self.config.find_links:
            local = _local_path(location)
            if local is not None and local.is_dir():
                found.append(_Source(url=None, index_url=location, folder=local))
            elif local is not None and not local.exists():
                found.append(_Source(url=None, index_url=location))
            else:
                url = location if local is None else local.resolve().as_uri()
                found.append(_Source(url=url, index_url=location))
        return found

    def _target_slot(self, canonical: NormalizedName, python: Version, platform: Platform) -> str:
        """The cache key of a project's target view: the project, the target, the sources and
        the formats (the view holds rows: PARSED_FORMAT names it too), not the rows' digests,
        which the view carries."""
        sources = [*self.config.indexes, "--find-links", *self.config.find_links]
        text = "\n".join(
            [f"{TARGET_FORMAT}.{PARSED_FORMAT}", canonical, str(python), platform, *sources]
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _listing(self, folder: Path) -> tuple[str, ...]:
        """The sorted entry names of a find-links directory, listed once per client."""
        key = str(folder)
        with self._lock:
            names = self._listings.get(key)
        if names is None:
            names = tuple(sorted(entry.name for entry in folder.iterdir()))
            with self._lock:
                self._listings[key] = names
        return names

    def _add_page_files(
        self,
        url: str,
        found: dict[str, _T],
        build: Callable[[Iterable[FileRow], str, Container[str]], dict[str, _T]],
        *,
        project: NormalizedName,
        index_url: str,
    ) -> str:
        """Add the files of the page at ``url``; returns the digest of the page's body."""
        digest, rows = self._page(url, project=project, index_url=index_url)
        try:
            self._files_from_rows(
                rows or (), found, build=build, project=project, index_url=index_url, url=url
            )
        except _DamagedRows:
            # The parsed entry was discarded; the raw page (or the network) answers instead.
            digest, rows = self._page(url, project=project, index_url=index_url)
            self._files_from_rows(
                rows or (), found, build=build, project=project, index_url=index_url, url=url
            )
        return digest

    # -- metadata ----------------------------------------------------------------------
    def metadata(self, file: DistFile) -> Metadata:
        """The dependency metadata of ``file`` (cached forever, keyed by its sha256).

        :raises CacheMissError: offline and not cached.
        :raises IndexQueryError: the file could not be read after retries.
        """
        with self._lock:
            known = self._metadata.get(file)
        if known is not None:
            return known
        key = file.sha256 or self._cache_key_for(file)
        meta: Metadata | None = None
        if self.cache is not None:
            doc = self.cache.get_metadata(key)
            if doc is not None:
                try:
                    meta = _from_document(doc)
                except (KeyError, TypeError, ValueError, InvalidRequirement, InvalidVersion):
                    self.cache.discard_metadata(key)
                    meta = None
                if meta is not None and not meta.known and self.refresh and not self.offline:
                    meta = None  # an unknown answer is worth asking again on --refresh
        if meta is None:
            if self.offline:
                raise CacheMissError([file.url])
            meta = self._fetch_metadata(file)
            if self.cache is not None:
                self.cache.put_metadata(key, _to_document(meta))
        with self._lock:
            self._metadata[file] = meta
        return meta

    @staticmethod
    def _cache_key_for(file: DistFile) -> str:
        from torchresolve.index.cache import Cache

        return Cache.url_key(file.url)

    def metadata_many(self, files: Iterable[DistFile]) -> dict[DistFile, Metadata]:
        """Metadata of many files, fetched in parallel by up to ``max_workers`` threads.

        :raises CacheMissError: offline; lists every file missing from the cache.
        :raises IndexQueryError: the first failure, after all fetches ended.
        """
        todo = list(dict.fromkeys(files))
        results: dict[DistFile, Metadata] = {}
        missing: list[str] = []
        failures: list[IndexQueryError] = []
        label = "metadata"
        self.observer.task_started(label, len(todo))
        try:
            with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
                futures = {pool.submit(self.metadata, f): f for f in todo}
                for future in as_completed(futures):
                    dist = futures[future]
                    try:
                        results[dist] = future.result()
                    except CacheMissError as exc:
                        missing.extend(exc.missing)
                    except IndexQueryError as exc:
                        failures.append(exc)
                    self.observer.task_advanced(label, 1, dist.filename)
        finally:
            self.observer.task_finished(label)
        if missing:
            raise CacheMissError(sorted(missing))
        if failures:
            raise failures[0]
        return {f: results[f] for f in todo}

    def _fetch_metadata(self, file: DistFile) -> Metadata:
        if file.metadata_url is not None:
            response = self._fetcher.get(file.metadata_url, kind="metadata")
            if response.status == 200:
                text = response.body.decode("utf-8", errors="replace")
                return parse_metadata_text(text, file, "pep658")
        if file.kind == "wheel":
            return self._wheel_metadata(file)
        return self._sdist_metadata(file)

    def _wheel_metadata(self, file: DistFile) -> Metadata:
        try:
            read = read_wheel_metadata(
                self._fetcher, file.url, project=file.project, max_download=self.max_download
            )
        except NoRangeSupport as exc:
            size = f"{exc.length} bytes" if exc.length else "too large"
            problem = (
                f"{file.url}: the server ignores range requests and the file ({size}) is over "
                f"the {self.max_download}-byte download limit; dependencies unknown"
            )
            return self._unknown(file, problem)
        origin: MetadataOrigin = "range" if read.origin == "range" else "download"
        return parse_metadata_text(read.text, file, origin)

    def _sdist_metadata(self, file: DistFile) -> Metadata:
        problems: list[str] = []
        pkg_info: str | None = None
        try:
            response = self._fetcher.get(file.url, kind="download", max_bytes=self.max_download)
            if response.status == 200:
                pkg_info = _sdist_pkg_info(response.body, file.filename)
                if pkg_info is None:
                    problems.append("sdist has no readable PKG-INFO")
            else:
                problems.append(f"sdist download answered HTTP {response.status}")
        except BodyTooLarge:
            problems.append(f"sdist is over the {self.max_download}-byte download limit")
        if pkg_info is not None:
            if _static_pkg_info(pkg_info):
                return parse_metadata_text(pkg_info, file, "pkg-info")
            problems.append("PKG-INFO is older than 2.2 or declares Requires-Dist dynamic")
        from_api = self._json_api_metadata(file, problems)
        if from_api is not None:
            return from_api
        problem = (
            f"dependencies of {file.filename} are unknown ({'; '.join(problems)}); "
            "build code is not run"
        )
        return self._unknown(file, problem)

    def _unknown(self, file: DistFile, problem: str) -> Metadata:
        """Metadata whose dependencies could not be read, saying why (and telling the user)."""
        self.observer.note(problem)
        return Metadata(
            name=file.project,
            version=file.version,
            origin="unknown",
            known=False,
            requires_python=file.requires_python,
            problems=(problem,),
        )

    def _json_api_metadata(self, file: DistFile, problems: list[str]) -> Metadata | None:
        url = json_api_url(file.index_url, file.project)
        if url is None:
            problems.append("no project JSON API for this source")
            return None
        response = self._fetcher.get(url, kind="json-api")
        if response.status != 200:
            problems.append(f"project JSON API answered HTTP {response.status}")
            return None
        try:
            info = json.loads(response.body)["info"]
            latest = Version(str(info["version"]))
        except (ValueError, KeyError, TypeError, InvalidVersion):
            problems.append("project JSON API answered an unreadable document")
            return None
        if latest != file.version:
            problems.append(f"project JSON API describes {latest} only")
            return None
        lines = info.get("requires_dist")
        if lines is None:
            problems.append("project JSON API gives no requires_dist")
            return None
        found: list[str] = []
        requires = _requirements([str(x) for x in lines], found)
        return Metadata(
            name=file.project,
            version=file.version,
            requires_dist=requires,
            requires_python=_opt_specifier(info.get("requires_python")),
            provides_extra=frozenset(
                str(canonicalize_name(e)) for e in info.get("provides_extra") or []
            ),
            origin="json-api",
            known=True,
            problems=tuple(found),
        )


class _RetryablePage(IndexQueryError):
    """A page body that could not be parsed (truncated JSON); worth fetching again."""


class _DamagedRows(IndexQueryError):
    """A parsed cache entry whose rows do not build files; it was discarded."""
