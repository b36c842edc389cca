"""Target views: a warm ``files_for`` answers from one stored entry per project and target,
keyed by the digests of every source's rows, without reading the rows (real local index
server, real cache folder)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchresolve.index import Cache

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from _indexserver import IndexServer
    from torchresolve.index import IndexClient, TargetFiles
    from torchresolve.target import Platform

PROJECTS = ("torch", "torchvision", "numpy", "tqdm")
TARGETS: tuple[tuple[str, Platform], ...] = (
    ("3.8", "linux_x86_64"),
    ("3.11", "linux_x86_64"),
    ("3.12", "macos_arm64"),
)
_HEADER = 6  # magic (4 bytes) + format number (2 bytes)


def _facts(found: TargetFiles) -> tuple[object, ...]:
    """Every field, with the files' own fields (DistFile equality leaves some out), in order."""
    return (
        found.project,
        [
            (
                f.filename,
                f.url,
                f.index_url,
                f.version,
                f.kind,
                f.tags,
                f.requires_python,
                f.yanked,
                f.hashes,
                f.size,
                f.upload_time,
                f.metadata_url,
            )
            for f in found.files
        ],
        found.versions,
        list(found.released.items()),
        found.yanked,
        found.compiled,
    )


def _answers(client: IndexClient) -> dict[tuple[str, str, str], tuple[object, ...]]:
    return {
        (project, python, platform): _facts(client.files_for(project, Version(python), platform))
        for project in PROJECTS
        for python, platform in TARGETS
    }


def _drop_rows(cache_dir: Path) -> None:
    """Keep each parsed entry's head, replace its rows with bytes no reader accepts."""
    for entry in (cache_dir / "parsed").rglob("*.marshal"):
        data = entry.read_bytes()
        size = int.from_bytes(data[_HEADER : _HEADER + 4], "big")
        entry.write_bytes(data[: _HEADER + 4 + size] + b"\xff not rows")


def test_warm_files_for_reads_no_rows_and_answers_as_the_cold_run(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer, tmp_path: Path
) -> None:
    sources = {"extra_index_urls": [index_server.pytorch_url("cu121")]}
    cold = _answers(make_index_client(**sources))
    _drop_rows(tmp_path / "cache")
    index_server.clear_log()
    warm = make_index_client(**sources)
    assert _answers(warm) == cold
    # Two sources per project and target, each answered by the view: rows never read.
    assert warm.page_sources == {"target-cache": 2 * len(PROJECTS) * len(TARGETS)}
    assert index_server.log == []


def test_a_stale_page_is_not_answered_by_its_view(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    make_index_client().files_for("numpy", Version("3.11"), "linux_x86_64")
    index_server.clear_log()
    stale = make_index_client(page_ttl=0.0)
    stale.files_for("numpy", Version("3.11"), "linux_x86_64")
    # The page was asked again (revalidated), not taken from the view.
    assert any("/numpy/" in logged.path for logged in index_server.log)
    assert "target-cache" not in stale.page_sources
    refresh = make_index_client(refresh=True)
    refresh.files_for("numpy", Version("3.11"), "linux_x86_64")
    assert "target-cache" not in refresh.page_sources


def test_a_changed_source_gets_a_new_view(
    make_index_client: Callable[..., IndexClient], tmp_path: Path
) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / "demo-1.0-py3-none-any.whl").write_bytes(b"x" * 10)
    links = {"find_links": (str(folder),)}
    python, platform = Version("3.11"), "linux_x86_64"
    first = make_index_client(**links).files_for("demo", python, platform)
    assert [f.filename for f in first.files] == ["demo-1.0-py3-none-any.whl"]
    (folder / "demo-2.0-py3-none-any.whl").write_bytes(b"y" * 20)
    second = make_index_client(**links)
    found = second.files_for("demo", python, platform)
    assert [f.filename for f in found.files] == [
        "demo-1.0-py3-none-any.whl",
        "demo-2.0-py3-none-any.whl",
    ]
    assert found.versions == (Version("1.0"), Version("2.0"))
    assert "target-cache" not in second.page_sources
    # Unchanged again: the new view answers.
    third = make_index_client(**links)
    assert _facts(third.files_for("demo", python, platform)) == _facts(found)
    assert third.page_sources == {"target-cache": 2}
    # The new view replaced the old one: the cache does not grow with every change.
    assert len(list((tmp_path / "cache" / "targets").rglob("*.marshal"))) == 1


@pytest.mark.parametrize("damage", [b"", b"TRPT\x00\x01garbage", b"TRPT\x00\x01N"])
def test_a_damaged_view_is_discarded_and_rebuilt(
    make_index_client: Callable[..., IndexClient],
    index_server: IndexServer,
    tmp_path: Path,
    damage: bytes,
) -> None:
    cold = _answers(make_index_client())
    views = sorted((tmp_path / "cache" / "targets").rglob("*.marshal"))
    assert len(views) == len(PROJECTS) * len(TARGETS)
    for view in views:
        view.write_bytes(damage)
    index_server.clear_log()
    cache = Cache(tmp_path / "cache")
    again = make_index_client(cache=cache)
    assert _answers(again) == cold
    assert sorted(cache.recovered) == [str(v) for v in views]
    assert again.page_sources == {"parsed-cache": len(PROJECTS) * len(TARGETS)}
    assert index_server.log == []
    third = make_index_client()
    assert _answers(third) == cold
    assert third.page_sources == {"target-cache": len(PROJECTS) * len(TARGETS)}


def test_offline_uses_views_of_any_age(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer, tmp_path: Path
) -> None:
    cold = _answers(make_index_client())
    index_server.clear_log()
    later = make_index_client(offline=True, page_ttl=0.0)
    time.sleep(0.01)
    assert _answers(later) == cold
    assert later.page_sources == {"target-cache": len(PROJECTS) * len(TARGETS)}
    assert index_server.log == []


def test_an_unwritable_cache_is_reported_once_and_reads_go_on(
    make_index_client: Callable[..., IndexClient], tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    told: list[str] = []
    cache = Cache(blocked, on_error=told.append)
    client = make_index_client(cache=cache)
    fresh = make_index_client(cache=None)
    for python, platform in TARGETS:
        for project in PROJECTS:
            found = client.files_for(project, Version(python), platform)
            assert _facts(found) == _facts(fresh.files_for(project, Version(python), platform))
    assert cache.write_failures > 1
    assert len(told) == 1
    assert str(blocked) in told[0]
    assert "cannot write the cache folder" in told[0]
