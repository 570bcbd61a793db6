"""The HTTP server metrics of Pyramid requests, in each semconv mode."""

from __future__ import annotations

import pytest


@pytest.fixture
def app(make_app):
    return make_app()


def test_old_mode_records_duration_in_ms(app, instrument, client, metric_points, active_requests):
    """Default mode: ``http.server.duration`` with the old bounded attributes (the route as
    ``http.target``, as the core records it for every framework; never the raw path),
    ``http.server.active_requests`` back to 0 once the request ended."""
    instrument()
    c = client(app)
    c.get("/hello/bob")
    c.get("/hello/alice")
    [point] = metric_points()["http.server.duration"]
    assert point.count == 2
    attrs = dict(point.attributes)
    assert attrs["http.method"] == "GET"
    assert attrs["http.status_code"] == 200
    assert attrs["http.target"] == "/hello/{name}"
    assert "http.url" not in attrs
    assert "http.server.request.duration" not in metric_points()
    assert active_requests() == 0


def test_new_mode_records_duration_in_seconds_with_route(
    monkeypatch, app, instrument, client, metric_points
):
    """``http`` mode: ``http.server.request.duration`` with ``http.route`` and, for a 5xx,
    ``error.type``."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    instrument()
    c = client(app)
    c.get("/hello/bob")
    c.get("/unavailable", status=503)
    points = {
        p.attributes["http.response.status_code"]: p
        for p in metric_points()["http.server.request.duration"]
    }
    assert points[200].attributes["http.route"] == "/hello/{name}"
    assert points[503].attributes["error.type"] == "503"
    assert "http.server.duration" not in metric_points()


def test_dup_mode_records_both(monkeypatch, app, instrument, client, metric_points):
    """``http/dup``: both duration histograms."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
    instrument()
    client(app).get("/hello/bob")
    points = metric_points()
    assert points["http.server.duration"][0].count == 1
    assert points["http.server.request.duration"][0].count == 1


def test_unhandled_exception_is_counted_as_500(
    monkeypatch, app, instrument, client, metric_points, active_requests
):
    """A request whose exception reaches the server is recorded with status 500 and its
    exception's class, and is no longer active."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    instrument()
    with pytest.raises(ValueError):
        client(app).get("/boom")
    [point] = metric_points()["http.server.request.duration"]
    assert point.attributes["http.response.status_code"] == 500
    assert point.attributes["error.type"] == "ValueError"
    assert active_requests() == 0
