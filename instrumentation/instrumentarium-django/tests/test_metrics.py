"""The HTTP server metrics: route on the duration, a bounded attribute set, one record each."""

from __future__ import annotations

import asyncio


class TestDuration:
    def test_old_duration_carries_the_route_as_target(self, instrument, client, metric_points):
        """``http.server.duration`` (ms) has the old allow-list plus the route as
        ``http.target`` (upstream's choice), never the raw path."""
        instrument()
        client().get("/user/5/?q=1")
        [point] = metric_points()["http.server.duration"]
        assert point.count == 1
        assert dict(point.attributes) == {
            "http.method": "GET",
            "http.scheme": "http",
            "http.server_name": "testserver",
            "net.host.port": 80,
            "http.flavor": "1.1",
            "http.status_code": 200,
            "http.target": "user/<int:uid>/",
        }

    def test_stable_duration_carries_http_route(
        self, instrument, client, metric_points, monkeypatch
    ):
        """``http.server.request.duration`` (s) has ``http.route`` and ``error.type`` on 5xx."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        client(raise_request_exception=False).get("/boom/")
        [point] = metric_points()["http.server.request.duration"]
        assert dict(point.attributes) == {
            "http.request.method": "GET",
            "http.response.status_code": 500,
            "http.route": "boom/",
            "url.scheme": "http",
            "network.protocol.version": "1.1",
            "error.type": "500",
        }

    def test_unmatched_path_has_no_route(self, instrument, client, metric_points):
        """A 404 is measured without ``http.target`` (no route, and never the raw path)."""
        instrument()
        client().get("/nowhere/")
        [point] = metric_points()["http.server.duration"]
        assert "http.target" not in point.attributes

    def test_active_requests_back_to_zero(self, instrument, client, async_client, metric_points):
        """``http.server.active_requests`` returns to zero after sync and async requests."""
        instrument()
        client().get("/user/1/")
        asyncio.run(async_client().get("/async/1/"))
        points = metric_points()["http.server.active_requests"]
        assert points
        assert sum(point.value for point in points) == 0
        assert sum(point.count for point in metric_points()["http.server.duration"]) == 2


class TestHostileHosts:
    def test_distinct_hosts_keep_the_metric_sets_bounded(self, instrument, client, metric_points):
        """Requests with ever new ``Host`` headers (issue 14, item 10, through Django): the
        duration and active-request sets hold the first ``METRIC_HOSTS_KEPT`` hosts and one
        ``_OTHER`` set."""
        from instrumentarium.util.http import METRIC_HOSTS_KEPT, OTHER_HOST

        instrument()
        django_client = client()
        for i in range(METRIC_HOSTS_KEPT + 200):
            django_client.get("/user/1/", HTTP_HOST=f"h{i}.example")
        points = metric_points()
        for name in ("http.server.duration", "http.server.active_requests"):
            hosts = [point.attributes["http.host"] for point in points[name]]
            assert len(hosts) == METRIC_HOSTS_KEPT + 1, name
            assert OTHER_HOST in hosts
            assert "h0.example" in hosts
