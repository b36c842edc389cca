"""Shared pytest fixtures: the local package-index server and clients talking to it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

# pytest puts this folder on sys.path (rootdir conftest, prepend import mode).
from _indexserver import FIXTURES, IndexServer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from torchresolve.index import IndexClient


@pytest.fixture(autouse=True)
def _private_cache_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test writes into the user's cache: the cache home and torchresolve's cache folder
    point into this session's temporary folder (also for subprocesses the tests start)."""
    home = tmp_path_factory.getbasetemp() / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setenv("TORCHRESOLVE_CACHE_DIR", str(home / "torchresolve"))


@pytest.fixture
def index_server() -> Iterator[IndexServer]:
    """A fresh server on 127.0.0.1 serving ``tests/fixtures/index`` (no faults, ranges on).

    Use ``index_server.simple_url`` as the index URL; ``index_server.fail(path, "500")`` to
    inject faults; ``index_server.log`` to see the requests made.
    """
    with IndexServer(FIXTURES) as server:
        yield server


@pytest.fixture
def index_server_factory() -> Iterator[Callable[..., IndexServer]]:
    """Start servers with options (``serve_metadata``, ``honour_range``, ``wheel_padding``,
    ``root``); all are stopped at teardown."""
    started: list[IndexServer] = []

    def start(root: Path = FIXTURES, **options: Any) -> IndexServer:
        server = IndexServer(root, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def isolated_pip_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide this machine's pip configuration and ``PIP_*`` variables from the code under test."""
    for name in list(os.environ):
        if name.startswith("PIP_") or name == "TORCHRESOLVE_CACHE_DIR":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)


@pytest.fixture
def make_index_client(tmp_path: Path, index_server: IndexServer) -> Callable[..., IndexClient]:
    """Build an :class:`IndexClient` for ``index_server`` with a cache in ``tmp_path``.

    Keyword arguments override the client's (``offline``, ``refresh``, ``timeout``...);
    ``server=`` picks another server, ``cache_dir=`` another cache, ``cache=None`` none.
    Retries back off by 0 s so fault tests stay fast.
    """
    from torchresolve.index import Cache, IndexClient, load_index_config, make_session

    def make(**options: Any) -> IndexClient:
        server: IndexServer = options.pop("server", index_server)
        cache_dir = options.pop("cache_dir", tmp_path / "cache")
        extra = tuple(options.pop("extra_index_urls", ()))
        find_links = tuple(options.pop("find_links", ()))
        config = load_index_config(
            index_url=options.pop("index_url", server.simple_url),
            extra_index_urls=extra,
            find_links=find_links,
            environ={},
            config_files=(),
        )
        options.setdefault("cache", Cache(cache_dir))
        options.setdefault("backoff", 0.0)
        options.setdefault("timeout", 5.0)
        return IndexClient(config, session=make_session(8), **options)

    return make
