"""HTTPS against a real TLS server on loopback (``tests/support/tls.py``, a locally generated CA):
the request succeeds as without instrumentation and the span says ``https``; a certificate that
fails verification raises what urllib3 raises and ends the span ERROR."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import urllib3
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.spans import raised, traceparent


class TestHttps:
    def test_verified_https_request_succeeds_with_https_attributes(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        tls_server: Any,
        tls_ca_bundle: str,
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A GET over verified TLS returns the body; one CLIENT span whose URL is ``https://``
        with the server's port (old and stable names), the traceparent reaches the server, and
        the metrics carry ``https`` and the port."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        http = closing(urllib3.PoolManager(ca_certs=tls_ca_bundle, retries=False))
        response = http.request("GET", tls_server.url("/ok?a=1"))
        assert (response.status, response.data) == (200, b"ok")
        (span,) = span_exporter.get_finished_spans()
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        url = f"https://127.0.0.1:{tls_server.port}/ok?a=1"
        assert span.attributes["http.url"] == span.attributes["url.full"] == url
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] == tls_server.port
        assert span.attributes["http.status_code"] == 200
        [seen] = tls_server.seen
        assert seen.headers["traceparent"] == traceparent(span)
        points = metric_points()
        (old,) = points["http.client.duration"]
        assert old.attributes["http.scheme"] == "https"
        assert old.attributes["net.peer.port"] == tls_server.port
        (new,) = points["http.client.request.duration"]
        assert new.attributes["server.port"] == tls_server.port

    def test_https_pool_given_a_path_records_an_https_url(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        tls_server: Any,
        tls_ca_bundle: str,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """An ``HTTPSConnectionPool`` called with a path: the recorded URL is built with the
        ``https`` scheme and the pool's port."""
        instrument()
        pool = closing(
            urllib3.HTTPSConnectionPool(
                "127.0.0.1", tls_server.port, ca_certs=tls_ca_bundle, retries=False
            )
        )
        assert pool.urlopen("POST", "/echo", body=b"sealed").data == b"sealed"
        (span,) = span_exporter.get_finished_spans()
        assert span.name == "POST"
        assert span.attributes["http.url"] == f"https://127.0.0.1:{tls_server.port}/echo"

    def test_untrusted_certificate_raises_the_same_error_and_ends_the_span_error(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        untrusted_tls_server: Any,
        tls_ca_bundle: str,
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A certificate signed by a CA the client does not trust: urllib3's ``SSLError``, the
        same type and message as without instrumentation; one ERROR span with the exception
        event and ``error.type``, and the duration still recorded."""
        http = closing(urllib3.PoolManager(ca_certs=tls_ca_bundle, retries=False))
        url = untrusted_tls_server.url("/ok")
        bare = raised(lambda: http.request("GET", url))
        http.clear()
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        traced = raised(lambda: http.request("GET", url))
        assert type(traced) is type(bare) is urllib3.exceptions.SSLError
        assert "CERTIFICATE_VERIFY_FAILED" in str(traced)
        assert str(traced) == str(bare)
        (span,) = span_exporter.get_finished_spans()
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "SSLError"
        assert [event.name for event in span.events] == ["exception"]
        assert "http.status_code" not in span.attributes
        (point,) = metric_points()["http.client.request.duration"]
        assert point.attributes["error.type"] == "SSLError"
        assert untrusted_tls_server.seen == []
