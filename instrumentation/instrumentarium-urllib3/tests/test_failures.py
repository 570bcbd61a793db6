"""Failures raise exactly what urllib3 raises, end the span ERROR and still record metrics."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import urllib3
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.support.spans import raised


def _refused(server: Any, port: int) -> object:
    with urllib3.PoolManager(retries=False) as manager:
        return manager.request("GET", f"http://127.0.0.1:{port}/")


def _refused_with_retries(server: Any, port: int) -> object:
    with urllib3.PoolManager(retries=urllib3.Retry(2, backoff_factor=0)) as manager:
        return manager.request("GET", f"http://127.0.0.1:{port}/")


def _read_timeout(server: Any, port: int) -> object:
    with urllib3.PoolManager(retries=False) as manager:
        return manager.request("GET", server.url("/slow"), timeout=0.05)


def _tls_to_plain_server(server: Any, port: int) -> object:
    with urllib3.PoolManager(retries=False) as manager:
        return manager.request("GET", f"https://127.0.0.1:{server.port}/", timeout=5)


def _invalid_url(server: Any, port: int) -> object:
    with urllib3.PoolManager(retries=False) as manager:
        return manager.request("GET", "http://[::1/")


class TestFailures:
    """The same exception type and message as without instrumentation; span ERROR; metric."""

    @pytest.mark.parametrize(
        "make_call",
        [_refused, _refused_with_retries, _read_timeout, _tls_to_plain_server],
        ids=["refused", "refused-after-retries", "read-timeout", "tls"],
    )
    def test_same_exception_and_error_span(
        self,
        make_call: Callable[[Any, int], object],
        instrument: Callable[..., Any],
        server: Any,
        closed_port: int,
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Type and message match the bare call; one ERROR span with ``error.type`` (stable
        names, via ``http/dup``) and one duration point (upstream records none)."""
        bare = raised(lambda: make_call(server, closed_port))
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        traced = raised(lambda: make_call(server, closed_port))
        assert type(traced) is type(bare)
        assert str(traced).split(" object at ")[0] == str(bare).split(" object at ")[0]
        (span,) = span_exporter.get_finished_spans()
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == type(traced).__qualname__
        assert [event.name for event in span.events] == ["exception"]
        points = metric_points()
        assert len(points["http.client.duration"]) == 1
        (new,) = points["http.client.request.duration"]
        assert new.attributes["error.type"] == type(traced).__qualname__

    def test_invalid_url_fails_before_any_span(
        self, instrument: Callable[..., Any], span_exporter: InMemorySpanExporter
    ) -> None:
        """A URL the PoolManager cannot parse raises its error; no pool, so no span."""
        bare = raised(lambda: _invalid_url(None, 0))
        instrument()
        traced = raised(lambda: _invalid_url(None, 0))
        assert type(traced) is type(bare)
        assert span_exporter.get_finished_spans() == ()

    def test_bad_arguments_reach_urllib3_unchanged(
        self, closing: Callable[[Any], Any], instrument: Callable[..., Any], server: Any
    ) -> None:
        """A call urllib3 rejects (a missing url) raises urllib3's own TypeError."""
        pool = closing(urllib3.HTTPConnectionPool("127.0.0.1", server.port))
        bare = raised(lambda: pool.urlopen("GET"))  # type: ignore[call-arg]
        instrument()
        traced = raised(lambda: pool.urlopen("GET"))  # type: ignore[call-arg]
        assert type(traced) is type(bare) is TypeError
        assert str(traced) == str(bare)
