"""The parsed-page cache: warm runs rebuild files from stored rows; bad entries are re-parsed."""

from __future__ import annotations

import marshal
from typing import TYPE_CHECKING

import pytest

from torchresolve.index import Cache
from torchresolve.index.cache import PARSED_FORMAT

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from _indexserver import IndexServer
    from torchresolve.index import DistFile, IndexClient

PROJECTS = ("torch", "torchvision", "numpy")
_HEADER = 6  # magic (4 bytes) + format number (2 bytes)


def _files(client: IndexClient) -> dict[str, tuple[DistFile, ...]]:
    return {p: client.files(p) for p in PROJECTS}


def _full(files: dict[str, tuple[DistFile, ...]]) -> dict[str, list[tuple[object, ...]]]:
    """Every field of every file (DistFile equality leaves hashes, size, times out)."""
    return {
        project: [
            (
                f.filename,
                f.url,
                f.version,
                f.kind,
                f.tags,
                f.requires_python,
                f.yanked,
                f.upload_time,
                dict(f.hashes),
                f.size,
                f.index_url,
                f.metadata_url,
            )
            for f in found
        ]
        for project, found in files.items()
    }


def _parsed_entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "parsed").rglob("*.marshal"))


def test_warm_run_is_answered_from_parsed_rows_without_network(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer, tmp_path: Path
) -> None:
    cold_client = make_index_client()
    cold = _files(cold_client)
    assert cold_client.page_sources == {"network": len(PROJECTS)}
    assert len(_parsed_entries(tmp_path / "cache")) == len(PROJECTS)
    # A JSON project page is not kept raw: its parsed entry is all a later run reads.
    assert not (tmp_path / "cache" / "pages").exists()
    index_server.clear_log()
    warm_client = make_index_client()
    warm = _files(warm_client)
    assert _full(warm) == _full(cold)
    assert warm_client.page_sources == {"parsed-cache": len(PROJECTS)}
    assert warm_client.stats.requests == 0
    assert index_server.log == []


def test_offline_uses_parsed_rows_of_stale_pages(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    cold = _files(make_index_client())
    index_server.clear_log()
    offline = make_index_client(offline=True, page_ttl=0.0)
    assert _full(_files(offline)) == _full(cold)
    assert offline.page_sources == {"parsed-cache": len(PROJECTS)}
    assert index_server.log == []


def test_stale_rows_are_revalidated_and_kept_on_304(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer, tmp_path: Path
) -> None:
    cold = _files(make_index_client())
    # A 304 confirms the stored rows (JSON pages are not kept raw).
    assert not (tmp_path / "cache" / "pages").exists()
    index_server.clear_log()
    stale = make_index_client(page_ttl=0.0)
    assert _full(_files(stale)) == _full(cold)
    assert [h.status for h in index_server.log] == [304] * len(PROJECTS)
    assert stale.page_sources == {"network": len(PROJECTS)}
    # The entries rewritten after the 304 read back: a normal client takes the fast path.
    index_server.clear_log()
    again = make_index_client()
    assert _full(_files(again)) == _full(cold)
    assert again.page_sources == {"parsed-cache": len(PROJECTS)}
    assert index_server.log == []


def _old_format(data: bytes) -> bytes:
    header = data[:4] + (PARSED_FORMAT + 1).to_bytes(2, "big")
    return header + data[_HEADER:]


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _split(data: bytes) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """The head and the rows of a parsed entry (after the header: the head's length, the
    head, the rows)."""
    size = int.from_bytes(data[_HEADER : _HEADER + 4], "big")
    head = marshal.loads(data[_HEADER + 4 : _HEADER + 4 + size])
    return head, marshal.loads(data[_HEADER + 4 + size :])


def _join(data: bytes, head: tuple[object, ...], rows: tuple[object, ...]) -> bytes:
    blob = marshal.dumps(head)
    return data[:_HEADER] + len(blob).to_bytes(4, "big") + blob + marshal.dumps(rows)


def _bad_row(data: bytes) -> bytes:
    head, rows = _split(data)
    # A good-looking first row with a wrong URL, then one that cannot be built: nothing of the
    # entry may be kept, the wrong URL included.
    first = rows[0]
    assert isinstance(first, tuple)
    wrong = (first[0], "http://127.0.0.1:1/wrong", *first[2:])
    bad = ("x-1-py3-none-any.whl", "u", "not a version", "wheel", "py3-none-any")
    bad += (None, None, None, {}, None, None)
    return _join(data, head, (wrong, bad))


def _other_page(data: bytes) -> bytes:
    head, rows = _split(data)
    return _join(data, ("http://127.0.0.1:1/simple/other/", *head[1:]), rows)


@pytest.mark.parametrize("damage", [_old_format, _truncated, _bad_row, _other_page])
def test_unusable_parsed_entry_of_a_json_page_is_fetched_again(
    make_index_client: Callable[..., IndexClient],
    index_server: IndexServer,
    tmp_path: Path,
    damage: Callable[[bytes], bytes],
) -> None:
    cold = _files(make_index_client())
    entries = _parsed_entries(tmp_path / "cache")
    assert len(entries) == len(PROJECTS)
    for entry in entries:
        entry.write_bytes(damage(entry.read_bytes()))
    index_server.clear_log()
    cache = Cache(tmp_path / "cache")
    again = make_index_client(cache=cache)
    assert _full(_files(again)) == _full(cold)
    # No raw JSON page is kept: each page is asked for again, whole (no validators left).
    assert again.page_sources.get("network") == len(PROJECTS)
    assert "page-cache" not in again.page_sources
    assert sorted(h.path for h in index_server.log) == sorted(f"/simple/{p}/" for p in PROJECTS)
    assert all(h.status == 200 for h in index_server.log)
    assert sorted(cache.recovered) == sorted(str(e) for e in entries)
    # The rows were stored again: the next run takes the fast path.
    third = make_index_client()
    assert _full(_files(third)) == _full(cold)
    assert third.page_sources == {"parsed-cache": len(PROJECTS)}


@pytest.mark.parametrize("damage", [_old_format, _truncated, _bad_row, _other_page])
def test_unusable_parsed_entry_of_an_html_page_is_reparsed_from_the_stored_page(
    make_index_client: Callable[..., IndexClient],
    index_server: IndexServer,
    tmp_path: Path,
    damage: Callable[[bytes], bytes],
) -> None:
    # A PyTorch-layout index serves HTML; an HTML page is kept raw.
    html = {"index_url": index_server.pytorch_url("cu121")}
    cold = make_index_client(**html).files("torch")
    assert cold
    entries = _parsed_entries(tmp_path / "cache")
    assert len(entries) == 1
    for entry in entries:
        entry.write_bytes(damage(entry.read_bytes()))
    index_server.clear_log()
    cache = Cache(tmp_path / "cache")
    again = make_index_client(cache=cache, **html)
    assert _full({"torch": again.files("torch")}) == _full({"torch": cold})
    assert again.page_sources.get("page-cache") == 1
    assert "network" not in again.page_sources
    assert index_server.log == []
    assert sorted(cache.recovered) == sorted(str(e) for e in entries)
    third = make_index_client(**html)
    assert _full({"torch": third.files("torch")}) == _full({"torch": cold})
    assert third.page_sources == {"parsed-cache": 1}


def test_find_links_directory_is_listed_once_per_client(
    make_index_client: Callable[..., IndexClient], tmp_path: Path
) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / "demo-1.0-py3-none-any.whl").write_bytes(b"x" * 10)
    (folder / "other-2.0.tar.gz").write_bytes(b"y" * 20)
    (folder / "notes.txt").write_text("not a distribution", encoding="utf-8")
    client = make_index_client(find_links=(str(folder),))
    (demo,) = client.files("demo")
    assert demo.size == 10
    assert demo.index_url == str(folder)
    assert demo.url == (folder / "demo-1.0-py3-none-any.whl").resolve().as_uri()
    (folder / "other-3.0.tar.gz").write_bytes(b"z")
    # Listed once per client (not once per project): only a new client sees the new file.
    assert [f.filename for f in client.files("other")] == ["other-2.0.tar.gz"]
    fresh = make_index_client(find_links=(str(folder),))
    assert [f.filename for f in fresh.files("other")] == ["other-2.0.tar.gz", "other-3.0.tar.gz"]
