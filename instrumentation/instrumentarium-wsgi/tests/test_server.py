"""End to end: the middleware in a real ``wsgiref`` server, driven over HTTP by ``http.client``."""

from __future__ import annotations

import http.client
import socketserver
import threading
from collections.abc import Iterator
from typing import Any, Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

CLIENTS = 4
TIMEOUT = 10  # seconds; a guard against a hung test, not a performance threshold


class QuietHandler(WSGIRequestHandler):
    """A request handler that does not log every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """``wsgiref``'s server, one thread per request, as production servers run apps."""

    daemon_threads = True


@pytest.fixture
def serve(wrap: Callable[..., Any]) -> Iterator[Callable[..., int]]:
    """``serve(app, **middleware_kwargs)`` starts a real server on 127.0.0.1 and returns its
    port; every server is shut down after the test."""
    running: list[tuple[WSGIServer, threading.Thread]] = []

    def start(app: Callable[..., Any], **kwargs: Any) -> int:
        server = make_server(
            "127.0.0.1",
            0,
            wrap(app, **kwargs),
            server_class=ThreadingWSGIServer,
            handler_class=QuietHandler,
        )
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        running.append((server, thread))
        return int(server.server_port)

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class TestRealServer:
    def test_simple_request(
        self, serve: Callable[..., int], span_exporter: InMemorySpanExporter
    ) -> None:
        """A request over HTTP gives one SERVER span with the server's real attributes."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hi"]

        port = serve(app)
        assert get(port, "/hi?x=1") == (200, b"hi")
        (span,) = span_exporter.get_finished_spans()
        assert span.name == "GET /hi"
        assert span.kind is SpanKind.SERVER
        assert span.attributes["net.peer.ip"] == "127.0.0.1"
        assert span.attributes["http.host"] == f"127.0.0.1:{port}"
        assert span.attributes["http.url"] == f"http://127.0.0.1:{port}/hi?x=1"

    def test_remote_parent_over_http(
        self, serve: Callable[..., int], span_exporter: InMemorySpanExporter
    ) -> None:
        """A ``traceparent`` header sent by a client is continued by the server span."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            start_response("200 OK", [])
            return [b""]

        port = serve(app)
        trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        get(port, "/", {"traceparent": f"00-{trace_id}-{parent_id}-01"})
        (span,) = span_exporter.get_finished_spans()
        assert span.context.trace_id == int(trace_id, 16)
        assert span.parent is not None
        assert span.parent.span_id == int(parent_id, 16)

    def test_streaming_response(
        self, serve: Callable[..., int], span_exporter: InMemorySpanExporter
    ) -> None:
        """While a streamed body is being sent the span is open; it ends once the last chunk
        is sent and the body closed."""
        release = threading.Event()

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"one;"
            release.wait(TIMEOUT)
            yield b"two"

        port = serve(app)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        try:
            connection.request("GET", "/stream")
            response = connection.getresponse()
            assert response.read(4) == b"one;"
            assert span_exporter.get_finished_spans() == ()
            release.set()
            assert response.read() == b"two"
        finally:
            release.set()
            connection.close()
        (span,) = span_exporter.get_finished_spans()
        assert span.name == "GET /stream"
        assert span.status.status_code is StatusCode.UNSET

    def test_concurrent_requests(
        self,
        serve: Callable[..., int],
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """Requests in flight at the same time each get their own span, trace and status, and
        the active-requests count returns to zero."""
        barrier = threading.Barrier(CLIENTS)
        statuses = ["200 OK", "404 Not Found", "500 Internal Server Error", "201 Created"]

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            index = int(environ["PATH_INFO"].rsplit("/", 1)[1])
            barrier.wait(TIMEOUT)  # all requests are in flight together
            start_response(statuses[index], [])
            yield environ["PATH_INFO"].encode()

        port = serve(app)
        results: dict[int, tuple[int, bytes]] = {}

        def client(index: int) -> None:
            results[index] = get(port, f"/item/{index}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        assert {i: status for i, (status, _) in results.items()} == {
            i: int(statuses[i][:3]) for i in range(CLIENTS)
        }
        spans = {span.name: span for span in span_exporter.get_finished_spans()}
        assert set(spans) == {f"GET /item/{i}" for i in range(CLIENTS)}
        assert len({span.context.trace_id for span in spans.values()}) == CLIENTS
        for index in range(CLIENTS):
            span = spans[f"GET /item/{index}"]
            code = int(statuses[index][:3])
            assert span.attributes["http.status_code"] == code
            expected = StatusCode.ERROR if code >= 500 else StatusCode.UNSET
            assert span.status.status_code is expected
            assert span.parent is None
        assert [p.value for p in metric_points()["http.server.active_requests"]] == [0]
