"""What only urllib3's spans show: the URL built from a pool and a path, its retries and
redirects inside one ``urlopen``, a pool's own headers, absolute URLs (as proxies get) and
``url_filter``. The rest is the shared suite (``tests/support/http_client_suite.py``)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import urllib3
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.http_client_suite import only_span
from tests.support.spans import traceparent


class TestSpanBasics:
    """One CLIENT span per urlopen call, named by the method, with the client status rules."""

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


class TestPropagation:
    """The server sees the client span's traceparent; the caller's headers are untouched."""

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


class TestRedaction:
    """The same redaction as requests: upstream's urllib3 leaks these."""

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
