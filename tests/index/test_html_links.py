"""``html_links`` reads PEP 503 / find-links HTML with the standard library's parser; every
link and attribute must be the one pypi_simple (BeautifulSoup), which read them before, finds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pypi_simple import RepositoryPage

from torchresolve.errors import IndexQueryError
from torchresolve.index.pages import Link, PageFormatError, html_links

if TYPE_CHECKING:
    from collections.abc import Callable

    from _indexserver import IndexServer
    from torchresolve.index import IndexClient

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAGE_URL = "http://127.0.0.1:1/simple/demo/"


def _oracle(body: str | bytes, page_url: str) -> tuple[Link, ...]:
    page = RepositoryPage.from_html(body, page_url)
    return tuple(
        (
            link.url,
            link.get_str_attrib("data-requires-python"),
            link.get_str_attrib("data-yanked"),
            link.get_str_attrib("data-core-metadata")
            or link.get_str_attrib("data-dist-info-metadata"),
        )
        for link in page.links
    )


PAGES = sorted(FIXTURES.rglob("*.html"))


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(FIXTURES)) for p in PAGES])
def test_recorded_pages_give_the_links_pypi_simple_gives(page: Path) -> None:
    body = page.read_bytes()
    links = html_links(body, page_url=PAGE_URL)
    assert links == _oracle(body, PAGE_URL)
    assert links


CRAFTED = {
    "relative and absolute": """<!DOCTYPE html><html><body>
        <a href="../../files/demo-1.0-py3-none-any.whl#sha256=ab">demo-1.0</a>
        <a href="http://127.0.0.1:2/x/demo-1.1.tar.gz">demo-1.1</a>
        <a href="/pool/demo-1.2.zip">demo-1.2</a></body></html>""",
    "base href": """<html><head><base href="/mirror/"></head><body>
        <a href="demo-1.0-py3-none-any.whl">x</a></body></html>""",
    "escaped attributes": """<a href="demo-1.0.tar.gz" data-requires-python="&gt;=3.8,&lt;4"
        data-yanked="broken &amp; removed">demo</a>""",
    "valueless and empty attributes": """<a href="demo-1.0.tar.gz" data-yanked>a</a>
        <a href="demo-1.1.tar.gz" data-yanked="">b</a>
        <a href="demo-1.2.tar.gz" data-dist-info-metadata>c</a>""",
    "metadata attributes": """<a href="demo-1.0-py3-none-any.whl"
        data-core-metadata="sha256=cd" data-dist-info-metadata="sha256=cd">a</a>
        <a href="demo-1.1-py3-none-any.whl" data-dist-info-metadata="true">b</a>
        <a href="demo-1.2-py3-none-any.whl" data-core-metadata="false">c</a>""",
    "case, duplicates, nesting, comments": """<HTML><BODY>
        <!-- <a href="commented-out.tar.gz">no</a> -->
        <A HREF="demo-1.0.tar.gz" DATA-YANKED="x" data-yanked="y">A</A>
        <p><a href="demo-1.1.tar.gz"><span>nested</span></a></p>
        <a name="anchor-without-href">no link</a>
        <a href="">empty href</a>
        <a href=demo-1.2.tar.gz>unquoted</a></BODY></HTML>""",
    "repository version 1.1": """<html><head>
        <meta name="pypi:repository-version" content="1.0"></head>
        <body><a href="demo-1.0.tar.gz">demo</a></body></html>""",
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_pages_give_the_links_pypi_simple_gives(name: str) -> None:
    body = CRAFTED[name]
    assert html_links(body, page_url=PAGE_URL) == _oracle(body, PAGE_URL)
    assert html_links(body.encode(), page_url=PAGE_URL) == _oracle(body, PAGE_URL)


def test_a_page_of_an_unknown_repository_version_is_refused() -> None:
    body = '<meta name="pypi:repository-version" content="2.0"><a href="demo-1.0.tar.gz">d</a>'
    with pytest.raises(PageFormatError, match=r"repository version 2\.0"):
        html_links(body, page_url=PAGE_URL)


def test_the_client_reports_such_a_page_as_an_index_error(
    make_index_client: Callable[..., IndexClient], index_server: IndexServer
) -> None:
    body = b'<meta name="pypi:repository-version" content="2.0"><a href="d-1.0.tar.gz">d</a>'
    index_server.add("/pytorch/cu121/torch/", body, "text/html")
    client = make_index_client(index_url=index_server.pytorch_url("cu121"))
    with pytest.raises(IndexQueryError, match=r"unsupported repository version 2\.0"):
        client.files("torch")
