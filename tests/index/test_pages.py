"""The pure page parsers and target tags."""

from __future__ import annotations

import json

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from torchresolve.index import target_tags
from torchresolve.index.pages import PageFormatError, parse_html_page, parse_json_page

PAGE = "http://idx.test/simple/demo/"


def test_json_page_keeps_project_files_and_skips_others() -> None:
    body = json.dumps(
        {
            "meta": {"api-version": "1.1"},
            "name": "demo",
            "files": [
                {
                    "filename": "demo-1.0-py3-none-any.whl",
                    "url": "../../f/demo-1.0-py3-none-any.whl",
                    "hashes": {"sha256": "ab"},
                    "requires-python": ">=3.8",
                    "yanked": True,
                },
                {
                    "filename": "demo-1.0.tar.gz",
                    "url": "/f/demo-1.0.tar.gz#sha256=cd",
                    "hashes": {},
                    "requires-python": ">=3.5.*",
                    "yanked": False,
                },
                {"filename": "demo-0.9.win32.exe", "url": "x.exe", "hashes": {}},
                {"filename": "demo-0.8-py2.7.egg", "url": "x.egg", "hashes": {}},
                {"filename": "other-1.0-py3-none-any.whl", "url": "o.whl", "hashes": {}},
            ],
        }
    )
    wheel, sdist = parse_json_page(body, page_url=PAGE, project="Demo", index_url="i")
    assert wheel.url == "http://idx.test/f/demo-1.0-py3-none-any.whl"
    assert wheel.yanked == ""
    assert wheel.requires_python == SpecifierSet(">=3.8")
    assert sdist.kind == "sdist"
    assert sdist.hashes == {"sha256": "cd"}
    assert sdist.url == "http://idx.test/f/demo-1.0.tar.gz"
    assert sdist.requires_python is None  # ">=3.5.*" is invalid: ignored, as pip does
    assert sdist.yanked is None


@pytest.mark.parametrize(
    "body", ['{"files": [', '{"meta": {}}', '{"meta": {"api-version": "2.0"}, "files": []}']
)
def test_broken_json_pages_are_refused(body: str) -> None:
    with pytest.raises(PageFormatError):
        parse_json_page(body, page_url=PAGE, project="demo", index_url="i")


def test_html_page_reads_yanked_and_requires_python_attributes() -> None:
    body = (
        '<a href="demo-1.0-py3-none-any.whl#sha256=ab" data-requires-python="&gt;=3.9"'
        ' data-yanked="">demo-1.0-py3-none-any.whl</a>'
        '<a href="demo-2.0-py3-none-any.whl" data-yanked="broken build">x</a>'
        '<a href="demo-3.0-py3-none-any.whl" data-core-metadata="sha256=ef">demo</a>'
    )
    one, two, three = parse_html_page(body, page_url=PAGE, project="demo", index_url="i")
    assert one.requires_python == SpecifierSet(">=3.9")
    assert one.yanked == ""
    assert one.sha256 == "ab"
    assert two.yanked == "broken build"
    assert three.yanked is None
    assert three.metadata_url == "http://idx.test/simple/demo/demo-3.0-py3-none-any.whl.metadata"


def test_target_tags_for_python_and_platform() -> None:
    linux = target_tags(Version("3.11"), "linux_x86_64")
    assert any(str(t) == "cp311-cp311-manylinux_2_28_x86_64" for t in linux)
    assert any(str(t) == "cp311-cp311-manylinux1_x86_64" for t in linux)
    assert any(str(t) == "cp39-abi3-manylinux2014_x86_64" for t in linux)
    assert any(str(t) == "py3-none-any" for t in linux)
    assert not any("cp38-cp38" in str(t) for t in linux)
    assert not any("win" in str(t) for t in linux)
    old = target_tags(Version("3.7"), "linux_x86_64")
    assert any(str(t) == "cp37-cp37m-manylinux1_x86_64" for t in old)
    win = target_tags(Version("3.11"), "windows")
    assert any(str(t) == "cp311-cp311-win_amd64" for t in win)
    mac = target_tags(Version("3.11"), "macos_arm64")
    assert any(str(t) == "cp311-cp311-macosx_11_0_arm64" for t in mac)
