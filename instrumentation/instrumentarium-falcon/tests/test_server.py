"""Against a real threaded Werkzeug server on loopback, driven over a socket as a user's
server would be."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from opentelemetry.trace import SpanKind, StatusCode

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
        raw target the server kept (a signature redacted) and the client's address."""
        app = make_app()
        instrument()
        port = serve(app)
        status, body = get(
            port, "/users/7?sig=secret&x=1", {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"}
        )
        assert (status, body) == (200, b"user 7")
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /users/{user_id:int}"
        assert span.kind is SpanKind.SERVER
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert span.attributes["http.target"] == "/users/7?sig=REDACTED&x=1"
        assert span.attributes["net.peer.ip"] == "127.0.0.1"
        assert span.attributes["net.host.port"] == port

    def test_exception_becomes_falcons_500(
        self, make_app, instrument, serve, span_exporter, wait_until, active_requests
    ):
        """Falcon answers 500 to a responder's exception; the span has the 500 and the
        exception, and the request is no longer active."""
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
        wait_until(lambda: active_requests() == 0)

    def test_streamed_response_is_timed_to_the_last_byte(
        self, make_app, instrument, serve, span_exporter, active_requests, wait_until
    ):
        """While ``resp.stream`` is being sent the span is open; it ends after the last byte
        was produced."""
        proceed = threading.Event()
        last_chunk_done: list[int] = []

        class Slow:
            def on_get(self, req, resp):
                def body() -> Iterator[bytes]:
                    yield b"first;"
                    proceed.wait(10)
                    yield b"last"
                    last_chunk_done.append(time.time_ns())

                resp.stream = body()

        app = make_app()
        app.add_route("/slow", Slow())
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

    def test_concurrent_requests_each_get_their_own_span_and_hook_call(
        self, make_app, instrument, serve, span_exporter, wait_until
    ):
        """Twenty requests on parallel connections: twenty spans, each with its own route,
        and each ``response_hook`` call sees its own request (the context variable)."""
        app = make_app()
        pairs: list[tuple[int, str]] = []
        lock = threading.Lock()

        def response_hook(span, req, resp):
            with lock:
                pairs.append((span.get_span_context().span_id, req.path))

        instrument(response_hook=response_hook)
        port = serve(app)
        paths = [f"/users/{i}" if i % 2 else "/health" for i in range(20)]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda path: get(port, path), paths))
        assert all(status == 200 for status, _ in results)
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 20)
        spans = span_exporter.get_finished_spans()
        by_id = {span.context.span_id: span for span in spans}
        assert len(by_id) == 20
        assert sorted(path for _, path in pairs) == sorted(paths)
        for span_id, path in pairs:
            expected = "GET /health" if path == "/health" else "GET /users/{user_id:int}"
            assert by_id[span_id].name == expected
