"""IndexClient.metadata(): PEP 658, range requests, downloads, sdists, retries and faults."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from _indexserver import FIXTURES, synthesise_sdist
from torchresolve.errors import IndexQueryError
from torchresolve.index import DistFile
from torchresolve.observer import Observer

if TYPE_CHECKING:
    from collections.abc import Callable

    from _indexserver import IndexServer
    from torchresolve.index import IndexClient


def _recorded_requires(filename: str) -> set[str]:
    text = (FIXTURES / "files" / f"{filename}.metadata").read_text(encoding="utf-8")
    return {
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    }


def _torch_150(client: IndexClient) -> DistFile:
    return next(f for f in client.files("torch") if f.version == Version("1.5.0"))


def test_range_requests_read_metadata_without_the_whole_wheel(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
) -> None:
    padding = 4 * 1024 * 1024
    server = index_server_factory(wheel_padding=padding)
    client = make_index_client(server=server)
    wheel = _torch_150(client)
    meta = client.metadata(wheel)
    assert meta.origin == "range"
    assert meta.known
    assert {str(r) for r in meta.requires_dist} == _recorded_requires(wheel.filename)
    assert meta.name == "torch"
    hits = server.requests_to("/files/")
    assert hits
    assert all(h.range is not None and h.status == 206 for h in hits)
    assert sum(h.sent for h in hits) < padding // 10


def test_pep658_metadata_file_is_used_when_offered(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
) -> None:
    server = index_server_factory(serve_metadata=True)
    page = json.loads((FIXTURES / "simple" / "torch" / "index.json").read_bytes())
    for entry in page["files"]:
        entry["core-metadata"] = True
    server.add("/simple/torch/", json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json")
    client = make_index_client(server=server)
    meta = client.metadata(_torch_150(client))
    assert meta.origin == "pep658"
    assert [h.path.endswith(".metadata") for h in server.requests_to("/files/")] == [True]


def test_pep658_404_falls_back_to_range_requests(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    page = json.loads((FIXTURES / "simple" / "torch" / "index.json").read_bytes())
    for entry in page["files"]:
        entry["core-metadata"] = {"sha256": "0" * 64}
    index_server.add(
        "/simple/torch/", json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json"
    )
    client = make_index_client()
    wheel = _torch_150(client)
    assert wheel.metadata_url is not None
    meta = client.metadata(wheel)
    assert meta.origin == "range"
    statuses = [(h.path.endswith(".metadata"), h.status) for h in index_server.log]
    assert (True, 404) in statuses


def test_server_ignoring_range_small_file_is_downloaded(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
) -> None:
    server = index_server_factory(honour_range=False, wheel_padding=10_000)
    client = make_index_client(server=server)
    meta = client.metadata(_torch_150(client))
    assert meta.origin == "download"
    assert {str(r) for r in meta.requires_dist} == _recorded_requires(
        "torch-1.5.0-cp38-cp38-manylinux1_x86_64.whl"
    )


def test_server_ignoring_range_large_file_is_not_downloaded(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
) -> None:
    server = index_server_factory(honour_range=False, wheel_padding=3 * 1024 * 1024)
    notes: list[str] = []

    class Notes(Observer):
        def note(self, message: str) -> None:
            notes.append(message)

    client = make_index_client(server=server, max_download=1024 * 1024, observer=Notes())
    meta = client.metadata(_torch_150(client))
    assert not meta.known
    assert meta.origin == "unknown"
    assert client.stats.snapshot().get("bytes_range", 0) < 1024 * 1024
    assert any("ignores range requests" in n for n in notes)


@pytest.mark.parametrize("fault", ["500", "503", "429"])
def test_transient_status_is_retried(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer, fault: str
) -> None:
    index_server.fail("/simple/torch/", fault)
    client = make_index_client()
    wheel = _torch_150(client)
    index_server.fail(f"/files/{wheel.filename}", fault)
    assert client.metadata(wheel).known
    page_statuses = [h.status for h in index_server.requests_to("/simple/torch/")]
    assert page_statuses == [int(fault), 200]


def test_gives_up_naming_url_and_status(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    index_server.fail("/simple/torch/", "503", "503", "503")
    with pytest.raises(IndexQueryError) as caught:
        make_index_client(retries=2).files("torch")
    assert caught.value.url == f"{index_server.simple_url}torch/"
    assert "HTTP 503" in str(caught.value)
    assert "3 tries" in str(caught.value)


def test_timeout_is_retried_then_reported(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
) -> None:
    server = index_server_factory(timeout_seconds=0.6)
    server.fail("/simple/numpy/", "timeout")
    client = make_index_client(server=server, timeout=0.2)
    assert client.files("numpy")
    server.fail("/simple/torch/", "timeout", "timeout")
    with pytest.raises(IndexQueryError, match=r"/simple/torch/: timed out after 0.2 s"):
        make_index_client(server=server, timeout=0.2, retries=1).files("torch")


def test_truncated_json_is_fetched_again(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    index_server.fail("/simple/torch/", "truncate")
    assert make_index_client().files("torch")
    index_server.fail("/simple/numpy/", "truncate", "truncate")
    with pytest.raises(IndexQueryError, match="invalid JSON"):
        make_index_client(retries=1).files("numpy")


def test_sdist_without_static_metadata_is_marked_unknown(
    make_index_client: Callable[..., IndexClient],
) -> None:
    client = make_index_client()
    (sdist,) = client.files("future")
    assert sdist.kind == "sdist"
    meta = client.metadata(sdist)
    assert not meta.known
    assert meta.origin == "unknown"
    assert meta.requires_dist == ()
    assert "build code is not run" in meta.problems[0]


def _sdist_page(server: IndexServer, name: str, version: str, pkg_info: str) -> DistFile:
    filename = f"{name}-{version}.tar.gz"
    server.add(f"/files/{filename}", synthesise_sdist(filename, pkg_info.encode()))
    page = {
        "meta": {"api-version": "1.1"},
        "name": name,
        "files": [{"filename": filename, "url": f"../../files/{filename}", "hashes": {}}],
    }
    server.add(f"/simple/{name}/", json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json")
    return DistFile(
        project=canonicalize_name(name),
        filename=filename,
        url=f"{server.url}/files/{filename}",
        version=Version(version),
        kind="sdist",
        index_url=server.simple_url,
    )


def test_sdist_with_static_pep643_metadata_uses_pkg_info(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    _sdist_page(
        index_server,
        "staticpkg",
        "1.0",
        "Metadata-Version: 2.2\nName: staticpkg\nVersion: 1.0\nRequires-Dist: attrs>=20\n",
    )
    client = make_index_client()
    (sdist,) = client.files("staticpkg")
    meta = client.metadata(sdist)
    assert meta.origin == "pkg-info"
    assert [str(r) for r in meta.requires_dist] == ["attrs>=20"]


def test_sdist_with_dynamic_metadata_uses_json_api_for_latest_version(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    _sdist_page(
        index_server,
        "dynpkg",
        "2.0",
        "Metadata-Version: 2.2\nName: dynpkg\nVersion: 2.0\nDynamic: Requires-Dist\n",
    )
    api = {
        "info": {
            "name": "dynpkg",
            "version": "2.0",
            "requires_dist": ["six"],
            "requires_python": ">=3.8",
        }
    }
    index_server.add("/pypi/dynpkg/json", json.dumps(api).encode(), "application/json")
    client = make_index_client()
    (sdist,) = client.files("dynpkg")
    meta = client.metadata(sdist)
    assert meta.origin == "json-api"
    assert [str(r) for r in meta.requires_dist] == ["six"]


def test_metadata_many_fetches_in_parallel_and_reports_progress(
    make_index_client: Callable[..., IndexClient],
) -> None:
    events: list[tuple[str, object]] = []

    class Recorder(Observer):
        def task_started(self, label: str, total: int | None = None) -> None:
            events.append(("start", total))

        def task_advanced(self, label: str, step: int = 1, detail: str = "") -> None:
            events.append(("step", detail))

        def task_finished(self, label: str) -> None:
            events.append(("end", label))

    client = make_index_client(observer=Recorder(), max_workers=4)
    files = [f for p in ("torch", "torchvision", "torchaudio", "numpy") for f in client.files(p)]
    metas = client.metadata_many(files)
    assert set(metas) == set(files)
    assert all(m.known and m.origin == "range" for f, m in metas.items() if f.kind == "wheel")
    assert events[0] == ("start", len(files))
    assert sorted(str(d) for kind, d in events if kind == "step") == sorted(
        f.filename for f in files
    )
    assert events[-1] == ("end", "metadata")


def _wheel_with_a_big_central_directory(files: int) -> bytes:
    """A wheel whose central directory alone is larger than the first (tail) range request,
    with its .dist-info files written last, as wheel builders do."""
    import io
    import os
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        # The bulk of a real wheel (a shared library), never to be read.
        archive.writestr("bigwheel/_native.so", os.urandom(4 << 20), zipfile.ZIP_STORED)
        for n in range(files):
            archive.writestr(f"bigwheel/module_{n:05d}_with_a_long_name.py", f"X = {n}\n")
        archive.writestr(
            "bigwheel-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: bigwheel\nVersion: 1.0\nRequires-Dist: numpy>=1.0\n",
        )
        archive.writestr("bigwheel-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        record = "".join(
            f"bigwheel/module_{n:05d}_with_a_long_name.py,sha256={n:043d},8\n" for n in range(files)
        )
        archive.writestr("bigwheel-1.0.dist-info/RECORD", record)
    return buffer.getvalue()


def test_a_big_central_directory_costs_one_more_request_not_two(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    body = _wheel_with_a_big_central_directory(3000)
    name = "bigwheel-1.0-py3-none-any.whl"
    index_server.add(f"/files/{name}", body)
    page = {
        "meta": {"api-version": "1.0"},
        "name": "bigwheel",
        "files": [{"filename": name, "url": f"../../files/{name}", "hashes": {}}],
    }
    index_server.add(
        "/simple/bigwheel/", json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json"
    )
    client = make_index_client()
    (wheel,) = client.files("bigwheel")
    meta = client.metadata(wheel)
    assert meta.origin == "range"
    assert [str(r) for r in meta.requires_dist] == ["numpy>=1.0"]
    hits = index_server.requests_to(f"/files/{name}")
    # The tail, then the directory with the .dist-info files before it; never the whole file.
    assert len(hits) == 2
    assert all(h.status == 206 for h in hits)
    assert sum(h.sent for h in hits) < len(body) // 4
