"""Read ``METADATA`` out of a remote wheel with HTTP range requests.

A zip file keeps its table of contents (the central directory) at the end. A suffix range
request fetches the tail; the central directory is read from it (or from one more request,
which also takes the .dist-info files stored just before it), and the METADATA entry is found
in its bytes and read. A torch wheel of 800 MB costs two or three requests and well under a
megabyte this way. Archives of an unusual kind (ZIP64...) are read with :mod:`zipfile`.
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
import zipfile
import zlib
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

    @property
    def size(self) -> int:
        """The size of the whole remote object."""
        return self._size

    @property
    def tail_start(self) -> int:
        """Where the bytes of the first (tail) request start."""
        return self._spans[0][0]

    def read_at(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (clipped to the object), fetched when not held.

        :raises ValueError: a negative or reversed span.
        """
        end = min(end, self._size)
        if start < 0 or end < start:
            raise ValueError(f"bad span {start}-{end}")
        return self._slice(start, end) if end > start else b""

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


_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_METADATA_SUFFIX = b".dist-info/METADATA"


class _Unusual(Exception):
    """The archive needs :mod:`zipfile` (ZIP64, another compression, an odd layout)."""


def _direct_metadata(handle: _RangeFile, project: str | None) -> str:
    """METADATA read straight from the central directory's bytes.

    :mod:`zipfile` builds a ``ZipInfo`` for every entry of the central directory: ~20,000
    entries and ~0.2 s of CPU over the wheels of one cold resolution (a torch wheel alone has
    over 10,000). Only the ``*.dist-info/METADATA`` entries are decoded here. The entry is
    checked as zipfile checks it (local header signature, CRC-32).

    :raises _Unusual: let :mod:`zipfile` read it (ZIP64, a compression other than stored or
        deflate, no METADATA entry found this way).
    :raises ValueError: the bytes are not a consistent zip archive.
    """
    size = handle.size
    tail_start = handle.tail_start
    tail = handle.read_at(tail_start, size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        raise _Unusual("no end of central directory record in the tail")
    _, disk, cd_disk, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    if 0xFFFF in (disk, cd_disk, entries) or 0xFFFFFFFF in (cd_size, cd_offset):
        raise _Unusual("ZIP64")
    if disk or cd_disk:
        raise _Unusual("a multi-disk archive")
    # Some archives carry bytes before the zip (self-extracting): offsets are shifted.
    shift = (tail_start + at) - (cd_offset + cd_size)
    if shift < 0:
        raise ValueError("central directory extends past its end record")
    directory = handle.read_at(cd_offset + shift, cd_offset + shift + cd_size)
    found: dict[str, int] = {}
    position = directory.find(_METADATA_SUFFIX)
    while position >= 0:
        end = position + len(_METADATA_SUFFIX)
        record = directory.rfind(b"PK\x01\x02", max(0, position - _CENTRAL.size - 512), position)
        if record >= 0 and record + _CENTRAL.size <= len(directory):
            name_length = _CENTRAL.unpack_from(directory, record)[10]
            if record + _CENTRAL.size + name_length == end:
                name = directory[record + _CENTRAL.size : end].decode("utf-8", "replace")
                found[name] = record
        position = directory.find(_METADATA_SUFFIX, end)
    member = find_metadata_member(list(found), project)
    if member is None:
        raise _Unusual("no METADATA entry found in the central directory bytes")
    fields = _CENTRAL.unpack_from(directory, found[member])
    method, crc, compressed, uncompressed, offset = (
        fields[4], fields[7], fields[8], fields[9], fields[16]
    )  # fmt: skip
    if 0xFFFFFFFF in (compressed, uncompressed, offset):
        raise _Unusual("ZIP64 entry")
    if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _Unusual(f"compression method {method}")
    start = offset + shift
    local = handle.read_at(start, start + _LOCAL.size)
    signature, *_, local_name, local_extra = _LOCAL.unpack(local)
    if signature != b"PK\x03\x04":
        raise ValueError(f"bad local header for {member}")
    data_start = start + _LOCAL.size + local_name + local_extra
    data = handle.read_at(data_start, data_start + compressed)
    if method == zipfile.ZIP_DEFLATED:
        data = zlib.decompress(data, -15)
    if len(data) != uncompressed or zlib.crc32(data) != crc:
        raise ValueError(f"bad CRC-32 or size for {member}")
    return data.decode("utf-8", errors="replace")


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
            with contextlib.suppress(_Unusual):
                return WheelRead(_direct_metadata(handle, project), "range")
            with zipfile.ZipFile(handle) as archive:
                return WheelRead(_read_member(archive, url, project), "range")
        with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
            return WheelRead(_read_member(archive, url, project), "download")
    except (zipfile.BadZipFile, EOFError, ValueError, zlib.error, struct.error) as exc:
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
