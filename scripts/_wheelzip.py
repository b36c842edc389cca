"""Read single members of a remote wheel (a zip file) with HTTP range requests.

A wheel of torch is hundreds of megabytes; the facts the data scripts need (``METADATA``,
``torch/version.py``) are a few hundred bytes. This module reads the zip end-of-central-directory
record from the tail of the file, then the central directory, then only the requested member,
so a whole wheel is never downloaded.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

__all__ = ["RemoteZip", "WheelReadError", "ZipMember"]

_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_CDIR_SIG = b"PK\x01\x02"
_LOCAL_SIG = b"PK\x03\x04"
# EOCD (22 bytes) + the longest possible comment (65535) + a zip64 locator (20 bytes).
_TAIL_BYTES = 22 + 65535 + 20
_STORED = 0
_DEFLATED = 8


class WheelReadError(Exception):
    """A remote wheel could not be read as a zip file.

    :param url: the wheel URL.
    :param problem: what went wrong, in plain words.
    """

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"{url}: {problem}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ZipMember:
    """One central-directory entry of a zip file."""

    name: str
    method: int
    compressed_size: int
    size: int
    local_header_offset: int


class RemoteZip:
    """A zip file on an HTTP server that honours ``Range`` requests.

    :param url: the file URL.
    :param session: the HTTP session used for every request.
    :param timeout: seconds per request.
    :param size: the file size in bytes when known (saves nothing but a sanity check).
    """

    def __init__(
        self, url: str, *, session: requests.Session, timeout: float, size: int | None = None
    ) -> None:
        self.url = url
        self._session = session
        self._timeout = timeout
        self._size = size
        self._members: dict[str, ZipMember] | None = None

    def _get(self, start: int | None, end: int | None, *, suffix: int | None = None) -> bytes:
        header = f"bytes=-{suffix}" if suffix is not None else f"bytes={start}-{end}"
        response = self._session.get(
            self.url, headers={"Range": header}, timeout=self._timeout, allow_redirects=True
        )
        if response.status_code != 206:
            # A 200 here would mean the server is sending the whole wheel: refuse to read it.
            response.close()
            raise WheelReadError(
                self.url, f"range request answered HTTP {response.status_code}, not 206"
            )
        if self._size is None:
            content_range = response.headers.get("Content-Range", "")
            total = content_range.rpartition("/")[2]
            if total.isdigit():
                self._size = int(total)
        return response.content

    def members(self) -> dict[str, ZipMember]:
        """Read the central directory (two or three range requests, once).

        :raises WheelReadError: when the file is not a readable zip.
        """
        if self._members is not None:
            return self._members
        tail = self._get(None, None, suffix=_TAIL_BYTES)
        if self._size is None:
            raise WheelReadError(self.url, "server did not report the file size")
        tail_start = self._size - len(tail)
        pos = tail.rfind(_EOCD_SIG)
        if pos < 0 or pos + 22 > len(tail):
            raise WheelReadError(self.url, "no end-of-central-directory record")
        (_, _, _, _, count, cd_size, cd_offset, _) = struct.unpack(
            "<4sHHHHIIH", tail[pos : pos + 22]
        )
        if cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF or count == 0xFFFF:
            loc = pos - 20
            if loc < 0 or tail[loc : loc + 4] != _ZIP64_LOCATOR_SIG:
                raise WheelReadError(self.url, "zip64 locator missing")
            (zip64_eocd_offset,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
            rel = zip64_eocd_offset - tail_start
            record = (
                tail[rel : rel + 56]
                if rel >= 0
                else self._get(zip64_eocd_offset, zip64_eocd_offset + 55)
            )
            if record[:4] != _ZIP64_EOCD_SIG:
                raise WheelReadError(self.url, "zip64 end-of-central-directory record missing")
            count, cd_size, cd_offset = struct.unpack("<QQQ", record[32:56])
        rel = cd_offset - tail_start
        if rel >= 0:
            directory = tail[rel : rel + cd_size]
        else:
            directory = self._get(cd_offset, cd_offset + cd_size - 1)
        self._members = _parse_central_directory(self.url, directory)
        return self._members

    def read(self, name: str) -> bytes:
        """Return the uncompressed bytes of member ``name``.

        :raises KeyError: when the zip has no such member.
        :raises WheelReadError: when the member cannot be read.
        """
        member = self.members()[name]
        # The local header repeats the name and has its own extra field; read generously.
        start = member.local_header_offset
        chunk = self._get(start, start + 30 + 1024 + member.compressed_size - 1)
        if chunk[:4] != _LOCAL_SIG:
            raise WheelReadError(self.url, f"bad local header for {name}")
        name_len, extra_len = struct.unpack("<HH", chunk[26:30])
        data_start = 30 + name_len + extra_len
        data = chunk[data_start : data_start + member.compressed_size]
        if len(data) < member.compressed_size:
            data += self._get(
                start + data_start + len(data),
                start + data_start + member.compressed_size - 1,
            )
        if member.method == _STORED:
            return data
        if member.method == _DEFLATED:
            return zlib.decompress(data, -15)
        raise WheelReadError(self.url, f"{name}: unsupported compression method {member.method}")

    def find(self, suffix: str) -> str | None:
        """Return the first member name ending in ``suffix`` (e.g. ``.dist-info/METADATA``)."""
        for name in self.members():
            if name.endswith(suffix):
                return name
        return None


def _parse_central_directory(url: str, directory: bytes) -> dict[str, ZipMember]:
    members: dict[str, ZipMember] = {}
    pos = 0
    while pos + 46 <= len(directory) and directory[pos : pos + 4] == _CDIR_SIG:
        (method,) = struct.unpack("<H", directory[pos + 10 : pos + 12])
        csize, usize = struct.unpack("<II", directory[pos + 20 : pos + 28])
        name_len, extra_len, comment_len = struct.unpack("<HHH", directory[pos + 28 : pos + 34])
        (offset,) = struct.unpack("<I", directory[pos + 42 : pos + 46])
        name = directory[pos + 46 : pos + 46 + name_len].decode("utf-8", "replace")
        extra = directory[pos + 46 + name_len : pos + 46 + name_len + extra_len]
        if 0xFFFFFFFF in (csize, usize, offset):
            csize, usize, offset = _zip64_sizes(extra, csize, usize, offset)
        members[name] = ZipMember(
            name=name,
            method=method,
            compressed_size=csize,
            size=usize,
            local_header_offset=offset,
        )
        pos += 46 + name_len + extra_len + comment_len
    if not members:
        raise WheelReadError(url, "empty or unreadable central directory")
    return members


def _zip64_sizes(extra: bytes, csize: int, usize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[pos : pos + 4])
        if tag == 0x0001:
            fields = extra[pos + 4 : pos + 4 + length]
            values = [struct.unpack("<Q", fields[i : i + 8])[0] for i in range(0, len(fields), 8)]
            # The zip64 extra field holds only the values whose 32-bit slots overflowed, in order.
            it = iter(values)
            if usize == 0xFFFFFFFF:
                usize = next(it, usize)
            if csize == 0xFFFFFFFF:
                csize = next(it, csize)
            if offset == 0xFFFFFFFF:
                offset = next(it, offset)
            break
        pos += 4 + length
    return csize, usize, offset
