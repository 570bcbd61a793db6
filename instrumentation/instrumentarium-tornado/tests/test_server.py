"""Server spans of ``RequestHandler`` requests, against a real Tornado server on loopback."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest
import tornado.httpclient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tornado_handlers import Finished, fetch_all

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def servers(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


def only_server(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = servers(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


class TestNames:
    """Spans are named ``"{METHOD} {route template}"`` as upstream names them."""

    def test_positional_groups_take_the_handler_parameter_names(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """``r"/users/(\\d+)"`` with ``get(self, uid)`` is ``GET /users/{uid}``: the handler
        ran (a coroutine), and http.route and tornado.handler are on the span."""
        instrument()
        assert serve(fetch_all("/users/5")) == [200]
        span = only_server(span_exporter)
        assert span.name == "GET /users/{uid}"
        assert span.attributes["http.route"] == "/users/{uid}"
        assert span.attributes["tornado.handler"] == "tornado_handlers.User"

    def test_named_groups_keep_their_names(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """Named groups give their own names (a sync handler)."""
        instrument()
        assert serve(fetch_all("/posts/2024/hello-world")) == [200]
        assert only_server(span_exporter).name == "GET /posts/{year}/{slug}"

    def test_unmatched_path_is_named_by_the_method(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """A 404 (Tornado's ``ErrorHandler``) is named by the method alone, never the path."""
        instrument()
        assert serve(fetch_all("/nowhere/42")) == [404]
        span = only_server(span_exporter)
        assert span.name == "GET"
        assert "http.route" not in span.attributes
        assert span.status.status_code is StatusCode.UNSET
        assert span.attributes["http.status_code"] == 404

    def test_unknown_method_gets_a_span(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """A method outside the known list is answered 405 with a span named ``HTTP`` and the
        route (upstream produces none: its naming crashes)."""
        instrument()
        assert serve(fetch_all("/users/1", method="FOO", allow_nonstandard_methods=True)) == [405]
        span = only_server(span_exporter)
        assert span.name == "HTTP /users/{uid}"
        assert span.attributes["http.method"] == "_OTHER"
        assert span.attributes["http.status_code"] == 405


class TestAttributes:
    """The attributes of each semconv mode."""

    def test_default_mode(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """The old names: method, scheme, host, target (redacted), flavor, peer, status."""
        instrument()
        serve(fetch_all("/users/5?q=1&X-Amz-Signature=secret"))
        attrs = only_server(span_exporter).attributes
        assert attrs["http.method"] == "GET"
        assert attrs["http.scheme"] == "http"
        assert attrs["http.host"].startswith("127.0.0.1:")
        assert attrs["http.target"] == "/users/5?q=1&X-Amz-Signature=REDACTED"
        assert attrs["http.url"] == (
            f"http://{attrs['http.host']}/users/5?q=1&X-Amz-Signature=REDACTED"
        )
        assert attrs["http.client_ip"] == "127.0.0.1"
        assert attrs["http.flavor"] == "1.1"
        assert attrs["net.peer.ip"] == "127.0.0.1"
        assert isinstance(attrs["net.peer.port"], int)
        assert attrs["http.status_code"] == 200
        assert "http.request.method" not in attrs

    def test_stable_mode(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``http``: the stable names only, the query redacted, server.address split."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        serve(fetch_all("/users/5?X-Amz-Signature=secret"))
        attrs = only_server(span_exporter).attributes
        assert attrs["http.request.method"] == "GET"
        assert attrs["url.scheme"] == "http"
        assert attrs["url.path"] == "/users/5"
        assert attrs["url.query"] == "X-Amz-Signature=REDACTED"
        assert attrs["server.address"] == "127.0.0.1"
        assert isinstance(attrs["server.port"], int)
        assert attrs["client.address"] == "127.0.0.1"
        assert attrs["network.protocol.version"] == "1.1"
        assert attrs["http.response.status_code"] == 200
        assert attrs["http.route"] == "/users/{uid}"
        assert "http.method" not in attrs
        assert "http.target" not in attrs
        assert "http.url" not in attrs

    def test_dup_mode(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``http/dup``: both sets."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        serve(fetch_all("/users/5"))
        attrs = only_server(span_exporter).attributes
        assert attrs["http.method"] == attrs["http.request.method"] == "GET"
        assert attrs["http.status_code"] == attrs["http.response.status_code"] == 200

    def test_traced_request_attrs_as_the_guide_writes_them(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``OTEL_PYTHON_TORNADO_TRACED_REQUEST_ATTRS='uri,query'`` copies those request
        attributes as text; an unknown name is skipped."""
        monkeypatch.setenv("OTEL_PYTHON_TORNADO_TRACED_REQUEST_ATTRS", "uri,query,nothing")
        instrument()
        serve(fetch_all("/users/5?a=1"))
        attrs = only_server(span_exporter).attributes
        assert attrs["uri"] == "/users/5?a=1"
        assert attrs["query"] == "a=1"
        assert "nothing" not in attrs

    def test_captured_headers(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Request and response headers named in the capture variables become attributes;
        the sanitize list redacts (upstream's Tornado ignores it)."""
        monkeypatch.setenv(
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "x-token,x-id"
        )
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "x-reply")
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "token")
        instrument()

        async def post(base: str, client: tornado.httpclient.AsyncHTTPClient) -> int:
            response = await client.fetch(
                base + "/items", method="POST", body=b"abc",
                headers={"X-Token": "secret", "X-Id": "7"},
            )  # fmt: skip
            return response.code

        assert serve(post) == 201
        attrs = only_server(span_exporter).attributes
        assert attrs["http.request.header.x_token"] == ("[REDACTED]",)
        assert attrs["http.request.header.x_id"] == ("7",)
        assert attrs["http.response.header.x_reply"] == ("made",)


class TestStatusAndErrors:
    """Status codes, exceptions and the span's status."""

    def test_exception_is_a_server_error_with_its_event(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """An exception answered 500: ERROR ``"ValueError: bad thing"``, one event."""
        instrument()
        assert serve(fetch_all("/boom")) == [500]
        span = only_server(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: bad thing"
        assert [e.name for e in span.events] == ["exception"]
        assert span.events[0].attributes["exception.type"] == "ValueError"
        assert span.attributes["http.status_code"] == 500

    def test_http_error_4xx_is_not_an_error(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """``HTTPError(403)``: status 403, UNSET, no exception event."""
        instrument()
        assert serve(fetch_all("/forbidden")) == [403]
        span = only_server(span_exporter)
        assert span.status.status_code is StatusCode.UNSET
        assert span.events == ()
        assert span.attributes["http.status_code"] == 403

    def test_http_error_5xx_is_an_error(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``HTTPError(503)`` from a coroutine: ERROR, its event, ``error.type`` ``"503"``."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        assert serve(fetch_all("/unavailable")) == [503]
        span = only_server(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"]
        assert span.attributes["error.type"] == "503"


class TestLifecycleOfARequest:
    """The span is current while the handler runs and ends once, at the end."""

    def test_streamed_response_ends_after_the_last_chunk(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """``flush()`` between writes: one span, ended once, after the body was sent."""
        instrument()

        async def stream(base: str, client: tornado.httpclient.AsyncHTTPClient) -> bytes:
            response = await client.fetch(base + "/stream")
            return bytes(response.body)

        assert serve(stream) == b"chunk0;chunk1;chunk2;"
        span = only_server(span_exporter)
        assert span.name == "GET /stream"
        assert span.attributes["http.status_code"] == 200

    def test_span_is_current_in_on_finish(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """The user's ``on_finish`` runs with the request's span current (logs carry it)."""
        instrument()
        Finished.seen.clear()
        serve(fetch_all("/finished"))
        span = only_server(span_exporter)
        assert len(Finished.seen) == 1
        assert Finished.seen[0].get_span_context().span_id == span.context.span_id

    def test_context_is_continued_from_the_caller(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """A ``traceparent`` header makes the SERVER span a child of the caller's span."""
        instrument()

        async def call(base: str, client: tornado.httpclient.AsyncHTTPClient) -> int:
            request = tornado.httpclient.HTTPRequest(
                base + "/users/1", headers={"traceparent": TRACEPARENT}
            )
            with_suppressed_client = await client.fetch(request)
            return with_suppressed_client.code

        from opentelemetry.instrumentation.utils import suppress_http_instrumentation

        with suppress_http_instrumentation():
            assert serve(call) == 200
        span = only_server(span_exporter)
        assert span.kind is SpanKind.SERVER
        assert span.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
        assert span.parent is not None
        assert span.parent.span_id == 0x00F067AA0BA902B7

    def test_server_and_client_in_one_trace(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """A handler that fetches from another handler: the test's fetch, the outer handler's
        SERVER span, its CLIENT span and the inner SERVER span are one chain, one trace."""
        instrument()
        assert serve(fetch_all("/proxy")) == [200]
        spans = span_exporter.get_finished_spans()
        by_name = {(s.kind, s.name): s for s in spans}
        outer_client = next(
            s
            for s in spans
            if s.kind is SpanKind.CLIENT and s.attributes["http.url"].endswith("/proxy")
        )
        outer = by_name[(SpanKind.SERVER, "GET /proxy")]
        inner = by_name[(SpanKind.SERVER, "GET /users/{uid}")]
        inner_client = next(
            s
            for s in spans
            if s.kind is SpanKind.CLIENT and s.attributes["http.url"].endswith("/users/9")
        )
        assert len({s.context.trace_id for s in spans}) == 1
        assert outer.parent.span_id == outer_client.context.span_id
        assert inner_client.parent.span_id == outer.context.span_id
        assert inner.parent.span_id == inner_client.context.span_id
        assert not trace.get_current_span().get_span_context().is_valid

    def test_websocket_handshake_is_one_span(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """A WebSocket connection's span is its handshake, status 101, ended once."""
        instrument()

        async def talk(base: str, client: Any) -> Any:
            import tornado.websocket

            connection = await tornado.websocket.websocket_connect(
                base.replace("http", "ws") + "/ws"
            )
            await connection.write_message("hi")
            reply = await connection.read_message()
            connection.close()
            return reply

        assert serve(talk) == "hi"
        span = only_server(span_exporter)
        assert span.name == "GET /ws"
        assert span.attributes["http.status_code"] == 101


class TestOptions:
    """Exclusions and the server hook."""

    def test_excluded_urls_from_the_environment(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        metric_points: Any,
    ) -> None:
        """``OTEL_PYTHON_TORNADO_EXCLUDED_URLS`` is searched in the URI: no span, no
        server metrics for a match; other requests are traced."""
        monkeypatch.setenv("OTEL_PYTHON_TORNADO_EXCLUDED_URLS", "healthz,^/users/7")
        instrument()
        assert serve(fetch_all("/healthz", "/users/7", "/users/8")) == [200, 200, 200]
        assert [s.name for s in servers(span_exporter)] == ["GET /users/{uid}"]
        (point,) = metric_points()["http.server.duration"]
        assert point.count == 1

    def test_server_request_hook_gets_span_and_handler(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """``server_request_hook(span, handler)`` runs with the recording span."""
        seen: list[Any] = []

        def hook(span: Any, handler: Any) -> None:
            seen.append(type(handler).__name__)
            span.set_attribute("custom", "yes")

        instrument(server_request_hook=hook)
        serve(fetch_all("/users/5"))
        assert seen == ["User"]
        assert only_server(span_exporter).attributes["custom"] == "yes"

    def test_hook_that_raises_is_logged_and_the_request_goes_on(
        self,
        caplog: pytest.LogCaptureFixture,
        instrument: Any,
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A raising hook: logged once; the response and the span are as without it."""

        def hook(*_args: Any) -> None:
            raise RuntimeError("hook broke")

        instrument(server_request_hook=hook, client_request_hook=hook, client_response_hook=hook)
        with caplog.at_level(logging.WARNING, logger="instrumentarium"):
            assert serve(fetch_all("/users/5", "/users/6")) == [200, 200]
        assert [s.name for s in servers(span_exporter)] == ["GET /users/{uid}"] * 2
        warnings = [r for r in caplog.records if "hook broke" in str(r.exc_info)]
        assert {r.getMessage().split(" ")[0] for r in warnings} == {
            "server_request_hook", "client_request_hook", "client_response_hook"
        }  # fmt: skip

    def test_traceresponse_with_a_response_propagator(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """With a response propagator set, the response carries ``traceresponse``."""
        from opentelemetry.instrumentation.propagators import (
            TraceResponsePropagator,
            get_global_response_propagator,
            set_global_response_propagator,
        )

        previous = get_global_response_propagator()
        set_global_response_propagator(TraceResponsePropagator())
        try:
            instrument()

            async def call(base: str, client: Any) -> str:
                response = await client.fetch(base + "/users/5")
                return str(response.headers.get("traceresponse"))

            header = serve(call)
        finally:
            set_global_response_propagator(previous)
        span = only_server(span_exporter)
        assert header.startswith(f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-")
