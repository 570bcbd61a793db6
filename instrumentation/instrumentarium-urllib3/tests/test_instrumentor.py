"""Hooks, exclusions and header capture as urllib3 has them, and requests on top (the lifecycle
and suppression: ``tests/test_contract.py`` and the shared HTTP client suite)."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest
import requests
import urllib3
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from urllib3._collections import HTTPHeaderDict  # exported at the top level from 2.0 only

from instrumentarium.requests import RequestsInstrumentor
from instrumentarium.urllib3 import RequestInfo


class TestRequestsOnTop:
    """requests over urllib3 is one span, whichever is instrumented first."""

    @pytest.mark.parametrize("urllib3_first", [True, False])
    def test_one_span_and_its_traceparent(
        self,
        urllib3_first: bool,
        instrument: Callable[..., Any],
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Only the requests span exists, and the server sees its traceparent."""
        requests_instrumentor = RequestsInstrumentor()
        try:
            if urllib3_first:
                instrument()
            requests_instrumentor.instrument(
                tracer_provider=tracer_provider, meter_provider=meter_provider
            )
            if not urllib3_first:
                instrument()
            requests.get(server.url("/ok"))
        finally:
            requests_instrumentor.uninstrument()
        (span,) = span_exporter.get_finished_spans()
        assert span.instrumentation_scope.name == "instrumentarium.requests"
        ctx = span.get_span_context()
        assert server.seen[-1].headers["traceparent"] == (
            f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
        )


class TestOptions:
    """Hooks, exclusions and header capture."""

    def test_hooks_receive_upstream_arguments(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
    ) -> None:
        """request_hook(span, pool, RequestInfo) may add headers; response_hook(span, pool,
        response) sees the response."""
        calls: list[Any] = []

        def request_hook(span: Any, pool: Any, info: RequestInfo) -> None:
            calls.append((type(pool).__name__, info.method, info.url, info.body))
            info.headers["X-Hooked"] = "yes"

        def response_hook(span: Any, pool: Any, response: Any) -> None:
            calls.append(response.status)

        instrument(request_hook=request_hook, response_hook=response_hook)
        http.request("POST", server.url("/echo"), body=b"x")
        assert calls == [("HTTPConnectionPool", "POST", server.url("/echo"), b"x"), 200]
        assert server.seen[-1].headers["X-Hooked"] == "yes"

    def test_raising_hooks_are_logged(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A hook or url_filter that raises is logged and the request goes on."""

        def broken(*args: Any) -> Any:
            raise RuntimeError("bug")

        instrument(request_hook=broken, response_hook=broken, url_filter=broken)
        with caplog.at_level(logging.DEBUG, logger="instrumentarium"):
            assert http.request("GET", server.url("/ok")).data == b"ok"
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["http.url"] == server.url("/ok")
        messages = " ".join(r.getMessage() for r in caplog.records)
        assert "request_hook" in messages
        assert "response_hook" in messages
        assert "url_filter" in messages

    def test_excluded_urls(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``OTEL_PYTHON_URLLIB3_EXCLUDED_URLS`` is matched after ``url_filter``."""
        monkeypatch.setenv("OTEL_PYTHON_URLLIB3_EXCLUDED_URLS", "/hidden")
        instrument(url_filter=lambda url: url.replace("/status/200", "/hidden"))
        http.request("GET", server.url("/status/200"))
        http.request("GET", server.url("/ok"))
        assert len(span_exporter.get_finished_spans()) == 1
        assert "traceparent" not in server.seen[0].headers

    def test_captured_headers_kwargs(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The capture kwargs record request and response headers, sanitising sensitive ones."""
        instrument(
            captured_request_headers=["x-key", "x-a"],
            captured_response_headers=["x-served-by", "content-type"],
            sensitive_headers=["key"],
        )
        http.request("GET", server.url("/ok"), headers={"X-Key": "secret", "X-A": "1"})
        attributes = span_exporter.get_finished_spans()[0].attributes
        assert attributes["http.request.header.x_key"] == ("[REDACTED]",)
        assert attributes["http.request.header.x_a"] == ("1",)
        assert attributes["http.response.header.x_served_by"] == ("test-server",)
        assert attributes["http.response.header.content_type"] == ("text/plain",)

    def test_repeated_headers_are_one_value(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A header sent twice is one value joined as urllib3 merges it (``"a, b"``, what
        requests records); upstream's urllib3 keeps only the last occurrence."""
        instrument(captured_request_headers=["x-sent"], captured_response_headers=["x-repeated"])
        sent = HTTPHeaderDict()
        sent.add("X-Sent", "1")
        sent.add("X-Sent", "2")
        http.request("GET", server.url("/repeated"), headers=sent)
        attributes = span_exporter.get_finished_spans()[0].attributes
        assert attributes["http.request.header.x_sent"] == ("1, 2",)
        assert attributes["http.response.header.x_repeated"] == ("a, b",)
