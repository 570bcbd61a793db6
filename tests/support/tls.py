"""A real HTTPS server on loopback for the HTTP client tests, with a locally generated CA.

``trustme`` makes a throw-away certificate authority and a server certificate for ``127.0.0.1``
and ``localhost``; nothing touches the system trust store. The server is ``http_server``'s
threaded HTTP/1.1 server (same handler, same routes, same ``seen`` list) with TLS on each
accepted connection; the handshake runs in the connection's own thread, so a client that fails
it cannot stall the others.

Fixtures (import them into a ``conftest.py``): ``tls_server`` (shared by the session, ``seen``
emptied per test) and ``tls_ca_bundle`` (the path of the CA's PEM file, for ``verify=`` /
``ca_certs=``). ``untrusted_tls_server`` presents a certificate from *another* CA, so that
verification fails.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support.http_server import TestServer, _Handler, _QuietServer

__all__ = [
    "TlsTestServer",
    "tls_ca_bundle",
    "tls_server",
    "untrusted_tls_server",
]


class _TlsServer(_QuietServer):
    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs in the connection's thread: a failed handshake ends this connection only.
        tls = self.context.wrap_socket(request, server_side=True)
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class TlsTestServer(TestServer):
    """``TestServer`` over TLS: ``origin`` is ``https://127.0.0.1:<port>``."""

    __test__ = False

    def __init__(self, ca: trustme.CA) -> None:
        self.seen = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server = _TlsServer(context)
        self._server.owner = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.origin = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()


@pytest.fixture(scope="session")
def _tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_ca_bundle(_tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The PEM file of the CA that signed ``tls_server``'s certificate."""
    path: Path = tmp_path_factory.mktemp("tls") / "ca.pem"
    _tls_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def _shared_tls_server(_tls_ca: trustme.CA) -> Iterator[TlsTestServer]:
    server = TlsTestServer(_tls_ca)
    yield server
    server.close()


@pytest.fixture
def tls_server(_shared_tls_server: TlsTestServer) -> TlsTestServer:
    """The shared HTTPS server, with an empty ``seen`` list."""
    _shared_tls_server.seen.clear()
    return _shared_tls_server


@pytest.fixture(scope="session")
def untrusted_tls_server() -> Iterator[TlsTestServer]:
    """An HTTPS server whose certificate comes from a CA no client here trusts."""
    server = TlsTestServer(trustme.CA())
    yield server
    server.close()
