"""Status, errors, and when the span ends: list bodies, streamed bodies, failures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode


class Errors:
    """Holder so that the exception's qualified name differs from its plain name."""

    class Boom(Exception):
        pass


def status_app(status: str) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain")])
        return [b"body"]

    return app


def _one_span(exporter: InMemorySpanExporter) -> Any:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, spans
    return spans[0]


def _sdk_double_end_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "ended span" in r.getMessage()]


class TestStatus:
    @pytest.mark.parametrize("status", ["200 OK", "302 Found", "404 Not Found"])
    def test_success_and_client_errors_are_unset(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        status: str,
    ) -> None:
        """2xx, 3xx and 4xx leave a server span UNSET, with no ``error.type``."""
        run(wrap(status_app(status)), environ())
        span = _one_span(span_exporter)
        assert span.status.status_code is StatusCode.UNSET
        assert "error.type" not in span.attributes
        code = int(status[:3])
        if semconv != "http":
            assert span.attributes["http.status_code"] == code
        if semconv != "default":
            assert span.attributes["http.response.status_code"] == code

    def test_server_error_is_error(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A 5xx makes the span ERROR; stable modes add ``error.type="500"``."""
        run(wrap(status_app("500 Internal Server Error")), environ())
        span = _one_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        if semconv == "default":
            assert "error.type" not in span.attributes
        else:
            assert span.attributes["error.type"] == "500"

    def test_non_integer_status_is_error(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A status line without an integer code is ERROR, with no status-code attribute."""
        start_response, _ = run(wrap(status_app("OK fine")), environ())
        span = _one_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert "OK fine" in (span.status.description or "")
        assert "http.status_code" not in span.attributes
        assert "http.response.status_code" not in span.attributes
        if semconv != "default":
            assert span.attributes["error.type"] == "OK fine"
        assert start_response.status == "OK fine"

    def test_status_reaches_the_server_unchanged(
        self, wrap: Callable[..., Any], run: Callable[..., Any], environ: Callable[..., Any]
    ) -> None:
        """The server's ``start_response`` gets the app's status, headers and body."""
        start_response, body = run(wrap(status_app("201 Created")), environ())
        assert start_response.status == "201 Created"
        assert start_response.headers == [("Content-Type", "text/plain")]
        assert start_response.calls == 1
        assert body == b"body"


class TestAppRaises:
    def test_exception_before_start_response(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The span is ERROR with one ``exception`` event, ``error.type`` is the exception's
        qualified name in stable modes, and the same exception object reaches the server."""
        error = Errors.Boom("boom")

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            raise error

        with pytest.raises(Errors.Boom) as raised:
            wrap(app)(environ(), make_start_response())
        assert raised.value is error
        span = _one_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        events = [e for e in span.events if e.name == "exception"]
        assert len(events) == 1
        assert events[0].attributes["exception.message"] == "boom"
        if semconv == "default":
            assert "error.type" not in span.attributes
        else:
            assert span.attributes["error.type"] == "Errors.Boom"

    def test_exception_after_start_response_keeps_traceback(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """An exception raised after ``start_response`` propagates with its traceback."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            start_response("200 OK", [])
            raise ValueError("late")

        with pytest.raises(ValueError, match="late") as raised:
            wrap(app)(environ(), make_start_response())
        frames = [entry.name for entry in raised.traceback]
        assert "app" in frames
        assert _one_span(span_exporter).status.status_code is StatusCode.ERROR

    def test_context_is_detached_after_exception(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
    ) -> None:
        """After the app raised, no span is left current."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            raise RuntimeError("x")

        with pytest.raises(RuntimeError):
            wrap(app)(environ(), make_start_response())
        assert not trace.get_current_span().get_span_context().is_valid


class TestBodyLifecycle:
    def test_list_body_ends_span_on_return(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A body already in memory (a list) ends the span as soon as the app returns."""
        result = wrap()(environ(), make_start_response())
        assert len(span_exporter.get_finished_spans()) == 1
        assert list(result) == [b"hello"]

    def test_streamed_body_ends_span_on_close(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A generator body keeps the span open until the server closes it, even once read."""
        closed = []

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [])
            try:
                yield b"a"
                yield b"b"
            finally:
                closed.append(True)

        result = wrap(app)(environ(), make_start_response())
        assert span_exporter.get_finished_spans() == ()
        assert b"".join(result) == b"ab"
        assert span_exporter.get_finished_spans() == ()
        result.close()
        assert closed == [True]
        assert len(span_exporter.get_finished_spans()) == 1

    def test_body_closed_before_reading(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A client that disconnects before the body is read still gets its span ended."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [])
            yield b"never read"

        wrap(app)(environ(), make_start_response()).close()
        span = _one_span(span_exporter)
        assert span.status.status_code is StatusCode.UNSET

    def test_body_raising_mid_stream(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        hook_log: pytest.LogCaptureFixture,
    ) -> None:
        """A body that raises while streaming ends the span ERROR, exactly once, and the
        exception reaches the server."""
        error = Errors.Boom("mid-stream")

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [])
            yield b"first"
            raise error

        result = wrap(app)(environ(), make_start_response())
        iterator = iter(result)
        assert next(iterator) == b"first"
        with pytest.raises(Errors.Boom) as raised:
            next(iterator)
        assert raised.value is error
        assert len(span_exporter.get_finished_spans()) == 1
        result.close()
        span = _one_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert len([e for e in span.events if e.name == "exception"]) == 1
        if semconv != "default":
            assert span.attributes["error.type"] == "Errors.Boom"
        assert _sdk_double_end_warnings(hook_log) == []

    def test_close_raising(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        hook_log: pytest.LogCaptureFixture,
    ) -> None:
        """A body whose ``close()`` raises ends the span ERROR once and re-raises."""

        class Body:
            def __iter__(self) -> Iterator[bytes]:
                yield b"x"

            def close(self) -> None:
                raise OSError("close failed")

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
            start_response("200 OK", [])
            return Body()

        result = wrap(app)(environ(), make_start_response())
        assert list(result) == [b"x"]
        with pytest.raises(OSError, match="close failed"):
            result.close()
        span = _one_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert _sdk_double_end_warnings(hook_log) == []

    def test_closing_twice_ends_once(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        hook_log: pytest.LogCaptureFixture,
    ) -> None:
        """A server that closes the body twice does not end the span twice."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [])
            yield b"x"

        result = wrap(app)(environ(), make_start_response())
        list(result)
        result.close()
        result.close()
        assert len(span_exporter.get_finished_spans()) == 1
        assert _sdk_double_end_warnings(hook_log) == []

    def test_start_response_inside_generator(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """An app that calls ``start_response`` lazily, inside its generator, gets its status
        recorded."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("503 Service Unavailable", [])
            yield b"later"

        run(wrap(app), environ())
        span = _one_span(span_exporter)
        assert span.attributes["http.status_code"] == 503
        assert span.status.status_code is StatusCode.ERROR


class TestCurrentSpan:
    def test_span_is_current_inside_the_app(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The app sees the request's span as the current span."""
        seen = []

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            seen.append(trace.get_current_span().get_span_context())
            start_response("200 OK", [])
            return [b""]

        run(wrap(app), environ())
        assert seen == [_one_span(span_exporter).get_span_context()]

    def test_span_is_current_while_the_body_is_read(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A generator body runs with the request's span current, and the caller between
        chunks does not."""
        seen = []

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [])
            for chunk in (b"a", b"b"):
                seen.append(trace.get_current_span().get_span_context())
                yield chunk

        result = wrap(app)(environ(), make_start_response())
        between = [trace.get_current_span().get_span_context().is_valid for _ in result]
        result.close()
        expected = _one_span(span_exporter).get_span_context()
        assert seen == [expected, expected]
        assert between == [False, False]

    def test_child_spans_belong_to_the_request(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        tracer_provider: Any,
    ) -> None:
        """A span the app starts is a child of the request's span."""
        tracer = tracer_provider.get_tracer("app")

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            with tracer.start_as_current_span("work"):
                pass
            start_response("200 OK", [])
            return [b""]

        run(wrap(app), environ())
        work, request = span_exporter.get_finished_spans()
        assert work.parent is not None
        assert work.parent.span_id == request.context.span_id


class TestBodyIsAnIterator:
    """The response the middleware returns is an iterator, as upstream's: ``next()`` works on
    it directly, whatever the app returned, and the span still ends exactly once."""

    def test_next_on_a_list_body(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A body the app returned as a list gives its items to ``next()``, then stops; it
        keeps its length (servers set ``Content-Length`` from a one-item body)."""
        result = wrap()(environ(), make_start_response())
        assert len(result) == 1
        assert next(result) == b"hello"
        with pytest.raises(StopIteration):
            next(result)
        assert len(span_exporter.get_finished_spans()) == 1

    def test_next_on_a_streamed_body(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A generator body read with ``next()`` and then closed ends its span once."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [])
            yield b"a"
            yield b"b"

        result = wrap(app)(environ(), make_start_response())
        assert [next(result), next(result)] == [b"a", b"b"]
        with pytest.raises(StopIteration):
            next(result)
        result.close()
        result.close()
        assert len(span_exporter.get_finished_spans()) == 1
