"""Read ``METADATA`` out of a remote wheel with HTTP range requests.

A zip file keeps its table of contents (the central directory) at the end. A suffix range
request fetches the tail; :mod:`zipfile` then reads the central directory from it and asks for
the bytes of the one member it needs, which a second range request fetches. A torch wheel of
800 MB costs two requests and about 100 kB this way.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING

from torchresolve._compat import file_url_path
from torchresolve.errors import IndexQueryError

if TYPE_CHECKING:
    from torchresolve.index.http import Fetcher

__all__ = [
    "NoRangeSupport",
    "WheelRead",
    "find_metadata_member",
    "open_remote_wheel",
    "read_wheel_metadata",
]

_TAIL = 1 << 16
_MIN_FETCH = 1 << 14
_BACK_MAX = 4 << 20
"""The most read before a missing span in the same request (see :meth:`_RangeFile._slice`)."""
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class NoRangeSupport(Exception):
    """The server ignored the Range header and the whole file is over the download limit."""

    def __init__(self, length: int | None) -> None:
        self.length = length
        super().__init__("server ignores range requests and the file is too large to download")


class WheelRead:
    """The outcome of reading a wheel: the METADATA text and how it was read."""

    __slots__ = ("origin", "text")

    def __init__(self, text: str, origin: str) -> None:
        self.text = text
        self.origin = origin


class _RangeFile(io.RawIOBase):
    """A seekable read-only file over a remote object, fetching missing spans on demand."""

    def __init__(self, fetcher: Fetcher, url: str, size: int, start: int, tail: bytes) -> None:
        super().__init__()
        self._fetcher = fetcher
        self._url = url
        self._size = size
        self._pos = 0
        self._spans: list[tuple[int, bytes]] = [(start, tail)]
        self._missed = False

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        end = min(self._pos + size, self._size)
        if end <= self._pos:
            return b""
        data = self._slice(self._pos, end)
        self._pos = end
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _slice(self, start: int, end: int) -> bytes:
        for span_start, data in self._spans:
            if span_start <= start and end <= span_start + len(data):
                return data[start - span_start : end - span_start]
        fetch_end = min(self._size, max(end, start + _MIN_FETCH))
        fetch_start = start
        if not self._missed:
            # The first read beyond the tail is a central directory too big for it. A wheel's
            # .dist-info files (METADATA, then RECORD, about as big as the directory) are
            # written last, just before it: reading that far back in the same request saves a
            # round trip for the METADATA that is read next.
            self._missed = True
            fetch_start = max(0, start - min(_BACK_MAX, (end - start) + _TAIL))
        data = self._fetch(fetch_start, fetch_end)
        self._spans.append((fetch_start, data))
        return data[start - fetch_start : end - fetch_start]

    def _fetch(self, start: int, end: int) -> bytes:
        response = self._fetcher.get(
            self._url, headers={"Range": f"bytes={start}-{end - 1}"}, kind="range"
        )
        if response.status != 206 or len(response.body) < end - start:
            raise IndexQueryError(
                self._url, f"range request answered HTTP {response.status} with a short body"
            )
        return response.body[: end - start]


def find_metadata_member(names: list[str], project: str | None = None) -> str | None:
    """The ``<name>-<version>.dist-info/METADATA`` member among ``names``.

    Prefers the top-level ``.dist-info`` directory whose name starts like ``project``.
    """
    candidates = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if project is not None and len(candidates) > 1:
        wanted = project.replace("-", "_").lower()
        preferred = [n for n in candidates if n.lower().startswith(wanted + "-")]
        candidates = preferred or candidates
    return candidates[0] if candidates else None


def _read_member(archive: zipfile.ZipFile, url: str, project: str | None) -> str:
    member = find_metadata_member(archive.namelist(), project)
    if member is None:
        raise IndexQueryError(url, "wheel has no .dist-info/METADATA")
    return archive.read(member).decode("utf-8", errors="replace")


def read_wheel_metadata(
    fetcher: Fetcher, url: str, *, project: str | None = None, max_download: int
) -> WheelRead:
    """Read the METADATA of the wheel at ``url``, cheapest way first.

    A suffix range request for the tail; if the server answers 206, range requests read the
    central directory and METADATA only (origin ``range``). If it ignores ``Range`` and sends
    the whole file, the file is read when it is at most ``max_download`` bytes (origin
    ``download``).

    :raises NoRangeSupport: the server ignores ranges and the file is larger than allowed.
    :raises IndexQueryError: HTTP failure, or the bytes are not a wheel.
    """
    from torchresolve.index.http import BodyTooLarge

    if url.startswith("file:"):
        path = file_url_path(url)
        try:
            with zipfile.ZipFile(path) as archive:
                return WheelRead(_read_member(archive, url, project), "download")
        except (OSError, zipfile.BadZipFile) as exc:
            raise IndexQueryError(url, f"cannot read wheel: {exc}") from exc
    try:
        response = fetcher.get(
            url, headers={"Range": f"bytes=-{_TAIL}"}, kind="range", max_bytes=max_download
        )
    except BodyTooLarge as exc:
        raise NoRangeSupport(exc.length) from exc
    if response.status == 404:
        raise IndexQueryError(url, "HTTP 404")
    try:
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if match is None or match.group(3) == "*":
                raise IndexQueryError(url, "range response without a usable Content-Range")
            start, size = int(match.group(1)), int(match.group(3))
            handle = _RangeFile(fetcher, url, size, start, response.body)
            with zipfile.ZipFile(handle) as archive:
                return WheelRead(_read_member(archive, url, project), "range")
        with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
            return WheelRead(_read_member(archive, url, project), "download")
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise IndexQueryError(url, f"not a readable wheel: {exc}") from exc


def open_remote_wheel(fetcher: Fetcher, url: str) -> zipfile.ZipFile:
    """The wheel at ``url`` as a zip file whose reads are HTTP range requests.

    Any member can be read (the data scripts read ``torch/version.py`` and
    ``libtorch_python.so``), each with one range request for its bytes. A file no larger than
    the first request is taken whole; a larger one is never downloaded whole.

    :raises IndexQueryError: HTTP failure, a server that ignores range requests, or not a zip.
    """
    from torchresolve.index.http import BodyTooLarge

    try:
        response = fetcher.get(
            url, headers={"Range": f"bytes=-{_TAIL}"}, kind="range", max_bytes=_TAIL
        )
    except BodyTooLarge as exc:
        length = f" ({exc.length} bytes)" if exc.length else ""
        raise IndexQueryError(
            url, f"range request answered HTTP 200 with the whole file{length}"
        ) from exc
    try:
        if response.status == 200:  # the whole file fitted in the first request
            return zipfile.ZipFile(io.BytesIO(response.body))
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if response.status != 206 or match is None or match.group(3) == "*":
            raise IndexQueryError(url, f"range request answered HTTP {response.status}, not 206")
        start, size = int(match.group(1)), int(match.group(3))
        return zipfile.ZipFile(_RangeFile(fetcher, url, size, start, response.body))
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise IndexQueryError(url, f"not a readable wheel: {exc}") from exc
