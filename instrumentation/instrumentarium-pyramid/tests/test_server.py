"""Against a real threaded Werkzeug server on loopback, driven over a socket as a user's
server would be."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from opentelemetry.trace import SpanKind, StatusCode
from pyramid.response import Response

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class TestRealServer:
    def test_request_over_http_is_one_server_span_with_the_peer(
        self, make_app, instrument, serve, span_exporter, wait_until
    ):
        """A request over a socket: one SERVER span continuing the caller's trace, with the
        raw target the server kept and the client's address."""
        app = make_app()
        instrument()
        port = serve(app)
        status, body = get(
            port, "/hello/bob?x=1", {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"}
        )
        assert (status, body) == (200, b"hello bob")
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /hello/{name}"
        assert span.kind is SpanKind.SERVER
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert span.attributes["http.target"] == "/hello/bob?x=1"
        assert span.attributes["net.peer.ip"] == "127.0.0.1"
        assert span.attributes["net.host.port"] == port
        assert span.attributes["http.url"] == f"http://127.0.0.1:{port}/hello/bob?x=1"

    def test_unhandled_exception_becomes_the_servers_500(
        self, make_app, instrument, serve, span_exporter, wait_until, active_requests
    ):
        """The server answers 500 to an exception no exception view handled; the span has
        the 500 and the exception, and the request is no longer active."""
        app = make_app()
        instrument()
        port = serve(app)
        status, _ = get(port, "/boom")
        assert status == 500
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        [span] = span_exporter.get_finished_spans()
        assert span.attributes["http.status_code"] == 500
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"]
        assert active_requests() == 0

    def test_streamed_response_is_timed_to_the_last_byte(
        self,
        make_config,
        instrument,
        serve,
        span_exporter,
        metric_points,
        active_requests,
        wait_until,
    ):
        """While a streamed body is being sent the span is open and no duration is
        recorded; the span ends after the last byte was produced."""
        proceed = threading.Event()
        last_chunk_done: list[int] = []

        def slow(request):
            def body() -> Iterator[bytes]:
                yield b"first;"
                proceed.wait(10)
                yield b"last"
                last_chunk_done.append(time.time_ns())

            return Response(app_iter=body(), content_type="text/plain")

        config = make_config()
        config.add_route("slow", "/slow")
        config.add_view(slow, route_name="slow")
        app = config.make_wsgi_app()
        instrument()
        port = serve(app)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with contextlib.closing(connection):
            connection.request("GET", "/slow")
            response = connection.getresponse()
            assert response.read(len(b"first;")) == b"first;"
            assert span_exporter.get_finished_spans() == ()
            assert active_requests() == 1
            proceed.set()
            assert response.read() == b"last"
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /slow"
        assert span.end_time >= last_chunk_done[0]
        wait_until(lambda: active_requests() == 0)

    def test_concurrent_requests_each_get_their_own_span(
        self, make_app, instrument, serve, span_exporter, wait_until
    ):
        """Twenty requests on parallel connections: twenty spans, each with its own id and
        the route of its own request."""
        app = make_app()
        instrument()
        port = serve(app)
        paths = [f"/hello/u{i}" if i % 2 else "/health" for i in range(20)]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda path: get(port, path), paths))
        assert all(status == 200 for status, _ in results)
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 20)
        spans = span_exporter.get_finished_spans()
        assert len({span.context.span_id for span in spans}) == 20
        assert sorted(span.name for span in spans) == sorted(
            "GET /hello/{name}" if i % 2 else "GET /health" for i in range(20)
        )
