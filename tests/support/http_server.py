"""A real HTTP/1.1 server on loopback for the HTTP client tests (requests, urllib3, ...).

Loaded for every test by the root conftest (``pytest_plugins``): ``server`` is a threaded server
shared by the session that records what it received (``server.seen``), ``closed_port`` a port
nothing listens on, ``closing`` closes clients a test opened.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """``closing(client)`` returns ``client`` and closes it when the test ends (no socket is
    left for the garbage collector to warn about)."""
    clients: list[Any] = []

    def register(client: Any) -> Any:
        clients.append(client)
        return client

    yield register
    for client in clients:
        close = getattr(client, "close", None) or client.clear
        close()


# --- a real HTTP/1.1 server on loopback, in a thread ------------------------------------------


class Headers(dict):  # type: ignore[type-arg]
    """Received headers as sent (names in the client's case), looked up case-insensitively
    (urllib title-cases every name: ``Traceparent``)."""

    def _key(self, name: object) -> object:
        if isinstance(name, str) and not dict.__contains__(self, name):
            for key in self:
                if key.lower() == name.lower():
                    return key
        return name

    def __getitem__(self, name: object) -> str:
        return str(dict.__getitem__(self, self._key(name)))

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, self._key(name))

    def get(self, name: object, default: object = None) -> object:  # type: ignore[override]
        return dict.get(self, self._key(name), default)


class Seen:
    """One request as the server received it."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = Headers(headers)
        self.body = body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, chunked responses
    disable_nagle_algorithm = True  # headers and body leave at once: no delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self) -> None:
        body = self._body()
        server: TestServer = self.server.owner  # type: ignore[attr-defined]
        path = self.path
        server.seen.append(Seen(self.command, path, dict(self.headers.items()), body))
        route = path.partition("?")[0]
        if route.startswith("/status/"):
            self._send(int(route.rsplit("/", 1)[1]), b"status")
        elif route == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/slow":
            time.sleep(1.0)
            self._send(200, b"slow")
        elif route == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif route == "/echo":
            self._send(200, body)
        elif route == "/repeated":
            self.send_response(200)
            self.send_header("X-Repeated", "a")
            self.send_header("X-Repeated", "b")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(200, b"ok")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "test-server")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _answer


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left: expected here


class TestServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; ``seen`` lists what it received."""

    __test__ = False

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._server = _QuietServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def http_server() -> Iterator[TestServer]:
    server = TestServer()
    yield server
    server.close()


@pytest.fixture
def server(http_server: TestServer) -> TestServer:
    """The shared server, with an empty ``seen`` list."""
    http_server.seen.clear()
    return http_server


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (connection refused). The port stays bound, without
    listening, until the test ends: no other process (a parallel test run) can start a server
    on it in the meantime."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
