"""Against a real threaded Werkzeug server, driven over a socket as a user's server would be."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import flask
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


def _current_span_id() -> str:
    return format(trace.get_current_span().get_span_context().span_id, "016x")


@pytest.fixture
def app(make_app):
    return make_app()


class TestRealServer:
    def test_streamed_response_is_timed_to_the_last_byte(
        self, app, instrument, serve, span_exporter, metric_points, active_requests, wait_until
    ):
        """While a streamed body is being sent the span is open and no duration is recorded;
        the span ends after the generator produced its last byte, and the duration is recorded
        then."""
        proceed = threading.Event()
        last_chunk_done: list[int] = []

        @app.route("/slow-stream")
        def slow_stream() -> flask.Response:
            def body() -> Iterator[bytes]:
                yield b"first;"
                proceed.wait(10)
                yield b"second;"
                yield b"last"
                last_chunk_done.append(time.time_ns())

            return flask.Response(body(), mimetype="text/plain")

        instrument()
        port = serve(app)

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with contextlib.closing(connection):
            connection.request("GET", "/slow-stream")
            response = connection.getresponse()
            assert response.read(len(b"first;")) == b"first;"

            # The server is blocked between two chunks of this response.
            assert span_exporter.get_finished_spans() == ()
            assert "http.server.duration" not in metric_points()
            assert active_requests() == 1

            proceed.set()
            assert response.read() == b"second;last"
            response.close()

        wait_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /slow-stream"
        assert span.end_time >= last_chunk_done[0]
        wait_until(lambda: "http.server.duration" in metric_points())
        [duration] = metric_points()["http.server.duration"]
        assert duration.count == 1
        wait_until(lambda: active_requests() == 0)

    def test_concurrent_requests_each_get_their_own_span(
        self, app, instrument, serve, span_exporter, wait_until
    ):
        """Requests served at the same time on several threads each get one SERVER span, named
        by their own route, in their own trace, current in their own view."""
        in_flight = 6
        all_inside = threading.Barrier(in_flight, timeout=10)

        @app.route("/users/<int:user_id>/profile")
        def profile(user_id: int) -> str:
            all_inside.wait()
            return _current_span_id()

        @app.route("/items/<name>")
        def item(name: str) -> str:
            all_inside.wait()
            return _current_span_id()

        instrument()
        port = serve(app)
        paths = [f"/users/{n}/profile" if n % 2 else f"/items/item-{n}" for n in range(in_flight)]

        def fetch(path: str) -> tuple[str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                return path, response.read().decode()

        with ThreadPoolExecutor(max_workers=in_flight) as pool:
            span_id_by_path = dict(pool.map(fetch, paths))

        wait_until(lambda: len(span_exporter.get_finished_spans()) == in_flight)
        spans = {format(s.context.span_id, "016x"): s for s in span_exporter.get_finished_spans()}
        assert len({span.context.trace_id for span in spans.values()}) == in_flight
        for path, span_id in span_id_by_path.items():
            span = spans[span_id]
            expected = (
                "GET /users/<int:user_id>/profile" if "users" in path else "GET /items/<name>"
            )
            assert span.name == expected
            assert span.attributes["http.target"] == path
            assert span.kind is SpanKind.SERVER
            assert span.parent is None

    def test_traceparent_is_continued_across_a_socket(
        self, app, instrument, serve, span_exporter, wait_until
    ):
        """A ``traceparent`` sent over the wire makes the server span part of the caller's trace."""

        @app.route("/whoami")
        def whoami() -> str:
            return _current_span_id()

        instrument()
        port = serve(app)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/whoami",
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"},
        )

        with urllib.request.urlopen(request, timeout=10) as response:
            span_id = response.read().decode()

        wait_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        [span] = span_exporter.get_finished_spans()
        assert format(span.context.span_id, "016x") == span_id
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert span.parent is not None
        assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID
        assert span.parent.is_remote
        assert span.kind is SpanKind.SERVER
        assert span.attributes["net.peer.ip"] == "127.0.0.1"
