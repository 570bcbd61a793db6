"""Failures particular to urllib3 (its own retries, a URL it cannot parse, bad arguments), beside
the shared ones of ``tests/support/http_client_suite.py``: each raises exactly what urllib3
raises, and a failed call ends its span ERROR and still records metrics."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import urllib3
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.http_client_suite import check_failure
from tests.support.spans import raised


def _refused_with_retries(port: int) -> object:
    with urllib3.PoolManager(retries=urllib3.Retry(2, backoff_factor=0)) as manager:
        return manager.request("GET", f"http://127.0.0.1:{port}/")


def _invalid_url(server: Any, port: int) -> object:
    with urllib3.PoolManager(retries=False) as manager:
        return manager.request("GET", "http://[::1/")


class TestFailures:
    """The same exception type and message as without instrumentation."""

    def test_refused_after_urllib3s_own_retries(
        self,
        instrument: Callable[..., Any],
        closed_port: int,
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Refused after urllib3's retries (``MaxRetryError``): the same exception as the bare
        call, one ERROR span for the whole call with ``error.type``, one duration point each
        (upstream records none)."""
        check_failure(
            lambda: _refused_with_retries(closed_port),
            "http/dup",
            instrument,
            span_exporter,
            metric_points,
            monkeypatch,
        )

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
