"""The cache: warm runs without network, offline mode, --refresh, corrupt entries, atomicity."""

from __future__ import annotations

import json
import marshal
import threading
from typing import TYPE_CHECKING

import pytest

from torchresolve.index import Cache, CacheMissError
from torchresolve.index.cache import CachedPage

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from _indexserver import IndexServer
    from torchresolve.index import IndexClient


def _collect(client: IndexClient) -> dict[str, list[str]]:
    files = [f for p in ("torch", "torchvision", "numpy") for f in client.files(p)]
    metas = client.metadata_many(files)
    return {f.filename: sorted(str(r) for r in m.requires_dist) for f, m in metas.items()}


def test_warm_run_makes_no_requests(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    cold = _collect(make_index_client())
    assert index_server.log
    index_server.clear_log()
    warm_client = make_index_client()
    assert _collect(warm_client) == cold
    assert index_server.log == []
    assert warm_client.stats.requests == 0


def test_offline_answers_from_the_cache(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    online = _collect(make_index_client())
    index_server.clear_log()
    assert _collect(make_index_client(offline=True, page_ttl=0.0)) == online
    assert index_server.log == []


def test_offline_without_cache_names_what_is_missing(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    with pytest.raises(CacheMissError) as caught:
        make_index_client(offline=True).files("torch")
    assert caught.value.missing == (f"{index_server.simple_url}torch/",)
    assert "--offline" in str(caught.value)
    assert index_server.log == []


def test_offline_lists_every_missing_metadata(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    files = make_index_client().files("torch")  # pages cached, metadata not
    with pytest.raises(CacheMissError) as caught:
        make_index_client(offline=True).metadata_many(files)
    assert sorted(caught.value.missing) == sorted(f.url for f in files)


def test_refresh_revalidates_pages_with_etag(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    make_index_client().files("torch")
    index_server.clear_log()
    assert make_index_client(refresh=True).files("torch")
    assert [h.status for h in index_server.log] == [304]


def test_stale_page_is_revalidated(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    make_index_client().files("numpy")
    index_server.clear_log()
    make_index_client(page_ttl=0.0).files("numpy")
    assert [h.status for h in index_server.log] == [304]


def test_corrupt_cache_entries_are_discarded_and_refetched(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer, tmp_path: Path
) -> None:
    expected = _collect(make_index_client())
    entries = sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert {p.suffix for p in entries} == {".json", ".marshal"}
    for number, entry in enumerate(entries):
        # Alternate the kinds of damage: cut short, garbage, a readable entry of the wrong shape.
        data = entry.read_bytes()
        if entry.suffix == ".json":
            shape = json.dumps({"schema": 1, "x": 1}).encode()
        else:
            shape = data[:6] + marshal.dumps(("x", 1))
        damage = [data[: len(data) // 2], b"\0garbage", shape]
        entry.write_bytes(damage[number % 3])
    index_server.clear_log()
    cache = Cache(tmp_path / "cache")
    assert _collect(make_index_client(cache=cache)) == expected
    assert len(cache.recovered) == len(entries)
    assert index_server.log  # refetched


def test_concurrent_writers_leave_a_readable_entry(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    bodies = [bytes([65 + i]) * (50_000 + i) for i in range(8)]

    def write(body: bytes) -> None:
        for _ in range(20):
            cache.put_page(
                CachedPage(
                    url="u",
                    body=body,
                    content_type="text/html",
                    etag=None,
                    last_modified=None,
                    fetched=0.0,
                )
            )

    threads = [threading.Thread(target=write, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    page = cache.get_page("u")
    assert page is not None
    assert page.body in bodies
    assert not list(tmp_path.rglob("*.tmp"))
    assert cache.recovered == []


def test_default_cache_dir_honours_the_environment(tmp_path: Path) -> None:
    from torchresolve.index import default_cache_dir

    assert default_cache_dir({"TORCHRESOLVE_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert default_cache_dir({}).name == "torchresolve"


def test_a_killed_writer_leaves_only_whole_entries(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import sys, itertools\n"
        "from pathlib import Path\n"
        "from torchresolve.index.cache import Cache, CachedPage\n"
        "cache = Cache(Path(sys.argv[1]))\n"
        "for n in itertools.count():\n"
        "    body = bytes([65 + n % 26]) * (200_000 + n % 7)\n"
        "    cache.put_page(CachedPage(url=f'u{n % 5}', body=body, content_type='text/html',\n"
        "                              etag=None, last_modified=None, fetched=0.0))\n"
        "    if n == 20:\n"
        "        print('ready', flush=True)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    ) as writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
            time.sleep(0.05)
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
    cache = Cache(tmp_path)
    pages = [cache.get_page(f"u{n}") for n in range(5)]
    assert all(p is not None and len(set(p.body)) == 1 for p in pages)
    assert cache.recovered == []
