"""HTTP server metrics: durations in each semconv mode, active requests, bounded attributes."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace


@pytest.fixture
def app(make_app):
    return make_app()


def _metrics_by_name(metric_reader) -> dict[str, Any]:
    """Every metric (with its unit and points) by instrument name."""
    found: dict[str, Any] = {}
    data = metric_reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data is not None else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                found[metric.name] = (scope_metrics.scope.name, metric)
    return found


class TestDuration:
    def test_old_duration_in_ms_with_the_route_as_target(
        self, app, instrument, metric_points, metric_reader
    ):
        """``http.server.duration`` (ms) carries the route template as ``http.target``, never the
        raw path, and the bounded old attribute set."""
        instrument()

        app.test_client().get("/users/42?token=s3cr3t")
        app.test_client().get("/users/43")

        [point] = metric_points()["http.server.duration"]
        assert point.count == 2
        assert dict(point.attributes) == {
            "http.method": "GET",
            "http.host": "localhost",
            "http.scheme": "http",
            "http.status_code": 200,
            "http.flavor": "1.1",
            "http.server_name": "localhost",
            "net.host.name": "localhost",
            "net.host.port": 80,
            "http.target": "/users/<int:user_id>",
        }
        scope, metric = _metrics_by_name(metric_reader)["http.server.duration"]
        assert (scope, metric.unit) == ("instrumentarium.flask", "ms")
        assert "http.server.request.duration" not in metric_points()

    def test_not_found_duration_has_no_target(self, app, instrument, metric_points):
        """Without a matched rule the old duration has no ``http.target`` at all (no raw path)."""
        instrument()

        app.test_client().get("/missing/12345")

        [point] = metric_points()["http.server.duration"]
        assert point.attributes["http.status_code"] == 404
        assert "http.target" not in point.attributes
        assert "12345" not in str(dict(point.attributes))

    def test_stable_duration_in_seconds_with_the_route(
        self, app, instrument, metric_points, metric_reader, monkeypatch
    ):
        """In stable mode ``http.server.request.duration`` (s) carries ``http.route``, and the old
        histogram is not emitted."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()

        app.test_client().get("/users/42")

        points = metric_points()
        [point] = points["http.server.request.duration"]
        assert dict(point.attributes) == {
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "http.route": "/users/<int:user_id>",
            "network.protocol.version": "1.1",
            "url.scheme": "http",
        }
        assert "http.server.duration" not in points
        _, metric = _metrics_by_name(metric_reader)["http.server.request.duration"]
        assert metric.unit == "s"

    def test_stable_duration_of_an_error_has_error_type(
        self, app, instrument, metric_points, monkeypatch
    ):
        """A 500 from an unhandled exception is recorded with ``error.type="500"``."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()

        app.test_client().get("/boom")

        [point] = metric_points()["http.server.request.duration"]
        assert point.attributes["error.type"] == "500"
        assert point.attributes["http.route"] == "/boom"

    def test_dup_records_both_histograms(self, app, instrument, metric_points, monkeypatch):
        """With ``http/dup`` both histograms get the request, each with its own attributes."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()

        app.test_client().get("/users/42")

        points = metric_points()
        [old] = points["http.server.duration"]
        [new] = points["http.server.request.duration"]
        assert old.attributes["http.target"] == "/users/<int:user_id>"
        assert "http.route" not in old.attributes
        assert new.attributes["http.route"] == "/users/<int:user_id>"
        assert "http.target" not in new.attributes

    def test_every_request_is_measured_once(self, app, instrument, metric_points, span_exporter):
        """Every request is measured once: one histogram count per request, whatever its status."""
        instrument()
        client = app.test_client()

        for path in ("/users/1", "/missing", "/boom", "/unavailable"):
            client.get(path)

        counts = {
            point.attributes["http.status_code"]: point.count
            for point in metric_points()["http.server.duration"]
        }
        assert counts == {200: 1, 404: 1, 500: 1, 503: 1}
        assert len(span_exporter.get_finished_spans()) == 4

    def test_duration_exemplar_points_to_the_span(
        self, app, instrument, metric_points, span_exporter
    ):
        """The duration is recorded in the span's context, so its exemplar links to the span."""
        instrument()

        app.test_client().get("/users/1")

        span = span_exporter.get_finished_spans()[0]
        [point] = metric_points()["http.server.duration"]
        assert [(e.trace_id, e.span_id) for e in point.exemplars] == [
            (span.context.trace_id, span.context.span_id)
        ]


class TestActiveRequests:
    def test_counts_the_request_while_it_runs(
        self, app, instrument, metric_points, active_requests
    ):
        """``http.server.active_requests`` is 1 inside the view, with the bounded old attribute
        set, and back to 0 afterwards."""
        seen: list[tuple[int, dict[str, Any]]] = []

        @app.route("/probe/<int:probe_id>")
        def probe(probe_id: int) -> str:
            seen.extend(
                (point.value, dict(point.attributes))
                for point in metric_points()["http.server.active_requests"]
            )
            return "ok"

        instrument()

        app.test_client().get("/probe/1")

        assert seen == [
            (
                1,
                {
                    "http.method": "GET",
                    "http.host": "localhost",
                    "http.scheme": "http",
                    "http.flavor": "1.1",
                    "http.server_name": "localhost",
                },
            )
        ]
        assert active_requests() == 0

    def test_back_to_zero_after_errors(self, app, instrument, active_requests):
        """Failed and not-found requests are not left active."""
        instrument()
        client = app.test_client()

        client.get("/boom")
        client.get("/missing")
        client.get("/unavailable")

        assert active_requests() == 0

    def test_stable_attributes(self, app, instrument, metric_points, monkeypatch):
        """In stable mode the counter carries ``http.request.method`` and ``url.scheme``."""
        seen: list[dict[str, Any]] = []

        @app.route("/probe")
        def probe() -> str:
            seen.extend(dict(p.attributes) for p in metric_points()["http.server.active_requests"])
            return "ok"

        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()

        app.test_client().get("/probe")

        assert seen == [{"http.request.method": "GET", "url.scheme": "http"}]


class TestExcludedRequests:
    def test_excluded_requests_are_not_counted_at_all(self, app, instrument, metric_points):
        """An excluded URL records no duration and never touches the active counter."""
        instrument(excluded_urls="health")

        assert app.test_client().get("/health").status_code == 200

        assert metric_points() == {}

    def test_no_metrics_and_no_current_span_for_excluded(self, app, instrument, metric_points):
        """Inside an excluded request no span is current."""
        seen: list[bool] = []

        @app.route("/health/deep")
        def deep() -> str:
            seen.append(trace.get_current_span().get_span_context().is_valid)
            return "ok"

        instrument(excluded_urls="health")

        app.test_client().get("/health/deep")

        assert seen == [False]
        assert metric_points() == {}


class TestHostileHosts:
    def test_distinct_hosts_keep_the_metric_sets_bounded(self, app, instrument, metric_points):
        """Requests with ever new ``Host`` headers (issue 14, item 10, through Flask): the
        duration and active-request sets hold the first ``METRIC_HOSTS_KEPT`` hosts and one
        ``_OTHER`` set; the spans keep every host."""
        from instrumentarium.util.http import METRIC_HOSTS_KEPT, OTHER_HOST

        instrument()
        client = app.test_client()
        for i in range(METRIC_HOSTS_KEPT + 200):
            client.get("/users/1", headers={"Host": f"h{i}.example"})
        points = metric_points()
        for name in ("http.server.duration", "http.server.active_requests"):
            hosts = [point.attributes["http.host"] for point in points[name]]
            assert len(hosts) == METRIC_HOSTS_KEPT + 1, name
            assert OTHER_HOST in hosts
            assert "h0.example" in hosts
