"""The peer's address as upstream's urllib3 instrumentation reports it (issue 14, item 4)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import urllib3
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# A failed request records these two (no response, no response size); all three share one
# attribute set.
OLD_METRICS = ("http.client.duration", "http.client.request.size")


class TestPeerPort:
    """``net.peer.port`` on the old-convention metrics."""

    def test_default_port_is_kept_on_old_metrics(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """A URL without a port: the old metrics carry ``net.peer.port: 80``, as
        upstream's do (the pool's port, whether or not the URL spelled it)."""
        instrument()
        with pytest.raises(urllib3.exceptions.HTTPError):
            http.request("GET", "http://localhost.invalid/", timeout=2)
        points = metric_points()
        for name in OLD_METRICS:
            assert points[name][0].attributes["net.peer.port"] == 80, name
            assert points[name][0].attributes["net.peer.name"] == "localhost.invalid", name


class TestHostWithPort:
    """A pool made from ``"host:port"`` (urllib3 lets ``http.client`` split it)."""

    def test_pool_host_with_port_is_not_bracketed(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """``HTTPConnectionPool("127.0.0.1:PORT")`` records ``http://127.0.0.1:PORT/x``, not
        ``http://[127.0.0.1:PORT]/x``, and its metrics name the host and the port apart."""
        instrument()
        pool = urllib3.HTTPConnectionPool(f"127.0.0.1:{server.port}")
        try:
            assert pool.request("GET", "/x").status == 200
        finally:
            pool.close()
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["http.url"] == f"http://127.0.0.1:{server.port}/x"
        attributes = metric_points()["http.client.duration"][0].attributes
        assert attributes["net.peer.name"] == "127.0.0.1"
        assert attributes["net.peer.port"] == server.port

    def test_ipv6_pool_host_is_bracketed(
        self, instrument: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """A bare IPv6 host still gets its brackets in the URL."""
        instrument()
        pool = urllib3.HTTPConnectionPool("::1", 9, retries=False, timeout=1)
        with pytest.raises(urllib3.exceptions.HTTPError):
            pool.request("GET", "/v6")
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["http.url"] == "http://[::1]:9/v6"
