"""HTTP with retries, byte counting and ``file://`` support for the index client.

Every request of the index seam goes through :class:`Fetcher`, so retries, timeouts and the
count of bytes moved are in one place.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Union

from torchresolve._compat import file_url_path
from torchresolve.errors import IndexQueryError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import requests

    from torchresolve.observer import Observer

__all__ = ["Fetcher", "Response", "SessionSource", "TransferStats", "make_session"]

SessionSource = Union["requests.Session", "Callable[[], requests.Session]"]
"""A session, or a function making one when the first request is due.

A warm run answers everything from the cache; importing :mod:`requests` (~45 ms, a sixth of
such a run) is then wasted, so the CLI passes ``functools.partial(make_session, n)``."""

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_CHUNK = 1 << 16


def make_session(max_workers: int = 8) -> requests.Session:
    """A :class:`requests.Session` whose connection pools hold ``max_workers`` connections.

    One pool per host keeps connections alive between the parallel metadata fetches; a CA
    bundle is parsed once per session (see :mod:`torchresolve.index._tls`).
    """
    import requests

    from torchresolve.index._tls import SharedContextAdapter

    session = requests.Session()
    adapter = SharedContextAdapter(
        pool_connections=max_workers, pool_maxsize=max_workers, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """A finished HTTP exchange: status, the headers that matter, and the body read."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case (``""`` when absent)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(slots=True)
class TransferStats:
    """Counters of one client's network use: requests, body bytes, bytes per kind and per URL."""

    requests: int = 0
    bytes: int = 0
    by_kind: dict[str, int] | None = None
    by_url: dict[str, int] | None = None

    def snapshot(self) -> dict[str, int]:
        """The counters as a plain dict (``requests``, ``bytes``, then bytes per kind)."""
        out = {"requests": self.requests, "bytes": self.bytes}
        out.update({f"bytes_{k}": v for k, v in (self.by_kind or {}).items()})
        return out


class BodyTooLarge(Exception):
    """The server sent (or would send) more than the caller allowed; nothing was kept."""

    def __init__(self, length: int | None) -> None:
        self.length = length
        super().__init__(f"body of {length} bytes is over the limit")


class Fetcher:
    """GETs with retries and backoff; counts requests and bytes.

    :param session: the HTTP session (connection reuse; pool sized by the caller), or a
        function making it, called once, when the first network request is due.
    :param timeout: seconds for connecting and for each read.
    :param retries: extra tries after the first, on timeouts, connection errors, 429 and 5xx.
    :param backoff: seconds before the first retry; doubled each time (``Retry-After`` wins
        when the server sends one, capped at 30 s).
    """

    def __init__(
        self,
        session: SessionSource,
        *,
        timeout: float,
        retries: int = 3,
        backoff: float = 0.5,
        observer: Observer | None = None,
    ) -> None:
        self._session: requests.Session | None = None
        self._make_session: Callable[[], requests.Session] | None = None
        if callable(session):
            self._make_session = session
        else:
            self._session = session
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.observer = observer
        self.stats = TransferStats(by_kind={}, by_url={})
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """The HTTP session, made on first use when a factory was given."""
        with self._lock:
            if self._session is None:
                assert self._make_session is not None
                self._session = self._make_session()
            return self._session

    def _count(self, url: str, kind: str, nbytes: int, *, request: bool) -> None:
        with self._lock:
            if request:
                self.stats.requests += 1
            self.stats.bytes += nbytes
            assert self.stats.by_kind is not None
            assert self.stats.by_url is not None
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + nbytes
            self.stats.by_url[url] = self.stats.by_url.get(url, 0) + nbytes

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        kind: str = "other",
        max_bytes: int | None = None,
        ok_statuses: frozenset[int] = frozenset({200, 203, 206, 304}),
    ) -> Response:
        """GET ``url``; return any final response whose status is in ``ok_statuses`` or 404.

        :param kind: a label for the byte counters (``page``, ``metadata``, ``range``...).
        :param max_bytes: refuse bodies longer than this (checked against Content-Length before
            reading, and while reading).
        :raises BodyTooLarge: the body is over ``max_bytes``.
        :raises IndexQueryError: another status, or retries used up; names URL and problem.
        """
        if url.startswith("file:"):
            return self._get_file(url, kind=kind, max_bytes=max_bytes)
        import requests  # here, not at module level: a warm run never gets this far

        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff * (2 ** (attempt - 1))
                time.sleep(delay)
            try:
                response = self._once(url, headers or {}, kind, max_bytes)
            except requests.Timeout:
                problem = f"timed out after {self.timeout:g} s"
                self._note(url, problem, attempt)
                continue
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                problem = f"connection failed ({type(exc).__name__})"
                self._note(url, problem, attempt)
                continue
            except requests.RequestException as exc:
                raise IndexQueryError(url, f"request failed: {exc}") from exc
            if response.status in _RETRY_STATUS:
                problem = f"HTTP {response.status}"
                self._note(url, problem, attempt)
                retry_after = _retry_after(response.headers.get("retry-after"))
                if retry_after is not None and attempt < self.retries:
                    time.sleep(min(retry_after, 30.0))
                continue
            if response.status in ok_statuses or response.status == 404:
                return response
            raise IndexQueryError(url, f"HTTP {response.status}")
        raise IndexQueryError(url, f"{problem} (gave up after {self.retries + 1} tries)")

    def _note(self, url: str, problem: str, attempt: int) -> None:
        if self.observer is not None and attempt < self.retries:
            self.observer.note(f"{url}: {problem}; retrying")

    def _once(
        self, url: str, headers: Mapping[str, str], kind: str, max_bytes: int | None
    ) -> Response:
        with self.session.get(
            url, headers=dict(headers), timeout=self.timeout, stream=True, allow_redirects=True
        ) as raw:
            self._count(url, kind, 0, request=True)
            declared = raw.headers.get("content-length")
            if (
                max_bytes is not None
                and raw.status_code in (200, 206)
                and declared is not None
                and declared.isdigit()
                and int(declared) > max_bytes
            ):
                raise BodyTooLarge(int(declared))
            chunks: list[bytes] = []
            total = 0
            for chunk in raw.iter_content(_CHUNK):
                chunks.append(chunk)
                total += len(chunk)
                self._count(url, kind, len(chunk), request=False)
                if max_bytes is not None and total > max_bytes and raw.status_code in (200, 206):
                    raise BodyTooLarge(None)
            return Response(
                url=raw.url or url,
                status=raw.status_code,
                headers={k.lower(): v for k, v in raw.headers.items()},
                body=b"".join(chunks),
            )

    def _get_file(self, url: str, *, kind: str, max_bytes: int | None) -> Response:
        path = file_url_path(url)
        if path.is_dir():
            path = path / "index.html"
        try:
            size = path.stat().st_size
            if max_bytes is not None and size > max_bytes:
                raise BodyTooLarge(size)
            body = path.read_bytes()
        except FileNotFoundError:
            return Response(url=url, status=404, headers={}, body=b"")
        except OSError as exc:
            raise IndexQueryError(url, f"cannot read: {exc.strerror}") from exc
        suffix = path.suffix.lower()
        ctype = {".html": "text/html", ".json": "application/json"}.get(suffix, "")
        return Response(url=url, status=200, headers={"content-type": ctype}, body=body)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
