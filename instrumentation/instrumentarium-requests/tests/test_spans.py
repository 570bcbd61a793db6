"""The span of one request: name, kind, attributes in each semconv mode, status, propagation."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.spans import traceparent


def only_span(exporter: InMemorySpanExporter) -> Any:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


class TestSpanBasics:
    """One CLIENT span per request, named by the method, with the status rules of clients."""

    def test_get_is_one_client_span_named_get(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A GET gives one CLIENT span named ``GET`` with the old attributes by default."""
        instrument()
        response = requests.get(server.url("/ok?a=1"), headers={"User-Agent": "ua/1"})
        assert response.text == "ok"
        span = only_span(span_exporter)
        assert span.name == "GET"
        assert span.kind is SpanKind.CLIENT
        assert dict(span.attributes) == {
            "http.method": "GET",
            "http.url": server.url("/ok?a=1"),
            "http.status_code": 200,
            "user_agent.original": "ua/1",
        }
        assert span.status.status_code is StatusCode.UNSET

    @pytest.mark.parametrize("method", ["POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"])
    def test_other_methods_name_the_span(
        self,
        method: str,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Each known method names its span and is recorded as ``http.method``."""
        instrument()
        requests.request(method, server.url("/ok"), data=b"x" if method != "HEAD" else None)
        span = only_span(span_exporter)
        assert span.name == method
        assert span.attributes["http.method"] == method

    def test_unknown_method_is_http_and_other(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A method outside the known list names the span ``HTTP`` and records ``_OTHER``."""
        instrument()
        requests.request("PURGE", server.url("/ok"))
        span = only_span(span_exporter)
        assert span.name == "HTTP"
        assert span.attributes["http.method"] == "_OTHER"

    @pytest.mark.parametrize("code", [400, 404, 500, 503])
    def test_4xx_and_5xx_are_errors(
        self,
        code: int,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A client span is ERROR for 4xx and 5xx, without a description."""
        instrument()
        assert requests.get(server.url(f"/status/{code}")).status_code == code
        span = only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None
        assert span.attributes["http.status_code"] == code

    def test_redirects_are_one_span(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """The hops requests follows inside one ``send`` are one span with the final status,
        and every hop carries that span's traceparent."""
        instrument()
        assert requests.get(server.url("/redirect")).text == "ok"
        span = only_span(span_exporter)
        assert span.attributes["http.status_code"] == 200
        assert span.attributes["http.url"] == server.url("/redirect")
        assert [seen.path for seen in server.seen] == ["/redirect", "/ok"]
        parents = {seen.headers["traceparent"] for seen in server.seen}
        assert parents == {traceparent(span)}

    def test_chunked_request_and_response(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A generator body is sent chunked and a chunked response is read whole; one span."""
        instrument()
        response = requests.post(server.url("/echo"), data=iter([b"ab", b"cd"]))
        assert response.content == b"abcd"
        assert requests.get(server.url("/chunked")).text == "hello chunked world"
        assert [s.name for s in span_exporter.get_finished_spans()] == ["POST", "GET"]

    def test_streamed_response_ends_span_at_headers(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``stream=True`` ends the span when ``send`` returns; the body is read afterwards."""
        instrument()
        with requests.get(server.url("/chunked"), stream=True) as response:
            assert len(span_exporter.get_finished_spans()) == 1
            assert b"".join(response.iter_content(4)) == b"hello chunked world"

    def test_non_ascii_path(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A non-ASCII path is sent percent-encoded and recorded as requests sent it."""
        instrument()
        requests.get(server.url("/café/ü"))
        span = only_span(span_exporter)
        assert span.attributes["http.url"] == server.url("/caf%C3%A9/%C3%BC")
        assert server.seen[-1].path == "/caf%C3%A9/%C3%BC"


class TestPropagation:
    """The server sees a traceparent carrying the client span's ids."""

    def test_traceparent_carries_the_client_span(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """The injected traceparent names the CLIENT span as the parent."""
        instrument()
        requests.get(server.url("/ok"))
        assert server.seen[-1].headers["traceparent"] == traceparent(only_span(span_exporter))

    def test_uninstrumented_sends_no_traceparent(self, instrumentor: Any, server: Any) -> None:
        """Without instrumentation nothing is injected."""
        requests.get(server.url("/ok"))
        assert "traceparent" not in server.seen[-1].headers

    def test_span_is_current_inside_send(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Code running inside ``send`` (a transport adapter) sees the CLIENT span as current."""
        from opentelemetry import trace

        seen: list[int] = []

        class Adapter(requests.adapters.HTTPAdapter):
            def send(self, *args: Any, **kwargs: Any) -> Any:
                seen.append(trace.get_current_span().get_span_context().span_id)
                return super().send(*args, **kwargs)

        instrument()
        session = closing(requests.Session())
        session.mount("http://", Adapter())
        session.get(server.url("/ok"))
        assert seen == [only_span(span_exporter).get_span_context().span_id]


class TestSemconvModes:
    """``OTEL_SEMCONV_STABILITY_OPT_IN`` switches the attribute names."""

    def test_stable_mode(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``http`` gives the stable names, with server.address/port and the protocol."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        requests.get(server.url("/status/404"), headers={"User-Agent": "ua/1"})
        span = only_span(span_exporter)
        assert dict(span.attributes) == {
            "http.request.method": "GET",
            "url.full": server.url("/status/404"),
            "server.address": "127.0.0.1",
            "server.port": server.port,
            "network.peer.address": "127.0.0.1",
            "network.peer.port": server.port,
            "user_agent.original": "ua/1",
            "http.response.status_code": 404,
            "network.protocol.version": "1.1",
            "error.type": "404",
        }

    def test_dup_mode_is_the_union(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``http/dup`` carries both names of each attribute and nothing else."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        requests.get(server.url("/ok"))
        attributes = dict(only_span(span_exporter).attributes)
        assert attributes["http.method"] == attributes["http.request.method"] == "GET"
        assert attributes["http.url"] == attributes["url.full"]
        assert attributes["http.status_code"] == attributes["http.response.status_code"] == 200
        assert "http.host" not in attributes

    def test_lowercase_method_keeps_original_in_stable_mode(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A non-canonical method records ``http.request.method_original``."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        session = closing(requests.Session())
        prepared = requests.Request("get", server.url("/ok")).prepare()
        prepared.method = "get"
        session.send(prepared)
        span = only_span(span_exporter)
        assert span.attributes["http.request.method"] == "GET"
        assert span.attributes["http.request.method_original"] == "get"


class TestRedaction:
    """Every URL written is redacted: userinfo and sensitive query values."""

    def test_credentials_and_signature_are_redacted(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``user:pw@`` and ``Signature=`` never reach the span; the server still gets them."""
        instrument()
        url = (
            f"http://user:secret@127.0.0.1:{server.port}/ok?Signature=abc&keep=1&X-Amz-Credential=k"
        )
        requests.get(url)
        span = only_span(span_exporter)
        assert span.attributes["http.url"] == (
            f"http://REDACTED:REDACTED@127.0.0.1:{server.port}/ok"
            "?Signature=REDACTED&keep=1&X-Amz-Credential=REDACTED"
        )
        assert server.seen[-1].path == "/ok?Signature=abc&keep=1&X-Amz-Credential=k"
        assert server.seen[-1].headers["Authorization"].startswith("Basic ")
