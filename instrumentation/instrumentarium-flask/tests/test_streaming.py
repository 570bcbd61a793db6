"""Streamed responses through the Flask test client: the span lives as long as the body.

The test client without ``buffered=True`` hands the body over unread and closes it only when the
test closes the response, which is what lets these tests look at the span in between.
"""

from __future__ import annotations

from collections.abc import Iterator

import flask
import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode


@pytest.fixture
def app(make_app):
    return make_app()


class TestStreamedBody:
    def test_span_ends_when_the_body_is_closed(
        self, app, instrument, span_exporter, metric_points, active_requests
    ):
        """A generator body keeps the span open (no duration, still active) until the server
        closes the body; then the span ends and the duration is recorded."""
        instrument()

        response = app.test_client().get("/stream")
        try:
            assert response.get_data() == b"one;two"
            assert span_exporter.get_finished_spans() == ()
            assert "http.server.duration" not in metric_points()
            assert active_requests() == 1
        finally:
            response.close()

        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /stream"
        assert span.attributes["http.status_code"] == 200
        [duration] = metric_points()["http.server.duration"]
        assert duration.count == 1
        assert duration.attributes["http.target"] == "/stream"
        assert active_requests() == 0

    def test_span_is_current_while_the_body_is_produced(self, app, instrument, span_exporter):
        """Each chunk is produced with the request's span current (child spans nest under it)."""
        seen: list[int] = []

        @app.route("/chunks")
        def chunks() -> flask.Response:
            def body() -> Iterator[bytes]:
                for chunk in (b"a", b"b", b"c"):
                    seen.append(trace.get_current_span().get_span_context().span_id)
                    yield chunk

            return flask.Response(body())

        instrument()

        response = app.test_client().get("/chunks", buffered=True)

        assert response.data == b"abc"
        [span] = span_exporter.get_finished_spans()
        assert seen == [span.context.span_id] * 3

    def test_non_streamed_body_ends_the_span_when_the_app_returns(
        self, app, instrument, span_exporter
    ):
        """A body already in memory does not wait for the close: the span has ended when the
        app returns."""
        instrument()

        response = app.test_client().get("/users/1")
        try:
            assert [span.name for span in span_exporter.get_finished_spans()] == [
                "GET /users/<int:user_id>"
            ]
        finally:
            response.close()

    def test_stream_with_context(self, app, instrument, span_exporter):
        """``stream_with_context`` keeps the request available in the generator and the span
        ends after the body."""

        @app.route("/greet")
        def greet() -> flask.Response:
            @flask.stream_with_context
            def body() -> Iterator[str]:
                yield "hello "
                yield flask.request.args["name"]

            return flask.Response(body())

        instrument()

        response = app.test_client().get("/greet?name=ada")
        try:
            assert response.get_data() == b"hello ada"
            assert span_exporter.get_finished_spans() == ()
        finally:
            response.close()

        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /greet"
        assert span.end_time is not None

    def test_generator_raising_mid_stream_ends_the_span_once_in_error(
        self, app, instrument, span_exporter, metric_points, active_requests
    ):
        """A body that raises after the first chunk ends the span once, ERROR, with the
        exception recorded once, and the request is no longer active."""

        @app.route("/broken-stream")
        def broken_stream() -> flask.Response:
            def body() -> Iterator[bytes]:
                yield b"partial"
                raise RuntimeError("stream broke")

            return flask.Response(body())

        instrument()

        with pytest.raises(RuntimeError, match="stream broke"):
            app.test_client().get("/broken-stream", buffered=True)

        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /broken-stream"
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "RuntimeError: stream broke"
        assert [event.name for event in span.events] == ["exception"]
        assert active_requests() == 0
        [duration] = metric_points()["http.server.duration"]
        assert duration.count == 1

    def test_body_closed_unread_ends_the_span(self, app, instrument, span_exporter):
        """A client that goes away before reading the body (the server closes it unread) still
        ends the span."""
        instrument()

        response = app.test_client().get("/stream")
        response.close()

        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /stream"

    def test_head_request_on_a_streamed_view(self, app, instrument, span_exporter):
        """A HEAD request on a streaming view (the generator is never run) ends its span once
        the empty body is closed."""
        produced: list[bytes] = []

        @app.route("/counted-stream")
        def counted_stream() -> flask.Response:
            def body() -> Iterator[bytes]:
                produced.append(b"chunk")
                yield b"chunk"

            return flask.Response(body())

        instrument()

        response = app.test_client().head("/counted-stream", buffered=True)

        assert (response.status_code, response.data, produced) == (200, b"", [])
        [span] = span_exporter.get_finished_spans()
        assert span.name == "HEAD /counted-stream"
        assert span.attributes["http.status_code"] == 200
