"""Options: header capture, excluded URLs, hooks, and the response propagator."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    get_global_response_propagator,
    set_global_response_propagator,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span

REQUEST_ENV = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"
RESPONSE_ENV = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE"
SANITIZE_ENV = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"


def headers_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain"),
            ("X-Resp", "r1"),
            ("X-Resp", "r2"),
            ("Set-Cookie", "session=abc"),
        ],
    )
    return [b"ok"]


def _one_span(exporter: InMemorySpanExporter) -> Any:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, spans
    return spans[0]


class TestHeaderCapture:
    def test_request_headers_including_content_type(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Configured request headers are captured, ``Content-Type`` and ``Content-Length``
        included (WSGI keeps them without the ``HTTP_`` prefix)."""
        monkeypatch.setenv(REQUEST_ENV, "content-type,content-length,custom_header")
        run(
            wrap(),
            environ(
                CONTENT_TYPE="application/json",
                CONTENT_LENGTH="2",
                HTTP_CUSTOM_HEADER="c",
                HTTP_OTHER="o",
            ),
        )
        attributes = _one_span(span_exporter).attributes
        assert attributes["http.request.header.content_type"] == ("application/json",)
        assert attributes["http.request.header.content_length"] == ("2",)
        assert attributes["http.request.header.custom_header"] == ("c",)
        assert "http.request.header.other" not in attributes

    def test_response_headers_repeated_values(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Configured response headers are captured; a repeated header is one value joined
        with ``,`` (upstream's ``("r1,r2",)``)."""
        monkeypatch.setenv(RESPONSE_ENV, "x-resp,content-type")
        run(wrap(headers_app), environ())
        attributes = _one_span(span_exporter).attributes
        assert attributes["http.response.header.x_resp"] == ("r1,r2",)
        assert attributes["http.response.header.content_type"] == ("text/plain",)
        assert "http.response.header.set_cookie" not in attributes

    def test_sanitized_headers(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Headers matching the sanitize list are recorded as ``[REDACTED]``, both ways."""
        monkeypatch.setenv(REQUEST_ENV, "authorization,x-a")
        monkeypatch.setenv(RESPONSE_ENV, "set-cookie")
        monkeypatch.setenv(SANITIZE_ENV, "authorization,cookie,")
        run(wrap(headers_app), environ(HTTP_AUTHORIZATION="Bearer t", HTTP_X_A="1"))
        attributes = _one_span(span_exporter).attributes
        assert attributes["http.request.header.authorization"] == ("[REDACTED]",)
        assert attributes["http.request.header.x_a"] == ("1",)
        assert attributes["http.response.header.set_cookie"] == ("[REDACTED]",)

    def test_nothing_captured_by_default(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Without configuration no header becomes an attribute."""
        run(wrap(headers_app), environ(HTTP_AUTHORIZATION="Bearer t"))
        attributes = _one_span(span_exporter).attributes
        assert not [k for k in attributes if ".header." in k]

    def test_variables_are_read_when_the_middleware_is_built(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A variable set after construction does not change an existing middleware."""
        app = wrap()
        monkeypatch.setenv(REQUEST_ENV, "x-a")
        run(app, environ(HTTP_X_A="1"))
        assert "http.request.header.x_a" not in _one_span(span_exporter).attributes


class TestExcludedUrls:
    @pytest.mark.parametrize(
        ("kwargs", "env"),
        [
            ({"excluded_urls": "/health,/ready"}, {}),
            ({"excluded_urls": ["/ready"]}, {}),
            ({}, {"OTEL_PYTHON_WSGI_EXCLUDED_URLS": "ready"}),
            ({}, {"OTEL_PYTHON_EXCLUDED_URLS": "ready"}),
        ],
    )
    def test_excluded_request_has_no_span_and_no_metrics(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
        kwargs: dict[str, Any],
        env: dict[str, str],
    ) -> None:
        """An excluded URL (kwarg, library variable or generic variable) is served untraced:
        no span, no metric point, the response unchanged."""
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        start_response, body = run(wrap(**kwargs), environ(PATH_INFO="/ready"))
        assert start_response.status == "200 OK"
        assert body == b"hello"
        assert span_exporter.get_finished_spans() == ()
        assert metric_points() == {}
        run(wrap(**kwargs), environ(PATH_INFO="/users"))
        assert len(span_exporter.get_finished_spans()) == 1

    def test_library_variable_set_empty_disables_generic(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``OTEL_PYTHON_WSGI_EXCLUDED_URLS=""`` means no exclusions, despite the generic one."""
        monkeypatch.setenv("OTEL_PYTHON_WSGI_EXCLUDED_URLS", "")
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "ready")
        run(wrap(), environ(PATH_INFO="/ready"))
        assert len(span_exporter.get_finished_spans()) == 1

    def test_match_is_against_the_full_url(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Patterns see scheme, host and query: ``example.com/hello\\?probe`` excludes only
        the probe."""
        app = wrap(excluded_urls=r"example\.com:8080/hello\?probe")
        run(app, environ(QUERY_STRING="probe=1"))
        assert span_exporter.get_finished_spans() == ()
        run(app, environ(QUERY_STRING="user=1"))
        assert len(span_exporter.get_finished_spans()) == 1


class TestHooks:
    def test_request_hook_gets_span_and_environ(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``request_hook(span, environ)`` runs once with the request's span, which it can
        annotate."""
        calls = []

        def request_hook(span: Span, env: dict[str, Any]) -> None:
            calls.append((span.get_span_context(), env))
            span.set_attribute("custom", "yes")

        request_environ = environ()
        run(wrap(request_hook=request_hook), request_environ)
        span = _one_span(span_exporter)
        assert len(calls) == 1
        assert calls[0][0] == span.get_span_context()
        assert calls[0][1] is request_environ
        assert span.attributes["custom"] == "yes"

    def test_response_hook_gets_upstream_arguments(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``response_hook(span, environ, status, headers)`` runs before the server's
        ``start_response`` and can add headers."""
        calls = []

        def response_hook(
            span: Span, env: dict[str, Any], status: str, headers: list[tuple[str, str]]
        ) -> None:
            calls.append((span.get_span_context(), env, status, list(headers)))
            headers.append(("X-Hooked", "1"))

        request_environ = environ()
        start_response, _ = run(wrap(headers_app, response_hook=response_hook), request_environ)
        span = _one_span(span_exporter)
        (call,) = calls
        assert call[0] == span.get_span_context()
        assert call[1] is request_environ
        assert call[2] == "200 OK"
        assert ("X-Resp", "r1") in call[3]
        assert start_response.header("X-Hooked") == "1"

    @pytest.mark.parametrize("which", ["request_hook", "response_hook"])
    def test_raising_hook_is_logged_and_response_arrives(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        hook_log: pytest.LogCaptureFixture,
        which: str,
    ) -> None:
        """A hook that raises is logged (WARNING, naming it) and the response is served."""

        def hook(*args: Any) -> None:
            raise RuntimeError("hook bug")

        start_response, body = run(wrap(**{which: hook}), environ())
        assert start_response.status == "200 OK"
        assert body == b"hello"
        assert len(span_exporter.get_finished_spans()) == 1
        warnings = [
            r
            for r in hook_log.records
            if r.name == "instrumentarium" and r.levelno == logging.WARNING
        ]
        assert len(warnings) == 1
        assert which in warnings[0].getMessage()


@pytest.fixture
def response_propagator() -> Iterator[Callable[[Any], None]]:
    """``set(propagator)`` installs a global response propagator for one test only."""
    previous = get_global_response_propagator()
    yield set_global_response_propagator
    set_global_response_propagator(previous)  # type: ignore[arg-type]


class TestResponsePropagator:
    def test_traceresponse_header(
        self,
        response_propagator: Callable[[Any], None],
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """With a global response propagator, ``traceresponse`` names the server span."""
        response_propagator(TraceResponsePropagator())
        start_response, _ = run(wrap(), environ())
        context = _one_span(span_exporter).get_span_context()
        assert start_response.header("traceresponse") == (
            f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
        )
        assert start_response.header("Access-Control-Expose-Headers") == "traceresponse"

    def test_no_header_without_propagator(
        self,
        response_propagator: Callable[[Any], None],
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
    ) -> None:
        """Without a response propagator no ``traceresponse`` header is added."""
        response_propagator(None)
        start_response, _ = run(wrap(), environ())
        assert start_response.header("traceresponse") is None
