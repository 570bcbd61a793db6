"""Client spans of ``AsyncHTTPClient.fetch``, against a real Tornado server on loopback."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import tornado.httpclient
import tornado.testing
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tornado_handlers import APP


def clients(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]


def only_client(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = clients(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def server_of(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    return span


class TestCallStyles:
    """Both call styles give one span, and the trace context reaches the server."""

    def test_url_string_with_options(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """``fetch(url, method=..., body=...)``: the request is built with the options, the
        span is named by the method, and the server's span is its child."""
        instrument()

        async def post(base: str, client: tornado.httpclient.AsyncHTTPClient) -> bytes:
            response = await client.fetch(base + "/items", method="POST", body=b"payload")
            return bytes(response.body)

        assert serve(post) == b"payload"
        span = only_client(span_exporter)
        assert span.name == "POST"
        assert span.attributes["http.method"] == "POST"
        assert span.attributes["http.status_code"] == 201
        assert span.status.status_code is StatusCode.UNSET
        server = server_of(span_exporter)
        assert server.parent is not None
        assert server.parent.span_id == span.context.span_id

    def test_http_request_object_and_positional_raise_error(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """``fetch(HTTPRequest(...), False)``: the user's headers are sent with the
        ``traceparent`` added; a 404 is returned, recorded as an ERROR response."""
        instrument()
        sent: dict[str, str] = {"X-Mine": "1"}

        async def get(base: str, client: tornado.httpclient.AsyncHTTPClient) -> int:
            request = tornado.httpclient.HTTPRequest(base + "/missing", headers=sent)
            response = await client.fetch(request, False)
            return response.code

        assert serve(get) == 404
        span = only_client(span_exporter)
        assert span.attributes["http.status_code"] == 404
        assert span.status.status_code is StatusCode.ERROR
        assert span.events == ()
        assert "traceparent" in sent
        assert server_of(span_exporter).context.trace_id == span.context.trace_id

    def test_http_error_raised_is_a_response(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A 500 raised as ``HTTPClientError``: the same exception reaches the caller; the
        span records the status (``error.type`` ``"500"``), not an exception event."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()

        async def get(base: str, client: tornado.httpclient.AsyncHTTPClient) -> int:
            with pytest.raises(tornado.httpclient.HTTPClientError) as caught:
                await client.fetch(base + "/boom")
            return caught.value.code

        assert serve(get) == 500
        span = only_client(span_exporter)
        assert span.attributes["http.response.status_code"] == 500
        assert span.attributes["error.type"] == "500"
        assert span.attributes["url.full"].endswith("/boom")
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.events == ()

    def test_connection_refused_is_a_failure(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        metric_points: Any,
    ) -> None:
        """No server: the caller gets the error; ERROR with the event, ``error.type`` the
        class (upstream writes the literal ``Exception``), and the duration is recorded."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        sock, port = tornado.testing.bind_unused_port()
        sock.close()

        async def get(_base: str, client: tornado.httpclient.AsyncHTTPClient) -> str:
            with pytest.raises(OSError) as caught:
                await client.fetch(f"http://127.0.0.1:{port}/")
            return type(caught.value).__name__

        assert serve(get) == "ConnectionRefusedError"
        span = only_client(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"]
        assert span.attributes["error.type"] == "ConnectionRefusedError"
        (point,) = metric_points()["http.client.request.duration"]
        assert point.attributes["error.type"] == "ConnectionRefusedError"

    def test_url_credentials_and_signatures_are_redacted(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """``http.url`` never carries userinfo or a signature value."""
        instrument()

        async def get(base: str, client: tornado.httpclient.AsyncHTTPClient) -> int:
            url = base.replace("://", "://user:pw@") + "/users/1?X-Amz-Signature=s3cr3t"
            response = await client.fetch(url)
            return response.code

        assert serve(get) == 200
        url = only_client(span_exporter).attributes["http.url"]
        assert "pw" not in url
        assert "s3cr3t" not in url
        assert url.endswith("/users/1?X-Amz-Signature=REDACTED")


class TestHooksAndSuppression:
    def test_client_hooks_get_span_request_and_future(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """``client_request_hook(span, request)`` and ``client_response_hook(span, future)``
        with upstream's signatures; a header the request hook adds is sent."""
        seen: list[Any] = []

        def on_request(span: Any, request: Any) -> None:
            seen.append(("request", type(request).__name__))
            request.headers["X-Added"] = "yes"

        def on_response(span: Any, future: Any) -> None:
            seen.append(("response", future.result().code))
            span.set_attribute("custom", "done")

        instrument(client_request_hook=on_request, client_response_hook=on_response)
        assert serve(_fetch_one("/users/3")) == 200
        assert seen == [("request", "HTTPRequest"), ("response", 200)]
        assert only_client(span_exporter).attributes["custom"] == "done"

    def test_suppressed_http_instrumentation_makes_no_client_span(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """Inside ``suppress_http_instrumentation()`` (exporters use it) no client span."""
        from opentelemetry.instrumentation.utils import suppress_http_instrumentation

        instrument()
        with suppress_http_instrumentation():
            assert serve(_fetch_one("/users/3")) == 200
        assert clients(span_exporter) == []

    def test_redirects_belong_to_the_first_span(
        self, instrument: Any, serve: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """A followed redirect is fetched inside the first fetch's span: one client span,
        with the final status."""
        import tornado.web

        app = tornado.web.Application(
            [(r"/old", tornado.web.RedirectHandler, {"url": "/users/4"}), *_rules()]
        )
        instrument()
        assert serve(_fetch_one("/old"), app=app) == 200
        span = only_client(span_exporter)
        assert span.attributes["http.status_code"] == 200
        assert span.attributes["http.url"].endswith("/old")


def _rules() -> list[Any]:
    return [(rule.matcher.regex.pattern, rule.target) for rule in APP.wildcard_router.rules]


def _fetch_one(path: str) -> Any:
    async def scenario(base: str, client: tornado.httpclient.AsyncHTTPClient) -> int:
        response = await client.fetch(base + path)
        return response.code

    return scenario
