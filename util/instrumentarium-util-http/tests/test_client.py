"""``HttpClientTelemetry`` / ``HttpClientCall``: one outgoing request's span and metrics."""

from __future__ import annotations

import io
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import (
    suppress_http_instrumentation,
    suppress_instrumentation,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentarium.util.http import (
    HttpClientTelemetry,
    body_size,
    header_items,
    http_instrumentation_suppressed,
    http_version,
)
from instrumentarium.util.semconv import DEFAULT, DUP, STABLE, SemconvMode


@pytest.fixture
def telemetry(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Callable[..., HttpClientTelemetry]:
    def make(mode: SemconvMode = DEFAULT, **kwargs: Any) -> HttpClientTelemetry:
        return HttpClientTelemetry(
            scope="test",
            version="0",
            library="TESTLIB",
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            mode=mode,
            **kwargs,
        )

    return make


class TestSuppression:
    """``http_instrumentation_suppressed`` honours both suppression keys and the plain one."""

    def test_not_suppressed_by_default(self) -> None:
        """Outside any suppression context the answer is False."""
        assert not http_instrumentation_suppressed()

    @pytest.mark.parametrize("suppress", [suppress_instrumentation, suppress_http_instrumentation])
    def test_suppressed(self, suppress: Any) -> None:
        """Inside either context manager the answer is True."""
        with suppress():
            assert http_instrumentation_suppressed()

    def test_plain_backward_compatible_key(self) -> None:
        """The plain string key ``suppress_instrumentation`` is honoured too."""
        token = otel_context.attach(otel_context.set_value("suppress_instrumentation", True))
        try:
            assert http_instrumentation_suppressed()
        finally:
            otel_context.detach(token)


class TestCall:
    """Span attributes per mode, status rules, exceptions and metrics."""

    def test_old_mode_span(
        self, telemetry: Callable[..., HttpClientTelemetry], span_exporter: InMemorySpanExporter
    ) -> None:
        """Old mode: method and redacted URL at start, the status after."""
        call = telemetry().start("GET", "https://u:p@h.example:8443/a?sig=1&b=2")
        call.on_response(200, 11)
        call.end()
        (span,) = span_exporter.get_finished_spans()
        assert span.kind is SpanKind.CLIENT
        assert span.name == "GET"
        assert dict(span.attributes) == {
            "http.method": "GET",
            "http.url": "https://REDACTED:REDACTED@h.example:8443/a?sig=REDACTED&b=2",
            "http.status_code": 200,
        }

    def test_stable_mode_span_with_default_port_and_ipv6(
        self, telemetry: Callable[..., HttpClientTelemetry], span_exporter: InMemorySpanExporter
    ) -> None:
        """An IPv6 literal gives server.address without brackets, the default port, and the
        peer address (it is an IP)."""
        call = telemetry(STABLE).start("get", "https://[::1]/x")
        call.end()
        (span,) = span_exporter.get_finished_spans()
        assert dict(span.attributes) == {
            "http.request.method": "GET",
            "http.request.method_original": "get",
            "url.full": "https://[::1]/x",
            "server.address": "::1",
            "server.port": 443,
            "network.peer.address": "::1",
            "network.peer.port": 443,
        }

    def test_host_name_is_not_a_peer_address(
        self, telemetry: Callable[..., HttpClientTelemetry], span_exporter: InMemorySpanExporter
    ) -> None:
        """A host name is ``server.address`` only: ``network.peer.address`` is for IPs."""
        telemetry(STABLE).start("GET", "http://Example.COM:8080/").end()
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["server.address"] == "example.com"
        assert span.attributes["server.port"] == 8080
        assert "network.peer.address" not in span.attributes

    @pytest.mark.parametrize(
        ("code", "error"), [(200, False), (302, False), (404, True), (503, True)]
    )
    def test_status_rules(
        self,
        code: int,
        error: bool,
        telemetry: Callable[..., HttpClientTelemetry],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """4xx and 5xx are ERROR (no description) with ``error.type`` = the code."""
        call = telemetry(DUP).start("GET", "http://h/")
        call.on_response(code, 11)
        call.end()
        (span,) = span_exporter.get_finished_spans()
        assert (span.status.status_code is StatusCode.ERROR) is error
        assert span.status.description is None
        assert span.attributes.get("error.type") == (str(code) if error else None)

    def test_exception_sets_error_type_once_and_ends_once(
        self,
        telemetry: Callable[..., HttpClientTelemetry],
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """An exception: one event, ERROR ``Type: msg``, error.type = qualname; a second end is
        a no-op."""

        class Outer:
            class Boom(Exception):
                pass

        call = telemetry(STABLE).start("POST", "http://h:81/")
        call.end(Outer.Boom("bad"))
        call.end(ValueError("again"))
        (span,) = span_exporter.get_finished_spans()
        assert span.status.description == "Boom: bad"
        assert span.attributes["error.type"] == Outer.Boom.__qualname__
        assert span.attributes["error.type"].endswith("<locals>.Outer.Boom")
        assert [e.name for e in span.events] == ["exception"]
        (point,) = metric_points()["http.client.request.duration"]
        assert point.count == 1
        assert point.attributes["error.type"] == span.attributes["error.type"]

    def test_non_integer_status(
        self, telemetry: Callable[..., HttpClientTelemetry], span_exporter: InMemorySpanExporter
    ) -> None:
        """A status that is not an int is ERROR ``Non-integer HTTP status``."""
        call = telemetry(STABLE).start("GET", "http://h/")
        call.on_response("weird")
        call.end()
        (span,) = span_exporter.get_finished_spans()
        assert span.status.description == "Non-integer HTTP status: weird"
        assert span.attributes["error.type"] == "weird"

    def test_unknown_method_is_http(
        self, telemetry: Callable[..., HttpClientTelemetry], span_exporter: InMemorySpanExporter
    ) -> None:
        """``_OTHER`` names the span ``HTTP``."""
        telemetry().start("FOO", "http://h/").end()
        (span,) = span_exporter.get_finished_spans()
        assert (span.name, span.attributes["http.method"]) == ("HTTP", "_OTHER")

    def test_attach_suppresses_inner_layers_and_makes_span_current(
        self, telemetry: Callable[..., HttpClientTelemetry]
    ) -> None:
        """While attached, the span is current and HTTP instrumentation is suppressed."""
        call = telemetry().start("GET", "http://h/")
        token = call.attach()
        try:
            assert trace.get_current_span() is call.span
            assert http_instrumentation_suppressed()
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        call.end()
        assert not http_instrumentation_suppressed()

    def test_inject_writes_the_span_traceparent(
        self, telemetry: Callable[..., HttpClientTelemetry]
    ) -> None:
        """inject() writes the CLIENT span's ids, not the current span's."""
        call = telemetry().start("GET", "http://h/")
        carrier: dict[str, str] = {}
        call.inject(carrier)
        call.end()
        ctx = call.span.get_span_context()
        assert carrier["traceparent"].split("-")[1:3] == [
            f"{ctx.trace_id:032x}",
            f"{ctx.span_id:016x}",
        ]

    def test_user_agent_only_when_enabled(
        self, telemetry: Callable[..., HttpClientTelemetry], span_exporter: InMemorySpanExporter
    ) -> None:
        """``user_agent.original`` (and the synthetic type) only for clients that ask for it."""
        telemetry(user_agent=True).start("GET", "http://h/", user_agent="AlwaysOn-probe").end()
        telemetry().start("GET", "http://h/", user_agent="AlwaysOn-probe").end()
        first, second = span_exporter.get_finished_spans()
        assert first.attributes["user_agent.original"] == "AlwaysOn-probe"
        assert first.attributes["user_agent.synthetic.type"] == "test"
        assert "user_agent.original" not in second.attributes

    def test_size_metrics_when_enabled(
        self,
        telemetry: Callable[..., HttpClientTelemetry],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """Size histograms exist only with ``size_metrics`` and record what ``end`` is given."""
        call = telemetry(DUP, size_metrics=True).start("GET", "http://h/")
        call.on_response(200, 10)
        call.end(request_size=3, response_size=7)
        points = metric_points()
        assert points["http.client.request.size"][0].sum == 3
        assert points["http.client.response.body.size"][0].sum == 7
        assert points["http.client.duration"][0].attributes["http.flavor"] == "1.0"

    def test_excluded_and_captured_headers(
        self,
        telemetry: Callable[..., HttpClientTelemetry],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Exclusion matches with search semantics; captured request headers are start
        attributes and response headers are set on the response."""
        client = telemetry(
            excluded_urls="health",
            captured_request_headers=["x-a"],
            captured_response_headers=["x-b"],
        )
        assert client.is_excluded("http://h/healthz")
        assert not client.is_excluded("http://h/ok")
        call = client.start("GET", "http://h/", request_headers=[("X-A", "1")])
        call.on_response(200, 11, [("X-B", "2")])
        call.end()
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["http.request.header.x_a"] == ("1",)
        assert span.attributes["http.response.header.x_b"] == ("2",)


class TestHelpers:
    """Body sizes, protocol versions and header items."""

    @pytest.mark.parametrize(
        ("body", "size"),
        [
            (None, 0),
            (b"abc", 3),
            (bytearray(b"ab"), 2),
            ("abc", 3),
            ("é", 2),
            (memoryview(b"abcd"), 4),
            (io.BytesIO(b"xyz"), 3),
            (iter([b"a"]), None),
        ],
    )
    def test_body_size(self, body: object, size: Any) -> None:
        """Known bodies are measured in bytes; iterators are unknown."""
        assert body_size(body) == size

    @given(st.text())
    def test_str_body_size_is_utf8_length(self, text: str) -> None:
        """Any str body is measured as its UTF-8 encoding (surrogates included)."""
        assert body_size(text) == len(text.encode("utf-8", "surrogatepass"))

    def test_http_version(self) -> None:
        """http.client's integer versions map to the protocol version strings."""
        assert [http_version(v) for v in (10, 11, 20, 0, None, "11")] == [
            "1.0", "1.1", "2", None, None, None,
        ]  # fmt: skip

    def test_header_items(self) -> None:
        """A headers mapping becomes string pairs; None gives none."""
        assert header_items({"A": 1}) == [("A", "1")]
        assert header_items(None) == []
