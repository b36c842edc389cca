"""HTTPS through ``make_session``: a CA bundle is parsed once per session, and certificates
and host names are still verified (a real TLS server on 127.0.0.1, certificates made by the
openssl command line tool)."""

from __future__ import annotations

import http.server
import shutil
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest

from torchresolve import _subprocess
from torchresolve.errors import IndexQueryError
from torchresolve.index.http import Fetcher, make_session

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert)]  # fmt: skip
    _subprocess.run(argv, timeout=60)
    return cert, key


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"meta": {"api-version": "1.0"}, "name": "demo", "files": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # quiet: the test output stays readable


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """``(https URL, the server's certificate, another certificate)``."""
    cert, key = _certificate(tmp_path, "server")
    other, _ = _certificate(tmp_path, "other")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/simple/demo/", cert, other
    finally:
        server.shutdown()
        server.server_close()


def test_a_ca_bundle_is_parsed_once_for_many_connections(
    tls_server: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert, _ = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    session = make_session(4)
    fetcher = Fetcher(session, timeout=10.0, retries=0)
    # Parallel requests open several connections (the pool holds four).
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda n: fetcher.get(f"{url}?n={n}").status, range(12)))
    assert statuses == [200] * 12
    assert fetcher.stats.requests == 12
    assert len(loads) == 1


def test_a_server_the_bundle_does_not_trust_is_refused(
    tls_server: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, other = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    fetcher = Fetcher(make_session(2), timeout=10.0, retries=0)
    with pytest.raises(IndexQueryError):
        fetcher.get(url)


def test_a_host_name_the_certificate_does_not_name_is_refused(
    tls_server: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert, _ = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    fetcher = Fetcher(make_session(2), timeout=10.0, retries=0)
    with pytest.raises(IndexQueryError):
        fetcher.get(url.replace("127.0.0.1", "localhost"))
    # The same session reaches the name the certificate carries.
    assert fetcher.get(url).status == 200
