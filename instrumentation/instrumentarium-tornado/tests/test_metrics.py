"""The HTTP server and client metrics, in each semconv mode."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import tornado.httpclient
from tornado_handlers import fetch_all


def points_by_name(metric_points: Any, name: str) -> list[Any]:
    return list(metric_points().get(name, []))


class TestServerMetrics:
    def test_default_mode(
        self, instrument: Any, serve: Callable[..., Any], metric_points: Any
    ) -> None:
        """Old names: the duration (ms) with the route as ``http.target`` (never the raw path),
        the sizes, and active requests back at zero; a failing request counts once."""
        instrument()
        assert serve(fetch_all("/users/1", "/users/2", "/boom")) == [200, 200, 500]
        durations = points_by_name(metric_points, "http.server.duration")
        by_target = {p.attributes.get("http.target"): p for p in durations}
        assert by_target["/users/{uid}"].count == 2
        assert by_target["/boom"].count == 1
        assert by_target["/boom"].attributes["http.status_code"] == 500
        assert sum(p.count for p in durations) == 3
        (active,) = points_by_name(metric_points, "http.server.active_requests")
        assert active.value == 0
        responses = points_by_name(metric_points, "http.server.response.size")
        assert sum(p.count for p in responses) == 3
        assert "http.server.request.duration" not in metric_points()

    def test_stable_mode(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        metric_points: Any,
    ) -> None:
        """``http``: seconds, ``http.route``, ``error.type`` for the 500, body sizes."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()

        async def scenario(base: str, client: tornado.httpclient.AsyncHTTPClient) -> int:
            await client.fetch(base + "/boom", raise_error=False)
            response = await client.fetch(base + "/items", method="POST", body=b"12345")
            return response.code

        assert serve(scenario) == 201
        durations = points_by_name(metric_points, "http.server.request.duration")
        by_route = {p.attributes["http.route"]: p.attributes for p in durations}
        assert by_route["/boom"]["error.type"] == "500"
        assert by_route["/items"]["http.response.status_code"] == 201
        assert by_route["/items"]["http.request.method"] == "POST"
        (request_size,) = [
            p
            for p in points_by_name(metric_points, "http.server.request.body.size")
            if p.attributes["http.route"] == "/items"
        ]
        assert request_size.sum == 5
        assert "http.server.duration" not in metric_points()

    def test_dup_mode(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        metric_points: Any,
    ) -> None:
        """``http/dup``: both durations, each once per request."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        serve(fetch_all("/users/1"))
        points = metric_points()
        assert sum(p.count for p in points["http.server.duration"]) == 1
        assert sum(p.count for p in points["http.server.request.duration"]) == 1


class TestClientMetrics:
    def test_client_duration_has_no_full_url(
        self, instrument: Any, serve: Callable[..., Any], metric_points: Any
    ) -> None:
        """The client duration (ms, an integer count of milliseconds) carries the host and
        port, never the full URL (upstream records the URL: unbounded cardinality)."""
        instrument()
        serve(fetch_all("/users/1?id=1", "/users/2?id=2"))
        (point,) = points_by_name(metric_points, "http.client.duration")
        assert point.count == 2
        assert "http.url" not in point.attributes
        assert point.attributes["net.peer.name"] == "127.0.0.1"
        assert point.attributes["http.status_code"] == 200
        (response_size,) = points_by_name(metric_points, "http.client.response.size")
        assert response_size.sum == len(b"user 1") + len(b"user 2")

    def test_stable_client_duration(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        serve: Callable[..., Any],
        metric_points: Any,
    ) -> None:
        """``http``: ``http.client.request.duration`` in seconds with server.address/port."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        serve(fetch_all("/users/1"))
        (point,) = points_by_name(metric_points, "http.client.request.duration")
        assert point.attributes["server.address"] == "127.0.0.1"
        assert point.attributes["http.response.status_code"] == 200
        assert point.sum < 60
        assert "http.client.duration" not in metric_points()
