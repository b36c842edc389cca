"""``read_wheel_metadata`` over range requests: METADATA found in the central directory's
bytes, the same text :mod:`zipfile` reads, and zipfile itself for unusual archives (a real
local HTTP server serving synthesised wheels)."""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING, Any

import pytest

from torchresolve.errors import IndexQueryError
from torchresolve.index.http import Fetcher, make_session
from torchresolve.index.wheelzip import read_wheel_metadata

if TYPE_CHECKING:
    from collections.abc import Callable

    from _indexserver import IndexServer

META = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: numpy>=1.{n}\n"


def _wheel(
    members: list[tuple[str, str | bytes]],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    prefix: bytes = b"",
    comment: bytes = b"",
    zip64: bool = False,
) -> bytes:
    buffer = io.BytesIO()
    buffer.write(prefix)
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, body in members:
            data = body.encode() if isinstance(body, str) else body
            with archive.open(name, "w", force_zip64=zip64) as handle:
                handle.write(data)
        archive.comment = comment
    return buffer.getvalue()


def _bulk(files: int) -> list[tuple[str, str | bytes]]:
    return [(f"demo/module_{n:05d}.py", f"X = {n}\n") for n in range(files)]


def _expected(body: bytes, member: str) -> str:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return archive.read(member).decode()


@pytest.fixture
def read(index_server: IndexServer) -> Callable[..., str]:
    """Serve ``body`` and read its METADATA the way the client does."""
    fetcher = Fetcher(make_session(2), timeout=10.0, retries=0)

    def run(body: bytes, project: str | None = "demo") -> str:
        index_server.add("/files/demo-1.0-py3-none-any.whl", body)
        url = f"{index_server.url}/files/demo-1.0-py3-none-any.whl"
        found = read_wheel_metadata(fetcher, url, project=project, max_download=1 << 20)
        assert found.origin == "range"
        return found.text

    return run


@pytest.fixture
def zipfile_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many archives :mod:`zipfile` parsed (the fallback)."""
    parsed: list[int] = []
    original = zipfile.ZipFile._RealGetContents  # type: ignore[attr-defined]

    def counting(self: zipfile.ZipFile) -> Any:
        parsed.append(1)
        return original(self)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", counting)
    return parsed


LAYOUTS: dict[str, dict[str, Any]] = {
    "small, deflated": {"members": [*_bulk(3), ("demo-1.0.dist-info/METADATA", META)]},
    "stored": {
        "members": [*_bulk(3), ("demo-1.0.dist-info/METADATA", META)],
        "compression": zipfile.ZIP_STORED,
    },
    "big directory": {
        "members": [
            ("demo/_native.so", b"\0" * (2 << 20)),
            *_bulk(4000),
            ("demo-1.0.dist-info/METADATA", META),
            ("demo-1.0.dist-info/RECORD", "x" * 300_000),
        ]
    },
    "vendored dist-info first": {
        "members": [
            ("demo/_vendor/other-2.0.dist-info/METADATA", META.replace("demo", "other")),
            ("other-2.0.dist-info/METADATA", META.replace("demo", "other")),
            ("demo-1.0.dist-info/METADATA", META),
        ]
    },
    "bytes before the archive": {
        "members": [*_bulk(3), ("demo-1.0.dist-info/METADATA", META)],
        "prefix": b"#!/bin/sh\nexit 0\n" * 100,
    },
    "zip64 local headers": {
        "members": [*_bulk(3), ("demo-1.0.dist-info/METADATA", META)],
        "zip64": True,
    },
    "archive comment": {
        "members": [*_bulk(3), ("demo-1.0.dist-info/METADATA", META)],
        "comment": b"built by hand",
    },
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_metadata_is_read_from_the_directory_bytes_as_zipfile_reads_it(
    read: Callable[..., str], zipfile_reads: list[int], layout: str
) -> None:
    options = LAYOUTS[layout]
    body = _wheel(**options)
    text = read(body)
    assert zipfile_reads == []  # the central directory was not parsed entry by entry
    assert text == _expected(body, "demo-1.0.dist-info/METADATA")


@pytest.mark.parametrize(
    "options",
    [
        # Over 65,535 entries: a ZIP64 end of central directory.
        {"members": [*_bulk(65_536), ("demo-1.0.dist-info/METADATA", META)]},
        {
            "members": [*_bulk(3), ("demo-1.0.dist-info/METADATA", META)],
            "compression": zipfile.ZIP_BZIP2,
        },
    ],
    ids=["zip64 archive", "bzip2"],
)
def test_unusual_archives_are_read_by_zipfile(
    read: Callable[..., str], zipfile_reads: list[int], options: dict[str, Any]
) -> None:
    body = _wheel(**options)
    text = read(body)
    assert zipfile_reads == [1]
    assert text == _expected(body, "demo-1.0.dist-info/METADATA")


def test_a_damaged_metadata_entry_is_an_error(read: Callable[..., str]) -> None:
    body = bytearray(_wheel([*_bulk(3), ("demo-1.0.dist-info/METADATA", META * 50)]))
    with zipfile.ZipFile(io.BytesIO(bytes(body))) as archive:
        info = archive.getinfo("demo-1.0.dist-info/METADATA")
    data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    body[data_start + 5] ^= 0xFF
    with pytest.raises(IndexQueryError, match="not a readable wheel"):
        read(bytes(body))


def test_a_wheel_without_metadata_is_an_error(read: Callable[..., str]) -> None:
    body = _wheel([*_bulk(3), ("demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")])
    with pytest.raises(IndexQueryError, match=r"no \.dist-info/METADATA"):
        read(body)
