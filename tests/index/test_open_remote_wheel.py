"""open_remote_wheel(): any member of a remote wheel by range requests, never the whole file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from _indexserver import FIXTURES
from torchresolve.errors import IndexQueryError
from torchresolve.index.http import Fetcher, make_session
from torchresolve.index.wheelzip import find_metadata_member, open_remote_wheel

if TYPE_CHECKING:
    from collections.abc import Callable

    from _indexserver import IndexServer
    from torchresolve.index import IndexClient


def _torch_150_url(client: IndexClient) -> tuple[str, str]:
    wheel = next(f for f in client.files("torch") if f.version == Version("1.5.0"))
    return wheel.url, wheel.filename


def test_members_are_read_with_range_requests_only(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
) -> None:
    padding = 2 * 1024 * 1024
    server = index_server_factory(wheel_padding=padding)
    url, filename = _torch_150_url(make_index_client(server=server))
    fetcher = Fetcher(make_session(2), timeout=10, backoff=0)
    with open_remote_wheel(fetcher, url) as archive:
        member = find_metadata_member(archive.namelist(), "torch")
        assert member is not None
        text = archive.read(member).decode("utf-8")
    recorded = (FIXTURES / "files" / f"{filename}.metadata").read_text(encoding="utf-8")
    assert text == recorded
    hits = server.requests_to("/files/")
    assert hits
    assert all(h.range is not None and h.status == 206 for h in hits)
    assert sum(h.sent for h in hits) < padding // 10


def test_a_server_ignoring_ranges_is_an_error_not_a_download(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
) -> None:
    server = index_server_factory(honour_range=False, wheel_padding=1024 * 1024)
    url, _ = _torch_150_url(make_index_client(server=server))
    fetcher = Fetcher(make_session(2), timeout=10, backoff=0)
    with pytest.raises(IndexQueryError, match="whole file"):
        open_remote_wheel(fetcher, url)
