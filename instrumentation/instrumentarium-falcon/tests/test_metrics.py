"""The HTTP server metrics of Falcon requests, in each semconv mode, for a WSGI and an ASGI app
alike (``flavor``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def client(flavor):
    return flavor.client


@pytest.fixture
def app(flavor):
    return flavor.app()


def test_old_mode_records_duration_in_ms(app, instrument, client, metric_points, active_requests):
    """Default mode: ``http.server.duration`` with the old bounded attributes (the route as
    ``http.target``, as the core records it for every framework; never the raw path),
    ``http.server.active_requests`` back to 0 once the request ended."""
    instrument()
    c = client(app)
    c.simulate_get("/users/1")
    c.simulate_get("/users/2")
    [point] = metric_points()["http.server.duration"]
    assert point.count == 2
    attrs = dict(point.attributes)
    assert attrs["http.method"] == "GET"
    assert attrs["http.status_code"] == 200
    assert attrs["http.target"] == "/users/{user_id:int}"
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
    c.simulate_get("/users/1")
    c.simulate_get("/unavailable")
    points = {
        p.attributes["http.response.status_code"]: p
        for p in metric_points()["http.server.request.duration"]
    }
    assert points[200].attributes["http.route"] == "/users/{user_id:int}"
    assert points[503].attributes["error.type"] == "503"
    assert "http.server.duration" not in metric_points()


def test_dup_mode_records_both(monkeypatch, app, instrument, client, metric_points):
    """``http/dup``: both duration histograms."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
    instrument()
    client(app).simulate_get("/users/1")
    points = metric_points()
    assert points["http.server.duration"][0].count == 1
    assert points["http.server.request.duration"][0].count == 1


def test_escaping_exception_is_counted_with_its_class(
    flavor, monkeypatch, app, instrument, client, metric_points, active_requests
):
    """A request whose exception reaches the server is recorded with its
    exception's class, and is no longer active."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

    def reraise(req, resp, ex, params):
        raise ex

    app.add_error_handler(ValueError, flavor.error_handler(reraise))
    instrument()
    with pytest.raises(ValueError):
        client(app).simulate_get("/boom")
    [point] = metric_points()["http.server.request.duration"]
    assert point.attributes["error.type"] == "ValueError"
    assert active_requests() == 0
