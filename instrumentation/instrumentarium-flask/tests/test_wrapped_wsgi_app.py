"""Apps whose ``wsgi_app`` was wrapped by a middleware before ``instrument()``.

``app.wsgi_app = ProxyFix(app.wsgi_app)`` captures the bound, unpatched ``Flask.wsgi_app``; only
``Flask.full_dispatch_request`` (looked up per request) still reaches the instrumentation, which
then starts and ends the request on its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from werkzeug.middleware.proxy_fix import ProxyFix


@pytest.fixture
def app(make_app):
    app = make_app()
    app.wsgi_app = ProxyFix(app.wsgi_app)  # type: ignore[method-assign]
    return app


class TestMiddlewareCapturedBeforeInstrument:
    def test_one_span_per_request_with_the_route(
        self, app, instrument, span_exporter, metric_points, active_requests
    ):
        """Each request still gets exactly one ended SERVER span named by its route, and its
        duration is recorded."""
        instrument()
        client = app.test_client()

        for user_id in (1, 2):
            response = client.get(f"/users/{user_id}", buffered=True)
            assert response.status_code == 200

        spans = span_exporter.get_finished_spans()
        assert [span.name for span in spans] == ["GET /users/<int:user_id>"] * 2
        assert all(span.kind is SpanKind.SERVER for span in spans)
        assert all(span.attributes["http.status_code"] == 200 for span in spans)
        [duration] = metric_points()["http.server.duration"]
        assert duration.count == 2
        assert duration.attributes["http.target"] == "/users/<int:user_id>"
        assert active_requests() == 0

    def test_middleware_still_applies(self, app, instrument, span_exporter):
        """The middleware keeps doing its job: ``X-Forwarded-Proto`` reaches the span's scheme."""
        instrument()

        app.test_client().get("/users/1", headers={"X-Forwarded-Proto": "https"}, buffered=True)

        [span] = span_exporter.get_finished_spans()
        assert span.attributes["http.route"] == "/users/<int:user_id>"
        assert span.attributes["http.scheme"] == "https"

    def test_response_hook_runs(self, app, instrument, span_exporter):
        """The response hook gets the status and headers on this path too."""
        statuses: list[str] = []

        def response_hook(span: Any, status: str, headers: list[tuple[str, str]]) -> None:
            statuses.append(status)

        instrument(response_hook=response_hook)

        app.test_client().post("/items", buffered=True)

        assert statuses == ["201 CREATED"]
        assert len(span_exporter.get_finished_spans()) == 1

    def test_unhandled_exception_records_the_500(
        self, app, instrument, span_exporter, metric_points
    ):
        """A view that raises is answered with a 500: the span is ERROR with one exception event
        and carries that 500, like a request on the normal path."""
        instrument()

        assert app.test_client().get("/boom", buffered=True).status_code == 500

        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /boom"
        assert span.status.status_code is StatusCode.ERROR
        assert [event.name for event in span.events] == ["exception"]
        assert span.attributes.get("http.status_code") == 500
        [duration] = metric_points()["http.server.duration"]
        assert duration.attributes.get("http.status_code") == 500

    def test_no_span_after_uninstrument(self, app, instrument, instrumentor, span_exporter):
        """``uninstrument()`` also stops this path."""
        instrument()
        instrumentor.uninstrument()

        assert app.test_client().get("/users/1", buffered=True).status_code == 200

        assert span_exporter.get_finished_spans() == ()
