"""The crawl ahead of the resolver: once reads go to the network, the factory reads the likely
candidates' metadata and their dependencies' pages before the resolver asks (a real local
index server serving a small synthetic tree, a real cache folder)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from _indexserver import synthesise_wheel
from torchresolve.db import load_database
from torchresolve.solver import Factory, Requirement, resolve
from torchresolve.solver import factory as factory_module
from torchresolve.target import Target

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from _indexserver import IndexServer, Logged
    from torchresolve.index import IndexClient

DATA = Path(__file__).resolve().parent.parent / "fixtures" / "upgrade" / "data"

# crawl-a -> crawl-b -> crawl-c -> crawl-d, each release with its upload date. crawl-c has an
# older release the crawl must not read (the newest before crawl-b's upload comes first);
# crawl-skip is only required on Windows.
TREE: dict[str, dict[str, tuple[str, list[str]]]] = {
    "crawl-a": {"1.0": ("2023-03-01", ["crawl-b", 'crawl-skip; sys_platform == "win32"'])},
    "crawl-b": {"1.0": ("2023-03-01", ["crawl-c>=1"])},
    "crawl-c": {"1.0": ("2022-01-01", ["crawl-d"]), "2.0": ("2022-06-01", ["crawl-d"])},
    "crawl-d": {"1.0": ("2022-01-01", [])},
    "crawl-skip": {"1.0": ("2022-01-01", [])},
}
JSON_PAGE = "application/vnd.pypi.simple.v1+json"
A, B, C, D = (canonicalize_name(f"crawl-{x}") for x in "abcd")


def _wheel_name(project: str, version: str) -> str:
    return f"{project.replace('-', '_')}-{version}-py3-none-any.whl"


def _serve_tree(server: IndexServer) -> None:
    for project, releases in TREE.items():
        files = []
        for version, (uploaded, requires) in releases.items():
            filename = _wheel_name(project, version)
            lines = ["Metadata-Version: 2.1", f"Name: {project}", f"Version: {version}"]
            lines += [f"Requires-Dist: {r}" for r in requires]
            wheel = synthesise_wheel(filename, ("\n".join(lines) + "\n").encode())
            server.add(f"/files/{filename}", wheel)
            files.append(
                {
                    "filename": filename,
                    "hashes": {"sha256": hashlib.sha256(wheel).hexdigest()},
                    "requires-python": None,
                    "size": len(wheel),
                    "upload-time": f"{uploaded}T00:00:00.000000Z",
                    "yanked": False,
                    "url": f"../../files/{filename}",
                }
            )
        page = {
            "meta": {"api-version": "1.1"},
            "name": project,
            "versions": list(releases),
            "files": files,
        }
        server.add(f"/simple/{project}/", json.dumps(page).encode(), JSON_PAGE)


def _index_threads(earlier: set[threading.Thread]) -> set[threading.Thread]:
    """Pool threads (named ``index...``) running now that were not running in ``earlier``."""
    return {t for t in threading.enumerate() if t.name.startswith("index")} - earlier


def _wait_for(server: IndexServer, check: Callable[[list[Logged]], bool]) -> list[Logged]:
    """The server's log once ``check`` holds for it (the crawl runs in other threads)."""
    deadline = time.monotonic() + 10
    while True:
        log = server.requests_to("/")
        if check(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.01)


def _asked(log: list[Logged], path: str, status: int = 0) -> bool:
    return any(e.path == path and (not status or e.status == status) for e in log)


def _wheel_path(project: str, version: str) -> str:
    return f"/files/{_wheel_name(project, version)}"


@pytest.fixture
def make_factory(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer, isolated_pip_env: None
) -> Iterator[Callable[..., Factory]]:
    _serve_tree(index_server)
    made: list[Factory] = []

    def make(**client_options: Any) -> Factory:
        factory = Factory(
            # One cache folder for every client of the test, unless told otherwise.
            client=make_index_client(**client_options),
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


def test_a_cold_run_reads_two_levels_ahead_of_the_resolver(
    make_factory: Callable[..., Factory], index_server: IndexServer
) -> None:
    factory = make_factory()
    factory.schedule([A])
    assert factory.project(A).files  # the first network read: the crawl starts from here
    log = _wait_for(index_server, lambda log: _asked(log, _wheel_path("crawl-d", "1.0"), 206))
    # The resolver asked for crawl-a's page only; the crawl read the rest of the likely tree.
    for project, version in (("crawl-a", "1.0"), ("crawl-b", "1.0"), ("crawl-c", "2.0")):
        assert _asked(log, _wheel_path(project, version), 206)
    for project in ("crawl-b", "crawl-c", "crawl-d"):
        assert _asked(log, f"/simple/{project}/")
    assert not _asked(log, _wheel_path("crawl-c", "1.0"))  # not the likely candidate
    assert not _asked(log, "/simple/crawl-skip/")  # its marker does not match the target
    # What the resolver asks for now is answered without the server.
    served = len(index_server.requests_to("/"))
    for name, version in ((B, "1.0"), (C, "2.0"), (D, "1.0")):
        assert factory.metadata(factory.project(name).files[Version(version)]).known
    assert len(index_server.requests_to("/")) == served


def test_the_crawl_stops_at_its_budget(
    make_factory: Callable[..., Factory],
    index_server: IndexServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(factory_module, "_SPECULATE_MAX", 1)
    factory = make_factory()
    factory.schedule([A])
    factory.project(A)
    log = _wait_for(index_server, lambda log: _asked(log, "/simple/crawl-b/"))
    assert _asked(log, "/simple/crawl-b/")  # crawl-a's metadata (the one read) names it
    factory.close()  # waits for the reads under way
    log = index_server.requests_to("/")
    assert _asked(log, _wheel_path("crawl-a", "1.0"))
    assert not _asked(log, _wheel_path("crawl-b", "1.0"))
    assert not _asked(log, "/simple/crawl-c/")


def test_the_crawl_leaves_the_resolution_unchanged_and_a_warm_run_starts_no_threads(
    make_factory: Callable[..., Factory],
    index_server: IndexServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    requirements = [Requirement(name=A, origin="input")]
    earlier = set(threading.enumerate())
    cold = make_factory()
    cold.schedule([A])
    crawled = resolve(cold, requirements).pins
    cold.close()
    assert cold.client.stats.requests > 0
    assert _index_threads(earlier) == set()  # close() ended the pool's threads

    warm = make_factory()
    warm.schedule([A])
    found = resolve(warm, requirements).pins
    assert warm.client.stats.requests == 0
    assert _index_threads(earlier) == set()  # a warm cache is read in this thread
    assert found == crawled

    monkeypatch.setattr(factory_module, "_SPECULATE_MAX", 0)
    monkeypatch.setattr(factory_module, "_SPECULATE_PER_PROJECT", 0)
    plain = make_factory(cache_dir=tmp_path / "plain")  # a cold run again, with the crawl off
    plain.schedule([A])
    assert resolve(plain, requirements).pins == crawled
    assert {name: c.version for name, c in crawled.items()} == {
        A: Version("1.0"),
        B: Version("1.0"),
        C: Version("2.0"),
        D: Version("1.0"),
    }


def test_a_failed_read_ahead_is_asked_again_by_the_resolver(
    make_factory: Callable[..., Factory], index_server: IndexServer
) -> None:
    wheel = _wheel_path("crawl-b", "1.0")
    attempts = 3  # the first try and the client's retries
    index_server.fail(wheel, *["500"] * attempts)
    factory = make_factory(retries=attempts - 1)
    factory.schedule([A])
    factory.project(A)
    log = _wait_for(index_server, lambda log: sum(e.path == wheel for e in log) >= attempts)
    assert [e.status for e in log if e.path == wheel] == [500] * attempts
    meta = factory.metadata(factory.project(B).files[Version("1.0")])
    assert [str(r) for r in meta.requires_dist] == ["crawl-c>=1"]
    assert _asked(index_server.requests_to("/"), wheel, 206)


@pytest.mark.parametrize("step", ["_likely", "_crawl"])
def test_a_failing_crawl_step_does_not_fail_the_resolution(
    make_factory: Callable[..., Factory],
    index_server: IndexServer,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    def broken(self: Factory, *args: object) -> None:
        raise RuntimeError(f"{step} failed")

    monkeypatch.setattr(Factory, step, broken)
    factory = make_factory()
    factory.schedule([A])
    pins = resolve(factory, [Requirement(name=A, origin="input")]).pins
    assert factory.client.stats.requests > 0  # a cold run: the crawl ran (and failed)
    assert {name: c.version for name, c in pins.items()} == {
        A: Version("1.0"),
        B: Version("1.0"),
        C: Version("2.0"),
        D: Version("1.0"),
    }
