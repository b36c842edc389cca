"""Parse index pages into :class:`DistFile` tuples: PEP 691 JSON, PEP 503 HTML, find-links.

The parsers are pure: they take the page body and the URL it came from and return files.
Parsing goes through :data:`FileRow`, a plain tuple of strings, numbers and ``None`` holding
what a :class:`DistFile` is built from: the client stores the rows of each page in its cache
(``marshal``, no arbitrary objects), so a warm run rebuilds files from rows instead of
re-parsing tens of thousands of page entries, and builds only the files it keeps.
"""

from __future__ import annotations

import json
import posixpath
from datetime import datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from torchresolve.index.model import DistFile, FileKind
from torchresolve.index.tags import python_full_version, target_tags

if TYPE_CHECKING:
    from collections.abc import Container, Iterable, Mapping

    from packaging.utils import NormalizedName

    from torchresolve.target import Platform

__all__ = [
    "FileEntry",
    "FileRow",
    "PageFormatError",
    "TargetFilter",
    "file_from_link",
    "file_from_row",
    "files_from_links",
    "html_links",
    "json_page_rows",
    "parse_html_page",
    "parse_json_page",
    "row_from_link",
    "rows_from_links",
    "sdist_name_version",
]

FileRow = tuple[
    str,  # filename
    str,  # url (absolute, no fragment)
    str,  # version, as written in the file name
    str,  # kind: "wheel" or "sdist"
    str,  # compressed tag set of a wheel ("cp311-cp311-manylinux_2_17_x86_64"); "" for sdists
    str | None,  # requires-python as listed (parsed, and ignored when invalid, on use)
    str | None,  # yanked reason ("" when yanked without one); None when not yanked
    str | None,  # upload time, ISO 8601 accepted by datetime.fromisoformat
    dict[str, str],  # hashes
    int | None,  # size in bytes
    str | None,  # PEP 658 metadata URL
]
"""One listed file of one project as plain data: what :func:`file_from_row` builds from.

Rows are made only for files that passed every check (name of the project, wheel or sdist,
parsable version), so a row always builds a :class:`DistFile`.
"""

_NO_TAGS: frozenset[Tag] = frozenset()
_KINDS: dict[str, FileKind] = {"wheel": "wheel", "sdist": "sdist"}

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"


class PageFormatError(ValueError):
    """The body of a page cannot be parsed (truncated JSON, not a PEP 691 document)."""


# Pages of big projects list tens of thousands of files that share a few hundred distinct
# versions, tag triples and requires-python strings; parsing each distinct string once keeps
# a warm run (all pages from the cache) fast.
@lru_cache(maxsize=8192)
def _specifier(value: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(value)
    except InvalidSpecifier:
        # pip ignores a requires-python it cannot parse; so do we.
        return None


@lru_cache(maxsize=16384)
def _version(value: str) -> Version:
    return Version(value)


@lru_cache(maxsize=4096)
def _tag_set(value: str) -> frozenset[Tag]:
    return parse_tag(value)


@lru_cache(maxsize=4096)
def _canonical(value: str) -> NormalizedName:
    return canonicalize_name(value)


def _parse_wheel(filename: str) -> tuple[NormalizedName, str, str]:
    """Name, version string and compressed tag string of a wheel file name (validated).

    :raises InvalidWheelFilename: not ``name-version(-build)?-py-abi-platform.whl``.
    :raises InvalidVersion: the version is not PEP 440.
    """
    parts = filename[:-4].split("-")
    if len(parts) not in (5, 6):
        # packaging refuses these names; it raises the error that says why.
        parse_wheel_filename(filename)
        raise InvalidWheelFilename(filename)
    tags = "-".join(parts[-3:])
    _version(parts[1])
    _tag_set(tags)
    return _canonical(parts[0]), parts[1], tags


def _upload_time(value: object) -> str | None:
    """The upload time in a form :meth:`datetime.fromisoformat` reads; ``None`` if unreadable."""
    if not isinstance(value, str):
        return None
    text = value.replace("Z", "+00:00")
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return None
    return text


def _yanked(value: object) -> str | None:
    if value is None or value is False:
        return None
    if value is True:
        return ""
    return str(value)


def sdist_name_version(filename: str) -> tuple[NormalizedName, str] | None:
    """Split an sdist file name (``.tar.gz``, ``.zip``, ``.tar.bz2``...) into name and version."""
    lower = filename.lower()
    for ext in (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar"):
        if lower.endswith(ext):
            stem = filename[: -len(ext)]
            name, sep, version = stem.rpartition("-")
            if not sep or not name:
                return None
            return canonicalize_name(name), version
    return None


def row_from_link(
    *,
    project: NormalizedName,
    filename: str,
    url: str,
    requires_python: object = None,
    yanked: object = None,
    hashes: Mapping[str, str] | None = None,
    upload_time: object = None,
    size: object = None,
    metadata_url: str | None = None,
) -> FileRow | None:
    """The :data:`FileRow` of one listed link; ``None`` for files of another project or that
    are not wheels or sdists (eggs, installers, unparsable names)."""
    try:
        if filename.endswith(".whl"):
            name, version, tags = _parse_wheel(filename)
            kind = "wheel"
        else:
            try:
                name, parsed = parse_sdist_filename(filename)
                version = str(parsed)
            except InvalidSdistFilename:
                split = sdist_name_version(filename)
                if split is None:
                    return None
                name, version = split[0], split[1]
                _version(version)
            tags = ""
            kind = "sdist"
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion, ValueError):
        return None
    if name != project:
        return None
    return (
        filename,
        url,
        version,
        kind,
        tags,
        requires_python if isinstance(requires_python, str) and requires_python.strip() else None,
        _yanked(yanked),
        _upload_time(upload_time),
        dict(hashes or {}),
        size if isinstance(size, int) else None,
        metadata_url,
    )


def file_from_row(row: FileRow, *, project: NormalizedName, index_url: str) -> DistFile:
    """Build the :class:`DistFile` a row describes (see :data:`FileRow`).

    :raises ValueError: the row is malformed (a damaged cache entry).
    :raises TypeError: the row is malformed (a damaged cache entry).
    """
    (filename, url, version, kind, tags, requires_python, yanked, uploaded, hashes, size, meta) = (
        row
    )
    file_kind = _KINDS.get(kind)
    if file_kind is None:
        raise ValueError(f"not a file kind: {kind!r}")
    return DistFile(
        project=project,
        filename=filename,
        url=url,
        version=_version(version),
        kind=file_kind,
        tags=_tag_set(tags) if tags else _NO_TAGS,
        requires_python=None if requires_python is None else _specifier(requires_python),
        yanked=yanked,
        upload_time=None if uploaded is None else datetime.fromisoformat(uploaded),
        hashes=hashes,
        size=size,
        index_url=index_url,
        metadata_url=meta,
    )


FileEntry = tuple[
    str | Version, Version, datetime | None, bool, bool, DistFile | None, FileRow | None
]
"""What a target needs of one listed file: ``(key, version, upload time, yanked, compiled,
file, row)``. ``key`` is the version as the row wrote it (a string hashes much faster than a
:class:`Version`; equal versions may be written differently, ``1.0`` and ``1.0.0``), or the
version itself; ``compiled`` is true for a wheel with a platform-specific tag; ``file`` is built
only when it installs on the target (``None`` otherwise), and ``row`` is then the row it was
built from (``None`` when it was not built from a row)."""


class TargetFilter:
    """Tells from a row's raw fields whether its file installs on one target.

    The answer is :func:`~torchresolve.index.supports`'s, computed without building the file:
    the pages of big projects list tens of thousands of files sharing a few hundred tag strings
    and a handful of requires-python strings, so each distinct string is judged once (per
    filter) and only the files the target can install are built. Safe to share between
    threads: the memo dictionaries only ever gain entries with the same value.

    :param python: the target CPython ``X.Y``.
    :param platform: the target platform.
    """

    def __init__(self, python: Version, platform: Platform) -> None:
        self._accepted = target_tags(python, platform)
        self._python_full = python_full_version(python)
        self._python_ok: dict[str, bool] = {}
        self._tag_facts: dict[str, tuple[bool, bool]] = {"": (False, False)}

    def _allows_python(self, requires_python: str) -> bool:
        known = self._python_ok.get(requires_python)
        if known is None:
            spec = _specifier(requires_python)
            known = spec is None or spec.contains(self._python_full, prereleases=True)
            self._python_ok[requires_python] = known
        return known

    def _tags(self, tags: str) -> tuple[bool, bool]:
        """``(platform-specific, installs on the target)`` of a compressed tag string."""
        known = self._tag_facts.get(tags)
        if known is None:
            parsed = _tag_set(tags)
            known = (
                any(tag.platform != "any" for tag in parsed),
                not parsed.isdisjoint(self._accepted),
            )
            self._tag_facts[tags] = known
        return known

    def row_entries(
        self,
        rows: Iterable[FileRow],
        index_url: str,
        seen: Container[str],
        *,
        project: NormalizedName,
    ) -> dict[str, FileEntry]:
        """The :data:`FileEntry` of each row whose file name is not in ``seen``, by file name
        (the first row of a name wins); a file is built only when the target takes it.

        One loop over the rows, without a call per row: this runs for every listed file of
        every project a resolution reads (~50,000 for a torch project).

        :raises ValueError: a row is malformed (a damaged cache entry).
        :raises TypeError: a row is malformed (a damaged cache entry).
        """
        added: dict[str, FileEntry] = {}
        tag_facts = self._tag_facts
        python_ok = self._python_ok
        parse_time = datetime.fromisoformat
        for row in rows:
            name = row[0]
            if name in seen or name in added:
                continue
            (_, _, version, kind, tags, requires_python, yanked, uploaded, _, _, _) = row
            if kind not in _KINDS:
                raise ValueError(f"not a file kind: {kind!r}")
            facts = tag_facts.get(tags) or self._tags(tags)
            if requires_python is None:
                allowed: bool | None = True
            else:
                allowed = python_ok.get(requires_python)
                if allowed is None:
                    allowed = self._allows_python(requires_python)
            takes = allowed and (kind == "sdist" or facts[1])
            added[name] = (
                version,
                _version(version),
                None if uploaded is None else parse_time(uploaded),
                yanked is not None,
                facts[0],
                file_from_row(row, project=project, index_url=index_url) if takes else None,
                row if takes else None,
            )
        return added

    def file_entry(self, file: DistFile) -> FileEntry:
        """The :data:`FileEntry` of an already built ``file``."""
        compiled = any(tag.platform != "any" for tag in file.tags)
        takes = (
            file.requires_python is None
            or file.requires_python.contains(self._python_full, prereleases=True)
        ) and (file.kind == "sdist" or not file.tags.isdisjoint(self._accepted))
        return (
            file.version,
            file.version,
            file.upload_time,
            file.yanked is not None,
            compiled,
            file if takes else None,
            None,
        )


def file_from_link(
    *,
    project: NormalizedName,
    filename: str,
    url: str,
    index_url: str,
    requires_python: object = None,
    yanked: object = None,
    hashes: Mapping[str, str] | None = None,
    upload_time: object = None,
    size: object = None,
    metadata_url: str | None = None,
) -> DistFile | None:
    """Build a :class:`DistFile` from one listed link; ``None`` for files of another project
    or that are not wheels or sdists (eggs, installers, unparsable names)."""
    row = row_from_link(
        project=project,
        filename=filename,
        url=url,
        requires_python=requires_python,
        yanked=yanked,
        hashes=hashes,
        upload_time=upload_time,
        size=size,
        metadata_url=metadata_url,
    )
    return None if row is None else file_from_row(row, project=project, index_url=index_url)


def _strip_fragment(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    hashes: dict[str, str] = {}
    name, _, value = parts.fragment.partition("=")
    if value:
        hashes[name] = value
    return urlunsplit(parts._replace(fragment="")), hashes


def json_page_rows(body: bytes | str, *, page_url: str, project: str) -> tuple[FileRow, ...]:
    """The rows of ``project``'s files on a PEP 691 project page.

    :param page_url: the URL the page was fetched from; relative file URLs are joined to it.
    :raises PageFormatError: not valid JSON or not a version-1 PEP 691 document.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PageFormatError(f"invalid JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise PageFormatError("not a PEP 691 project page (no 'files' list)")
    api = str(data.get("meta", {}).get("api-version", "1.0"))
    if not api.startswith("1."):
        raise PageFormatError(f"unsupported repository API version {api}")
    canonical = canonicalize_name(project)
    found: list[FileRow] = []
    for entry in data["files"]:
        if not isinstance(entry, dict) or "filename" not in entry or "url" not in entry:
            continue
        raw_url = str(entry["url"])
        url = raw_url if raw_url.startswith(("https://", "http://")) else urljoin(page_url, raw_url)
        fragment_hashes: dict[str, str] = {}
        if "#" in url:
            url, fragment_hashes = _strip_fragment(url)
        hashes = entry.get("hashes") or fragment_hashes
        core = entry.get("core-metadata", entry.get("dist-info-metadata"))
        row = row_from_link(
            project=canonical,
            filename=str(entry["filename"]),
            url=url,
            requires_python=entry.get("requires-python"),
            yanked=entry.get("yanked"),
            hashes=hashes if isinstance(hashes, dict) else {},
            upload_time=entry.get("upload-time"),
            size=entry.get("size"),
            metadata_url=url + ".metadata" if core else None,
        )
        if row is not None:
            found.append(row)
    return tuple(found)


def parse_json_page(
    body: bytes | str, *, page_url: str, project: str, index_url: str
) -> tuple[DistFile, ...]:
    """Parse a PEP 691 project page.

    :param page_url: the URL the page was fetched from; relative file URLs are joined to it.
    :raises PageFormatError: not valid JSON or not a version-1 PEP 691 document.
    """
    canonical = canonicalize_name(project)
    return tuple(
        file_from_row(row, project=canonical, index_url=index_url)
        for row in json_page_rows(body, page_url=page_url, project=canonical)
    )


Link = tuple[str, "str | None", "str | None", "str | None"]
"""One link of an HTML page: ``(url, data-requires-python, data-yanked, data-core-metadata)``."""


class _LinkParser(HTMLParser):
    """Collects the ``<a href>`` attributes, the first ``<base href>`` and the
    ``pypi:repository-version`` meta of an HTML page (the parts PEP 503 gives a meaning)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.anchors: list[dict[str, str]] = []
        self.version: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("a", "base", "meta"):
            return
        # A valueless attribute (<a data-yanked>) is present with the value "";
        # a repeated attribute keeps its last value.
        found = {name: "" if value is None else value for name, value in attrs}
        if tag == "a" and "href" in found:
            self.anchors.append(found)
        elif tag == "base" and self.base is None and "href" in found:
            self.base = found["href"]
        elif (
            tag == "meta"
            and found.get("name") == "pypi:repository-version"
            and self.version is None
            and "content" in found
        ):
            self.version = found["content"]


def html_links(
    body: bytes | str, *, page_url: str, encoding: str | None = None
) -> tuple[Link, ...]:
    """Every link of a PEP 503 or find-links HTML page, with the attributes that matter.

    The URLs are absolute (joined to ``page_url`` and any ``<base href>``). Parsed with the
    standard library's :class:`html.parser.HTMLParser`, as leniently as a browser; this used
    to go through pypi_simple and BeautifulSoup, a tenth of a second to import and several
    times slower on the ~100 HTML pages of a cold resolution with local mirror indexes.

    :param encoding: the page's charset when bytes (default UTF-8; undecodable bytes are
        replaced).
    :raises PageFormatError: the page declares a repository version this reader does not know
        (``pypi:repository-version`` 2 or later).
    """
    text = body if isinstance(body, str) else body.decode(encoding or "utf-8", errors="replace")
    parser = _LinkParser()
    parser.feed(text)
    parser.close()
    if parser.version is not None:
        try:
            major = Version(parser.version).major
        except InvalidVersion as exc:
            raise PageFormatError(f"invalid repository version {parser.version!r}") from exc
        if major > 1:
            raise PageFormatError(f"unsupported repository version {parser.version}")
    base = page_url if parser.base is None else urljoin(page_url, parser.base)
    return tuple(
        (
            urljoin(base, anchor["href"]),
            anchor.get("data-requires-python"),
            anchor.get("data-yanked"),
            anchor.get("data-core-metadata") or anchor.get("data-dist-info-metadata"),
        )
        for anchor in parser.anchors
    )


def parse_html_page(
    body: bytes | str,
    *,
    page_url: str,
    project: str,
    index_url: str,
    encoding: str | None = None,
) -> tuple[DistFile, ...]:
    """Parse a PEP 503 project page or a find-links HTML page, keeping ``project``'s files.

    The file name is taken from the link target (not the link text): find-links pages such as
    the PyTorch ``torch_stable.html`` write ``cu101/torch-1.5.0+cu101-...whl`` as text.
    """
    return files_from_links(
        html_links(body, page_url=page_url, encoding=encoding),
        project=project,
        index_url=index_url,
    )


def rows_from_links(
    links: Iterable[tuple[str, str | None, str | None, str | None]], *, project: str
) -> tuple[FileRow, ...]:
    """Rows of ``project``'s files among ``(url, requires_python, yanked, core_metadata)``."""
    canonical = canonicalize_name(project)
    found: list[FileRow] = []
    for raw_url, requires_python, yanked, core in links:
        url, hashes = _strip_fragment(raw_url)
        filename = unquote(posixpath.basename(urlsplit(url).path))
        row = row_from_link(
            project=canonical,
            filename=filename,
            url=url,
            requires_python=requires_python,
            # In HTML, data-yanked present (even empty) means yanked.
            yanked="" if yanked == "" else yanked,
            hashes=hashes,
            metadata_url=url + ".metadata" if core and core.lower() != "false" else None,
        )
        if row is not None:
            found.append(row)
    return tuple(found)


def files_from_links(
    links: Iterable[tuple[str, str | None, str | None, str | None]],
    *,
    project: str,
    index_url: str,
) -> tuple[DistFile, ...]:
    """Files of ``project`` among ``(url, requires_python, yanked, core_metadata)`` links."""
    canonical = canonicalize_name(project)
    return tuple(
        file_from_row(row, project=canonical, index_url=index_url)
        for row in rows_from_links(links, project=canonical)
    )
