"""The body-size histograms urllib3's instrumentor records (upstream's too), and which
histograms each mode records; the duration's attributes are the shared suite's
(``tests/support/http_client_suite.py``)."""

from __future__ import annotations

import io
from typing import Any, Callable

import pytest
import urllib3

from tests.support.http_client_suite import old_duration_attributes


class TestMetrics:
    """Old and stable instruments, their attributes and the sizes they record."""

    def test_old_mode_instruments_and_attributes(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """Duration and the two size histograms, with upstream's bounded attributes."""
        instrument()
        http.request("POST", server.url("/echo?id=1"), body=b"hello")
        points = metric_points()
        assert set(points) == {
            "http.client.duration",
            "http.client.request.size",
            "http.client.response.size",
        }
        expected = old_duration_attributes(server.port, "POST")
        for name in points:
            assert points[name][0].attributes == expected
        assert points["http.client.request.size"][0].sum == 5
        assert points["http.client.response.size"][0].sum == 5

    def test_stable_mode_instruments(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``http`` records the stable duration and body-size histograms only (their
        attributes: the shared suite's ``TestMetrics``)."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        http.request("GET", server.url("/status/404"))
        assert set(metric_points()) == {
            "http.client.request.duration",
            "http.client.request.body.size",
            "http.client.response.body.size",
        }

    @pytest.mark.parametrize(
        ("body", "size"),
        [
            ("héllo", 6),  # UTF-8 bytes, not characters
            (io.BytesIO(b"abcdef"), 6),
            (bytearray(b"abc"), 3),
            (None, 0),
        ],
        ids=["str", "bytesio", "bytearray", "none"],
    )
    def test_request_body_sizes(
        self,
        body: Any,
        size: int,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """Known body sizes are recorded in bytes."""
        instrument()
        http.request("POST", server.url("/echo"), body=body)
        assert metric_points()["http.client.request.size"][0].sum == size

    def test_chunked_sizes(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """A generator body is not measured; a chunked response is measured from its body."""
        instrument()
        http.request("POST", server.url("/echo"), body=iter([b"ab"]), chunked=True)
        http.request("GET", server.url("/chunked"))
        points = metric_points()
        assert "http.client.request.size" not in points or all(
            p.attributes["http.method"] != "POST" for p in points["http.client.request.size"]
        )
        sizes = {p.attributes["http.method"]: p.sum for p in points["http.client.response.size"]}
        assert sizes["GET"] == len(b"hello chunked world")

    def test_head_response_size_is_zero(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """A HEAD response has no body, whatever its Content-Length says."""
        instrument()
        http.request("HEAD", server.url("/ok"))
        assert metric_points()["http.client.response.size"][0].sum == 0
