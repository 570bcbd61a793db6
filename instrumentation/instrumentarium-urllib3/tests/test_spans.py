"""The span of one urlopen call: name, attributes per mode, status, propagation, redaction."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import urllib3
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.spans import traceparent


def only_span(exporter: InMemorySpanExporter) -> Any:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


class TestSpanBasics:
    """One CLIENT span per urlopen call, named by the method, with the client status rules."""

    def test_get_through_pool_manager(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A GET gives one CLIENT span named ``GET`` with upstream's old attributes."""
        instrument()
        assert http.request("GET", server.url("/ok?a=1")).data == b"ok"
        span = only_span(span_exporter)
        assert span.name == "GET"
        assert span.kind is SpanKind.CLIENT
        assert dict(span.attributes) == {
            "http.method": "GET",
            "http.url": server.url("/ok?a=1"),
            "http.status_code": 200,
        }
        assert span.status.status_code is StatusCode.UNSET

    def test_connection_pool_with_a_path(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A path given to a pool is recorded as the full URL built from the pool."""
        instrument()
        pool = closing(urllib3.HTTPConnectionPool("127.0.0.1", server.port))
        pool.urlopen("POST", "/echo", body=b"abc")
        span = only_span(span_exporter)
        assert span.name == "POST"
        assert span.attributes["http.url"] == server.url("/echo")

    def test_default_port_is_left_out_of_the_url(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A pool on port 80 records ``http://host/path`` (no ``:80``)."""
        instrument()
        pool = closing(urllib3.HTTPConnectionPool("localhost.invalid", 80, retries=False))
        with pytest.raises(urllib3.exceptions.HTTPError):
            pool.urlopen("GET", "/x")
        assert only_span(span_exporter).attributes["http.url"] == "http://localhost.invalid/x"

    @pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE", "PATCH"])
    def test_methods(
        self,
        method: str,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Each known method names its span."""
        instrument()
        http.request(method, server.url("/ok"))
        assert only_span(span_exporter).name == method

    def test_unknown_method(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A method outside the known list names the span ``HTTP`` and records ``_OTHER``."""
        instrument()
        http.request("PURGE", server.url("/ok"))
        span = only_span(span_exporter)
        assert (span.name, span.attributes["http.method"]) == ("HTTP", "_OTHER")

    @pytest.mark.parametrize("code", [404, 500])
    def test_4xx_and_5xx_are_errors(
        self,
        code: int,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A client span is ERROR for 4xx and 5xx, without a description."""
        instrument()
        assert http.request("GET", server.url(f"/status/{code}")).status == code
        span = only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None

    def test_retries_inside_one_call_are_one_span(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """urllib3's retries (it calls urlopen again) stay inside the first call's span, and
        every attempt carries that span's traceparent."""
        instrument()
        pool = closing(urllib3.HTTPConnectionPool("127.0.0.1", server.port))
        retry = urllib3.Retry(
            total=2, status_forcelist=[503], backoff_factor=0, raise_on_status=False
        )
        response = pool.urlopen("GET", "/status/503", retries=retry)
        assert response.status == 503
        span = only_span(span_exporter)
        assert span.attributes["http.status_code"] == 503
        assert len(server.seen) == 3
        assert {seen.headers["traceparent"] for seen in server.seen} == {traceparent(span)}

    def test_same_host_redirect_inside_one_call_is_one_span(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A pool following a redirect itself gives one span with the final status."""
        instrument()
        pool = closing(urllib3.HTTPConnectionPool("127.0.0.1", server.port))
        response = pool.urlopen("GET", "/redirect", redirect=True)
        assert response.data == b"ok"
        span = only_span(span_exporter)
        assert span.attributes["http.status_code"] == 200

    def test_chunked_bodies(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A chunked request body and a chunked response each give one span."""
        instrument()
        response = http.request(
            "POST", server.url("/echo"), body=iter([b"ab", b"cd"]), chunked=True
        )
        assert response.data == b"abcd"
        assert http.request("GET", server.url("/chunked")).data == b"hello chunked world"
        assert len(span_exporter.get_finished_spans()) == 2

    def test_streamed_response(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``preload_content=False`` ends the span when urlopen returns; reading comes after."""
        instrument()
        response = http.request("GET", server.url("/chunked"), preload_content=False)
        assert len(span_exporter.get_finished_spans()) == 1
        assert b"".join(response.stream(4)) == b"hello chunked world"
        response.release_conn()

    def test_non_ascii_path(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A percent-encoded non-ASCII path is recorded as sent."""
        instrument()
        http.request("GET", server.url("/caf%C3%A9"))
        assert only_span(span_exporter).attributes["http.url"] == server.url("/caf%C3%A9")


class TestPropagation:
    """The server sees the client span's traceparent; the caller's headers are untouched."""

    def test_traceparent_and_caller_headers(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A copy of the headers carries the traceparent; the caller's dict is not mutated."""
        instrument()
        headers = {"X-Mine": "1"}
        http.request("GET", server.url("/ok"), headers=headers)
        assert headers == {"X-Mine": "1"}
        seen = server.seen[-1].headers
        assert seen["X-Mine"] == "1"
        assert seen["traceparent"] == traceparent(only_span(span_exporter))

    def test_pool_headers_are_kept(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Without per-call headers the pool's headers are sent, plus the traceparent."""
        instrument()
        pool = closing(
            urllib3.HTTPConnectionPool("127.0.0.1", server.port, headers={"X-Pool": "p"})
        )
        pool.urlopen("GET", "/ok")
        assert pool.headers == {"X-Pool": "p"}
        assert server.seen[-1].headers["X-Pool"] == "p"
        assert "traceparent" in server.seen[-1].headers


class TestSemconvModes:
    """``OTEL_SEMCONV_STABILITY_OPT_IN`` switches the attribute names."""

    def test_stable_mode_adds_server_attributes(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``http`` gives the stable names; the span also has server.* and the protocol."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        http.request("GET", server.url("/status/503"))
        assert dict(only_span(span_exporter).attributes) == {
            "http.request.method": "GET",
            "url.full": server.url("/status/503"),
            "server.address": "127.0.0.1",
            "server.port": server.port,
            "network.peer.address": "127.0.0.1",
            "network.peer.port": server.port,
            "http.response.status_code": 503,
            "network.protocol.version": "1.1",
            "error.type": "503",
        }


class TestRedaction:
    """The same redaction as requests: upstream's urllib3 leaks these."""

    def test_query_signature_and_credentials(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``Signature=`` and ``sig=`` are redacted in ``http.url``; the server gets them."""
        instrument()
        http.request("GET", server.url("/ok?Signature=abc&sig=x&keep=1"))
        span = only_span(span_exporter)
        assert span.attributes["http.url"] == server.url(
            "/ok?Signature=REDACTED&sig=REDACTED&keep=1"
        )
        assert server.seen[-1].path == "/ok?Signature=abc&sig=x&keep=1"

    def test_absolute_url_with_userinfo(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """An absolute URL given to urlopen (as proxies get) has its userinfo redacted."""
        instrument()
        pool = closing(urllib3.HTTPConnectionPool("127.0.0.1", server.port))
        url = f"http://user:pw@127.0.0.1:{server.port}/ok?X-Goog-Signature=s"
        pool.urlopen("GET", url, assert_same_host=False)
        assert only_span(span_exporter).attributes["http.url"] == (
            f"http://REDACTED:REDACTED@127.0.0.1:{server.port}/ok?X-Goog-Signature=REDACTED"
        )

    def test_url_filter_runs_before_redaction(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``url_filter`` sees the raw URL; its result is still redacted."""
        seen: list[str] = []

        def url_filter(url: str) -> str:
            seen.append(url)
            return url.replace("/ok", "/filtered")

        instrument(url_filter=url_filter)
        http.request("GET", server.url("/ok?sig=1"))
        assert seen == [server.url("/ok?sig=1")]
        assert only_span(span_exporter).attributes["http.url"] == server.url(
            "/filtered?sig=REDACTED"
        )
