"""A real HTTP server on 127.0.0.1 serving a recorded package index, for tests.

It serves a fixture tree (see ``tests/fixtures/index``)::

    simple/<project>/index.json        PEP 691 page (file URLs relative: ../../files/<name>)
    simple/<project>/index.html        optional PEP 503 page (else rendered from the JSON)
    files/<filename>                   a real file (e.g. a wheel built in the test session)
    files/<filename>.metadata          METADATA of a recorded wheel; /files/<filename> is then
                                       a small valid wheel synthesised from it
    pypi/<project>/json                project JSON API documents (optional)
    pytorch/<variant>/<project>/index.html   PyTorch wheel index pages (local versions)

Routes: ``/simple/<project>/`` (JSON or HTML by the Accept header), ``/files/<name>`` with
single-range ``Range`` support, ``/files/<name>.metadata`` (PEP 658; 404 unless
``serve_metadata``), ``/pypi/<project>/json``, ``/pytorch/...``. Everything else is 404.

Fault injection: :meth:`IndexServer.fail` queues faults for a path (``500``, ``503``, ``429``,
``404``, ``timeout``, ``truncate``, ``wrong-type``, ``ignore-range``); each request to the path
consumes one. ``honour_range=False`` ignores ``Range`` everywhere. Every request is logged in
:attr:`IndexServer.log`. Pages carry an ETag and answer ``If-None-Match`` with 304.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import json
import re
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "FIXTURES",
    "IndexServer",
    "Logged",
    "render_html",
    "serving",
    "synthesise_sdist",
    "synthesise_wheel",
]

FIXTURES = Path(__file__).parent / "fixtures" / "index"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass(frozen=True, slots=True)
class Logged:
    """One request the server answered."""

    method: str
    path: str
    range: str | None
    status: int
    sent: int


def synthesise_wheel(filename: str, metadata: bytes, padding: int = 0) -> bytes:
    """A valid wheel zip named ``filename`` whose METADATA is ``metadata``.

    ``padding`` bytes of stored (uncompressed) data come first, so the file is large like the
    real wheel and the dist-info sits at the end, as in real wheels.
    """
    name, version = filename.split("-")[:2]
    dist_info = f"{name}-{version}.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if padding:
            archive.writestr(
                zipfile.ZipInfo(f"{name}/_payload.bin"), b"\0" * padding, zipfile.ZIP_STORED
            )
        archive.writestr(f"{name}/__init__.py", b"", zipfile.ZIP_DEFLATED)
        archive.writestr(f"{dist_info}/METADATA", metadata, zipfile.ZIP_DEFLATED)
        archive.writestr(
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: torchresolve-tests\nRoot-Is-Purelib: false\n",
        )
        archive.writestr(f"{dist_info}/RECORD", b"")
    return buffer.getvalue()


def synthesise_sdist(filename: str, pkg_info: bytes) -> bytes:
    """A ``.tar.gz`` or ``.zip`` sdist named ``filename`` holding ``<stem>/PKG-INFO``."""
    buffer = io.BytesIO()
    if filename.endswith(".zip"):
        stem = filename.removesuffix(".zip")
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"{stem}/PKG-INFO", pkg_info)
            archive.writestr(f"{stem}/setup.py", b"")
        return buffer.getvalue()
    stem = filename.removesuffix(".tar.gz")
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, data in ((f"{stem}/PKG-INFO", pkg_info), (f"{stem}/setup.py", b"")):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class IndexServer:
    """Serve ``root`` on an ephemeral port of 127.0.0.1 from a background thread.

    :param root: the fixture tree.
    :param serve_metadata: answer ``/files/<name>.metadata`` (PEP 658) instead of 404.
    :param honour_range: answer ``Range`` with 206; ``False`` sends whole files with 200.
    :param wheel_padding: bytes of padding inside synthesised wheels.
    :param timeout_seconds: how long a ``timeout`` fault stalls before answering.
    :param json_pages: offer PEP 691 JSON pages; ``False`` serves HTML only (PEP 503).
    """

    def __init__(
        self,
        root: Path = FIXTURES,
        *,
        serve_metadata: bool = False,
        honour_range: bool = True,
        wheel_padding: int = 256 * 1024,
        timeout_seconds: float = 2.0,
        json_pages: bool = True,
    ) -> None:
        self.json_pages = json_pages
        self.root = Path(root)
        self.serve_metadata = serve_metadata
        self.honour_range = honour_range
        self.wheel_padding = wheel_padding
        self.timeout_seconds = timeout_seconds
        self.log: list[Logged] = []
        self.overlay: dict[str, tuple[bytes, str]] = {}
        self._faults: dict[str, list[str]] = {}
        self._wheels: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> IndexServer:
        """Bind and serve; returns ``self``."""
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def simple_url(self) -> str:
        """The simple index URL, ``<url>/simple/``."""
        return f"{self.url}/simple/"

    def pytorch_url(self, variant: str) -> str:
        """The PyTorch-layout index of ``variant`` (``cu121``), ``<url>/pytorch/<variant>/``."""
        return f"{self.url}/pytorch/{variant}/"

    # -- test controls ---------------------------------------------------------------
    def fail(self, path: str, *faults: str) -> None:
        """Queue ``faults`` for requests to ``path`` (exact path, e.g. ``/simple/numpy/``)."""
        with self._lock:
            self._faults.setdefault(path, []).extend(faults)

    def add(self, path: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        """Serve ``body`` at ``path`` (takes precedence over the fixture tree)."""
        with self._lock:
            self.overlay[path] = (body, content_type)

    def requests_to(self, prefix: str) -> list[Logged]:
        """Logged requests whose path starts with ``prefix``."""
        with self._lock:
            return [entry for entry in self.log if entry.path.startswith(prefix)]

    def bytes_sent(self) -> int:
        """Total body bytes sent so far."""
        with self._lock:
            return sum(entry.sent for entry in self.log)

    def clear_log(self) -> None:
        """Forget logged requests."""
        with self._lock:
            self.log.clear()

    # -- internals --------------------------------------------------------------------
    def _next_fault(self, path: str) -> str | None:
        with self._lock:
            queue = self._faults.get(path)
            return queue.pop(0) if queue else None

    def _record(self, entry: Logged) -> None:
        with self._lock:
            self.log.append(entry)

    def wheel(self, filename: str) -> bytes | None:
        """The bytes served for ``/files/<filename>`` of a recorded wheel or sdist, if any."""
        with self._lock:
            cached = self._wheels.get(filename)
        if cached is not None:
            return cached
        source = self.root / "files" / f"{filename}.metadata"
        if not source.is_file():
            return None
        if filename.endswith(".whl"):
            data = synthesise_wheel(filename, source.read_bytes(), self.wheel_padding)
        elif filename.endswith((".tar.gz", ".zip")):
            data = synthesise_sdist(filename, source.read_bytes())
        else:
            return None
        with self._lock:
            self._wheels[filename] = data
        return data

    def resolve(self, path: str, accept: str) -> tuple[bytes, str] | None:
        """The body and content type for ``path``, or ``None`` (404)."""
        with self._lock:
            if path in self.overlay:
                return self.overlay[path]
        parts = [p for p in path.split("/") if p]
        if any(p in {".", ".."} for p in parts):
            return None
        if len(parts) == 2 and parts[0] == "simple":
            return self._simple(parts[1], accept)
        if len(parts) == 2 and parts[0] == "files":
            return self._file(parts[1])
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            target = self.root / "pypi" / parts[1] / "json"
            return (target.read_bytes(), "application/json") if target.is_file() else None
        if parts and parts[0] == "pytorch":
            return self._pytorch(parts[1:])
        return None

    def _simple(self, project: str, accept: str) -> tuple[bytes, str] | None:
        folder = self.root / "simple" / project
        as_json = folder / "index.json"
        as_html = folder / "index.html"
        wants_json = "json" in accept and self.json_pages
        if wants_json and as_json.is_file():
            return as_json.read_bytes(), JSON_TYPE
        if as_html.is_file():
            return as_html.read_bytes(), "text/html"
        if as_json.is_file():
            return render_html(json.loads(as_json.read_bytes())), "text/html"
        return None

    def _file(self, name: str) -> tuple[bytes, str] | None:
        folder = self.root / "files"
        if name.endswith(".metadata"):
            source = folder / name
            if self.serve_metadata and source.is_file():
                return source.read_bytes(), "application/octet-stream"
            return None
        real = folder / name
        if real.is_file():
            return real.read_bytes(), "application/octet-stream"
        data = self.wheel(name)
        return None if data is None else (data, "application/octet-stream")

    def _pytorch(self, parts: list[str]) -> tuple[bytes, str] | None:
        base = self.root / "pytorch"
        if len(parts) == 1 and parts[0].endswith(".html"):  # a find-links page
            page = base / parts[0]
            return (page.read_bytes(), "text/html") if page.is_file() else None
        if len(parts) == 2 and parts[1].endswith((".whl", ".tar.gz", ".zip")):
            return self._file(parts[1])  # /pytorch/<variant>/<file>, as /whl/cu121/<file>
        if len(parts) == 2:  # /pytorch/<variant>/<project>/
            page = base / parts[0] / parts[1] / "index.html"
            return (page.read_bytes(), "text/html") if page.is_file() else None
        return None


def render_html(data: dict[str, Any]) -> bytes:
    """A PEP 503 page with the same files as a PEP 691 document (yanked, requires-python)."""
    lines = ["<!DOCTYPE html>", "<html><body>"]
    for entry in data.get("files", []):
        href = str(entry["url"])
        sha = (entry.get("hashes") or {}).get("sha256")
        if sha:
            href += f"#sha256={sha}"
        attrs = [f'href="{html.escape(href)}"']
        if entry.get("requires-python"):
            attrs.append(f'data-requires-python="{html.escape(entry["requires-python"])}"')
        yanked = entry.get("yanked")
        if yanked:
            reason = yanked if isinstance(yanked, str) else ""
            attrs.append(f'data-yanked="{html.escape(reason)}"')
        lines.append(f"<a {' '.join(attrs)}>{html.escape(entry['filename'])}</a><br/>")
    lines.append("</body></html>")
    return "\n".join(lines).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    server_state: IndexServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr log; requests are in ``IndexServer.log``."""

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        extra: dict[str, str] | None = None,
        *,
        head: bool = False,
        declared: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if declared is None else declared))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        # Logged before the body goes out, so a client that has its answer sees the entry.
        self.server_state._record(
            Logged(
                self.command, self.path, self.headers.get("Range"), status, 0 if head else len(body)
            )
        )
        self.end_headers()
        if not head:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def _answer(self, *, head: bool) -> None:
        state = self.server_state
        path = urlsplit(self.path).path
        fault = state._next_fault(path)
        if fault in {"500", "502", "503", "429", "404"}:
            extra = {"Retry-After": "0"} if fault == "429" else None
            self._send(int(fault), b"fault injected", "text/plain", extra, head=head)
            return
        if fault == "timeout":
            time.sleep(state.timeout_seconds)
        found = state.resolve(unquote(path), self.headers.get("Accept", ""))
        if found is None:
            self._send(404, b"not found", "text/plain", head=head)
            return
        body, content_type = found
        if fault == "wrong-type":
            content_type = "text/plain"
        if fault == "truncate":
            body = body[: len(body) // 2]
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        extra = {"ETag": etag, "Accept-Ranges": "bytes" if state.honour_range else "none"}
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", content_type, extra, head=True)
            return
        wanted = self.headers.get("Range")
        if wanted and state.honour_range and fault != "ignore-range":
            span = _parse_range(wanted, len(body))
            if span is None:
                extra["Content-Range"] = f"bytes */{len(body)}"
                self._send(416, b"", content_type, extra, head=head)
                return
            start, end = span
            extra["Content-Range"] = f"bytes {start}-{end - 1}/{len(body)}"
            self._send(206, body[start:end], content_type, extra, head=head)
            return
        self._send(200, body, content_type, extra, head=head)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    match = _RANGE.match(header.strip())
    if match is None or size == 0:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        return max(0, size - int(last)), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    if start >= size or end <= start:
        return None
    return start, end


@contextlib.contextmanager
def serving(root: Path = FIXTURES, **options: Any) -> Iterator[IndexServer]:
    """``with serving(root) as server:`` - start, yield, stop."""
    server = IndexServer(root, **options).start()
    try:
        yield server
    finally:
        server.stop()
