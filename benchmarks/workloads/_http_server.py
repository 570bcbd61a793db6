"""A keep-alive HTTP/1.1 server on loopback for the client workloads (requests, urllib3).

Every request gets ``200 OK`` with the body ``ok``; a client reuses one connection, so a call is one
request/response round trip on an open socket.

``scripts/bench`` (the driver, ``run.py``) starts one server for the whole run with ``serve()``
and gives its URL to every worker in ``INSTRUMENTARIUM_BENCH_HTTP_URL``: every variant talks to the
same server, in a process that outlives all workers, and records the same URL and peer port, so
the report's telemetry comparison shows only real differences. A worker started by hand, without
that variable, serves itself on a free port.
"""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BODY = b"ok"
PATH = "/users/42?q=abc"
URL_VARIABLE = "INSTRUMENTARIUM_BENCH_HTTP_URL"


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def serve() -> str:
    """Start a server on a free loopback port, in a daemon thread; the URL of ``PATH`` on it."""
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, name="bench-http", daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}{PATH}"


_url: list[str] = []


def server_url() -> str:
    """The URL the client workloads call: the driver's server, or this process's own."""
    if not _url:
        _url.append(os.environ.get(URL_VARIABLE) or serve())
    return _url[0]


def carrier() -> dict[str, Any]:
    """Client workloads inject; the floor extracts nothing."""
    return {}
