"""An HTTP adapter that loads a CA bundle once per session, not once per connection.

requests hands a CA bundle path (``verify="/path"``: ``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``, pip's ``cert`` option) to urllib3, which then builds an SSL context and
parses the whole bundle for every new connection: ~25 ms of CPU each, 0.4 s of a cold
``upgrade`` that opens 16 connections. Here each bundle is parsed once into a shared context,
which every pool of the session uses; certificates and host names are verified as before.

Imported only when a session is made (it imports requests).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from requests.adapters import DEFAULT_CA_BUNDLE_PATH, HTTPAdapter
from urllib3.util.ssl_ import create_urllib3_context

if TYPE_CHECKING:
    import ssl

    from requests import PreparedRequest

__all__ = ["SharedContextAdapter"]


class SharedContextAdapter(HTTPAdapter):
    """:class:`~requests.adapters.HTTPAdapter` with one SSL context per CA location."""

    def __init__(self, **kwargs: Any) -> None:
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._contexts_lock = threading.Lock()
        super().__init__(**kwargs)

    def _context(self, location: str) -> ssl.SSLContext:
        """The context trusting the bundle file or folder at ``location``, made once."""
        with self._contexts_lock:
            context = self._contexts.get(location)
            if context is None:
                context = create_urllib3_context()
                if Path(location).is_dir():
                    context.load_verify_locations(capath=location)
                else:
                    context.load_verify_locations(cafile=location)
                self._contexts[location] = context
            return context

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[Any, Any]:
        """requests' pool key, with the shared context instead of a CA path to load."""
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        if host.get("scheme") == "https" and verify is not False:
            location = verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
            pool.pop("ca_certs", None)
            pool.pop("ca_cert_dir", None)
            pool["ssl_context"] = self._context(location)
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        """As requests does, then drop the CA path from the pool: its context holds the CAs
        (urllib3 would load the path into the context again for every connection)."""
        parent: Any = super()  # typed differently by requests and by its stubs
        parent.cert_verify(conn, url, verify, cert)
        if url.lower().startswith("https") and verify:
            conn.ca_certs = None
            conn.ca_cert_dir = None
