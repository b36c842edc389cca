"""IndexClient.files(): JSON and HTML pages, yanked, requires-python, PyTorch index, find-links."""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from _indexserver import FIXTURES
from torchresolve.errors import IndexQueryError
from torchresolve.index import supports

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from _indexserver import IndexServer
    from torchresolve.index import IndexClient


def _recorded(project: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (FIXTURES / "simple" / project / "index.json").read_text(encoding="utf-8")
    )
    return data


def test_json_page_lists_recorded_files_with_details(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    files = make_index_client().files("Torch")
    recorded = _recorded("torch")["files"]
    assert isinstance(recorded, list)
    assert sorted(f.filename for f in files) == sorted(e["filename"] for e in recorded)
    first = next(f for f in files if f.filename == recorded[0]["filename"])
    assert first.url == f"{index_server.url}/files/{first.filename}"
    assert first.hashes["sha256"] == recorded[0]["hashes"]["sha256"]
    assert first.upload_time is not None
    assert first.upload_time.year == int(recorded[0]["upload-time"][:4])
    assert first.kind == "wheel"
    assert first.index_url == index_server.simple_url
    assert len(index_server.requests_to("/simple/torch/")) == 1


def test_html_fallback_gives_the_same_files(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
) -> None:
    html_only = index_server_factory(json_pages=False)
    from_html = make_index_client(server=html_only).files("torchaudio")
    from_json = make_index_client(cache=None).files("torchaudio")
    assert {(f.filename, f.yanked, f.requires_python) for f in from_html} == {
        (f.filename, f.yanked, f.requires_python) for f in from_json
    }
    assert all(f.sha256 for f in from_html)


@pytest.mark.parametrize("html", [False, True])
def test_yanked_files_carry_their_reason(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
    html: bool,
) -> None:
    server = index_server_factory(json_pages=not html)
    files = make_index_client(server=server).files("torchaudio")
    yanked = {str(f.version) for f in files if f.yanked is not None}
    assert yanked == {"2.0.0"}
    reason = next(f.yanked for f in files if f.yanked is not None)
    assert reason == "Contains an incorrect torch dependency"


def test_requires_python_and_tags_filter_candidates(
    make_index_client: Callable[..., IndexClient],
) -> None:
    files = make_index_client().files("numpy")
    by_version = {str(f.version): f for f in files if f.kind == "wheel"}
    new = by_version["2.0.0"]
    assert new.requires_python == SpecifierSet(">=3.9")
    assert supports(new, Version("3.11"), "linux_x86_64")
    assert not supports(new, Version("3.8"), "linux_x86_64")  # requires-python
    old = by_version["1.18.5"]
    assert supports(old, Version("3.8"), "linux_x86_64")
    assert not supports(old, Version("3.11"), "linux_x86_64")  # cp38 tag only
    assert not supports(old, Version("3.8"), "windows")


def test_pytorch_index_layout_with_local_versions(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    client = make_index_client(extra_index_urls=[index_server.pytorch_url("cu121")])
    files = client.files("torch")
    local = [f for f in files if f.version.local]
    assert {str(f.version) for f in local} == {"2.4.1+cu121"}
    assert all(f.index_url == index_server.pytorch_url("cu121") for f in local)
    meta = client.metadata(local[0])
    assert meta.version == Version("2.4.1+cu121")
    assert any(r.name == "nvidia-cudnn-cu12" for r in meta.requires_dist)


def test_project_missing_everywhere_gives_no_files(
    make_index_client: Callable[..., IndexClient],
) -> None:
    assert make_index_client().files("no-such-project") == ()


def test_wrong_content_type_is_a_clear_error(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    index_server.fail("/simple/torch/", "wrong-type")
    with pytest.raises(IndexQueryError, match=r"/simple/torch/: unexpected content type"):
        make_index_client().files("torch")


def _wheel(name: str, version: str, requires: list[str]) -> bytes:
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{name}-{version}.dist-info/METADATA", meta)
        archive.writestr(f"{name}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        archive.writestr(f"{name}-{version}.dist-info/RECORD", "")
    return buffer.getvalue()


def test_find_links_directory_and_html_page(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer, tmp_path: Path
) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / "tinypkg-1.0-py3-none-any.whl").write_bytes(_wheel("tinypkg", "1.0", ["six>=1"]))
    (folder / "other-2.0-py3-none-any.whl").write_bytes(_wheel("other", "2.0", []))
    index_server.add("/links/tinypkg-2.0-py3-none-any.whl", _wheel("tinypkg", "2.0", ["attrs"]))
    index_server.add(
        "/links/index.html",
        b'<html><a href="tinypkg-2.0-py3-none-any.whl">tinypkg 2.0</a></html>',
        "text/html",
    )
    client = make_index_client(find_links=[str(folder), f"{index_server.url}/links/index.html"])
    files = client.files("tinypkg")
    assert [str(f.version) for f in files] == ["1.0", "2.0"]
    metas = client.metadata_many(files)
    assert [str(r) for r in metas[files[0]].requires_dist] == ["six>=1"]
    assert [str(r) for r in metas[files[1]].requires_dist] == ["attrs"]
    assert metas[files[0]].origin == "download"


def test_file_url_index_as_in_local_pip_configuration(
    make_index_client: Callable[..., IndexClient], tmp_path: Path
) -> None:
    root = tmp_path / "local-index"
    (root / "simple" / "tinypkg").mkdir(parents=True)
    (root / "files").mkdir()
    (root / "files" / "tinypkg-3.0-py3-none-any.whl").write_bytes(_wheel("tinypkg", "3.0", []))
    (root / "simple" / "tinypkg" / "index.html").write_text(
        '<a href="../../files/tinypkg-3.0-py3-none-any.whl">tinypkg-3.0-py3-none-any.whl</a>',
        encoding="utf-8",
    )
    client = make_index_client(extra_index_urls=[(root / "simple").as_uri()])
    (found,) = client.files("tinypkg")
    assert found.url == (root / "files" / "tinypkg-3.0-py3-none-any.whl").as_uri()
    assert client.metadata(found).version == Version("3.0")


def test_files_many_fetches_each_page_once_in_parallel(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    client = make_index_client(max_workers=4)
    names = ["torch", "Torch", "numpy", "torchvision", "no-such-project"]
    result = client.files_many(names)
    assert list(result) == ["torch", "numpy", "torchvision", "no-such-project"]
    assert result[canonicalize_name("torch")] == client.files("torch")
    assert result[canonicalize_name("no-such-project")] == ()
    paths = [h.path for h in index_server.log]
    assert sorted(paths) == sorted(set(paths))  # one request per page


def test_find_links_page_in_torch_stable_layout(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    # The old PyTorch install line: -f https://download.pytorch.org/whl/torch_stable.html,
    # one page for every project, links relative to it and written "cu121/torch-...".
    recorded = sorted((FIXTURES / "files").glob("*+cu1*.whl.metadata"))
    assert recorded
    links = [p.name.removesuffix(".metadata") for p in recorded]
    body = "".join(
        f'<a href="{n.split("+")[1].split("-")[0]}/{n.replace("+", "%2B")}">'
        f"{n.split('+')[1].split('-')[0]}/{n}</a><br>\n"
        for n in links
    )
    index_server.add("/pytorch/torch_stable.html", body.encode(), "text/html")
    client = make_index_client(
        index_url=f"{index_server.url}/nowhere/",
        find_links=[f"{index_server.url}/pytorch/torch_stable.html"],
    )
    torch = client.files("torch")
    assert {f.filename for f in torch} == {n for n in links if n.startswith("torch-")}
    assert {f.filename for f in client.files("torchvision")} == {
        n for n in links if n.startswith("torchvision-")
    }
    assert len(index_server.requests_to("/pytorch/torch_stable.html")) == 1  # one page, reused
    meta = client.metadata(torch[0])
    assert meta.version == torch[0].version
