"""The HTTP client duration metrics: names, units, attributes per mode, buckets."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests


class TestDurationMetric:
    """``http.client.duration`` (ms) and ``http.client.request.duration`` (s)."""

    def test_old_mode_attributes(
        self,
        instrument: Callable[..., Any],
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """The old histogram carries upstream's bounded attribute set; no stable histogram."""
        instrument()
        requests.get(server.url("/ok?id=12345"))
        points = metric_points()
        assert "http.client.request.duration" not in points
        (point,) = points["http.client.duration"]
        assert point.count == 1
        assert point.attributes == {
            "http.method": "GET",
            "http.scheme": "http",
            "http.host": "127.0.0.1",
            "net.peer.name": "127.0.0.1",
            "net.peer.port": server.port,
            "http.status_code": 200,
            "http.flavor": "1.1",
        }

    def test_dup_mode_records_both(
        self,
        instrument: Callable[..., Any],
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``http/dup`` records both histograms, each with its own names."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        requests.get(server.url("/status/500"))
        points = metric_points()
        (old,) = points["http.client.duration"]
        (new,) = points["http.client.request.duration"]
        assert old.attributes["http.status_code"] == 500
        assert new.attributes == {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": server.port,
            "http.response.status_code": 500,
            "network.protocol.version": "1.1",
            "error.type": "500",
        }

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

    def test_default_port_is_filled_in_stable_mode_only(
        self,
        instrument: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Without an explicit port, ``server.port`` is the scheme's default (80); the old
        ``net.peer.port`` stays absent, as upstream."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        with pytest.raises(requests.RequestException):
            requests.get("http://localhost.invalid/", timeout=2)
        points = metric_points()
        assert "net.peer.port" not in points["http.client.duration"][0].attributes
        assert points["http.client.request.duration"][0].attributes["server.port"] == 80
