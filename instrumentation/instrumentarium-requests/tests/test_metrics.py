"""requests records the duration only, with its bucket options; the duration's attributes in
each mode are the shared suite's (``tests/support/http_client_suite.py``)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests


class TestDurationMetric:
    """``http.client.duration`` (ms) and ``http.client.request.duration`` (s)."""

    def test_no_size_metrics(
        self,
        instrument: Callable[..., Any],
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """Like upstream's requests instrumentor, only the duration is recorded."""
        instrument()
        requests.post(server.url("/echo"), data=b"abc")
        assert set(metric_points()) == {"http.client.duration"}

    def test_default_buckets(
        self,
        instrument: Callable[..., Any],
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
        sdk_takes_advisory_buckets: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The stable histogram uses the specification's seconds buckets."""
        if not sdk_takes_advisory_buckets:
            pytest.skip("this SDK ignores advisory buckets")
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        requests.get(server.url("/ok"))
        (point,) = metric_points()["http.client.request.duration"]
        assert tuple(point.explicit_bounds) == (
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("opt_in", "expect_ms", "expect_s"),
        [
            ("", (1.0, 10.0, 100.0), None),
            ("http/dup", (1.0, 10.0, 100.0), (0.001, 0.01, 0.1)),
            ("http", None, (1.0, 10.0, 100.0)),
        ],
    )
    def test_custom_boundaries(
        self,
        opt_in: str,
        expect_ms: Any,
        expect_s: Any,
        instrument: Callable[..., Any],
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
        sdk_takes_advisory_buckets: bool,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``duration_histogram_boundaries`` are milliseconds when the ms histogram exists (the
        seconds one gets them / 1000), and seconds in the stable-only mode."""
        if not sdk_takes_advisory_buckets:
            pytest.skip("this SDK ignores advisory buckets")
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
        instrument(duration_histogram_boundaries=[1, 10, 100])
        requests.get(server.url("/ok"))
        points = metric_points()
        if expect_ms is not None:
            assert tuple(points["http.client.duration"][0].explicit_bounds) == expect_ms
        if expect_s is not None:
            bounds = points["http.client.request.duration"][0].explicit_bounds
            assert tuple(bounds) == pytest.approx(expect_s)
