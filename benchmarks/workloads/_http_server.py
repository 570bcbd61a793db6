"""A keep-alive HTTP/1.1 server on loopback, in a daemon thread of the worker process.

Every request gets ``200 OK`` with the body ``ok``; the client workloads (requests, urllib3)
reuse one connection, so a call is one request/response round trip on an open socket.

Each worker serves on the same port (``SO_REUSEPORT``), so every variant records the same URL and
``net.peer.port`` and the report's telemetry comparison shows only real differences. A worker's
connection stays on the server that accepted it; all of them answer the same. If the port is
taken by something else, a free one is used instead.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BODY = b"ok"
PATH = "/users/42?q=abc"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


PORT = 47213


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        if hasattr(socket, "SO_REUSEPORT"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


_url: list[str] = []


def server_url() -> str:
    """The URL of ``PATH`` on this process's server, started on first use."""
    if not _url:
        try:
            server = _Server(("127.0.0.1", PORT), _Handler)
        except OSError:
            server = _Server(("127.0.0.1", 0), _Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _url.append(f"http://127.0.0.1:{server.server_address[1]}{PATH}")
    return _url[0]


def carrier() -> dict[str, Any]:
    """Client workloads inject; the floor extracts nothing."""
    return {}
