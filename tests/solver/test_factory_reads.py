"""How the factory reads project pages: in this thread from a warm cache, in the background when
the cache cannot answer or a read has gone to the network (a real local index server, a real
cache folder)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from torchresolve.db import load_database
from torchresolve.solver import Factory
from torchresolve.target import Target

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from torchresolve.index import IndexClient

DATA = Path(__file__).resolve().parent.parent / "fixtures" / "upgrade" / "data"
NUMPY = canonicalize_name("numpy")
IDNA = canonicalize_name("idna")
CERTIFI = canonicalize_name("certifi")


def _index_threads(earlier: set[threading.Thread]) -> set[threading.Thread]:
    """Pool threads (named ``index...``) running now that were not running in ``earlier``."""
    return {t for t in threading.enumerate() if t.name.startswith("index")} - earlier


@pytest.fixture
def make_factory(
    make_index_client: Callable[..., IndexClient], isolated_pip_env: None
) -> Iterator[Callable[[], Factory]]:
    made: list[Factory] = []

    def make() -> Factory:
        factory = Factory(
            client=make_index_client(),  # one cache folder for every client of the test
            db=load_database(DATA, cache_dir=False),
            target=Target(python=Version("3.11")),
            builds=(),
            wishes={},
        )
        made.append(factory)
        return factory

    yield make
    for factory in made:
        factory.close()


def test_a_cold_run_reads_the_scheduled_pages_in_the_background(
    make_factory: Callable[[], Factory],
) -> None:
    earlier = set(threading.enumerate())
    factory = make_factory()
    factory.schedule([NUMPY, IDNA, CERTIFI])
    # The cache cannot answer the first name: the pool reads all of them at once, before
    # the resolver asks for any.
    assert _index_threads(earlier)
    assert factory.project(NUMPY).files
    assert factory.project(IDNA).files
    assert factory.project(CERTIFI).files
    assert factory.client.stats.requests > 0


def test_a_warm_run_reads_in_this_thread_and_finds_the_same_files(
    make_factory: Callable[[], Factory],
) -> None:
    cold = make_factory()
    cold.schedule([NUMPY, IDNA, CERTIFI])
    expected = {name: cold.project(name).files for name in (NUMPY, IDNA, CERTIFI)}
    cold.close()
    earlier = set(threading.enumerate())
    warm = make_factory()
    warm.schedule([NUMPY, IDNA, CERTIFI])
    found = {name: warm.project(name).files for name in (NUMPY, IDNA, CERTIFI)}
    assert warm.client.stats.requests == 0
    assert _index_threads(earlier) == set()
    assert found == expected
