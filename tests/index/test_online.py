"""Against the live index (pip's configured index, else the default endpoint); opt in with
``-m online``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchresolve.index import Cache, IndexClient, load_index_config, make_session, supports

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.online


@pytest.fixture
def live_client(tmp_path: Path) -> IndexClient:
    config = load_index_config()
    return IndexClient(
        load_index_config(index_url=config.index_url, environ={}, config_files=()),
        session=make_session(8),
        cache=Cache(tmp_path),
    )


def test_torch_150_metadata_by_range_requests(live_client: IndexClient) -> None:
    files = live_client.files("torch")
    wheel = next(
        f
        for f in files
        if f.version == Version("1.5.0") and supports(f, Version("3.8"), "linux_x86_64")
    )
    assert (wheel.size or 0) > 100_000_000
    meta = live_client.metadata(wheel)
    assert meta.origin in {"pep658", "range"}
    assert {r.name for r in meta.requires_dist} >= {"numpy", "future"}
    moved = (live_client.stats.by_url or {}).get(wheel.url, 0)
    assert moved < 5_000_000  # never the whole wheel


def test_live_page_has_yanked_and_upload_times(live_client: IndexClient) -> None:
    files = live_client.files("torchaudio")
    assert any(f.yanked is not None for f in files)
    assert all(f.upload_time is not None for f in files if f.kind == "wheel")
    assert all(f.sha256 for f in files)


def test_live_sdist_of_latest_version_uses_static_or_json_api(live_client: IndexClient) -> None:
    # sacremoses: its sdists declare dependencies (Metadata 2.1 with a JSON API entry).
    sdists = [f for f in live_client.files("sacremoses") if f.kind == "sdist" and f.yanked is None]
    latest = max(sdists, key=lambda f: f.version)
    meta = live_client.metadata(latest)
    assert meta.known
    assert meta.origin in {"pkg-info", "json-api"}
    assert "regex" in {r.name for r in meta.requires_dist}
