"""The span of a Pyramid request: name, kind, attributes in each semconv mode, status rules,
exceptions, context, exclusion, header capture and redaction (in process, WebTest)."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from pyramid.config import Configurator
from pyramid.response import Response

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def new_mode(monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


@pytest.fixture
def dup_mode(monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")


def only_span(span_exporter):
    [span] = span_exporter.get_finished_spans()
    return span


class TestNameAndAttributes:
    def test_matched_route_names_the_span_by_method_and_pattern(
        self, app, instrument, client, span_exporter
    ):
        """A matched route gives ``"GET /hello/{name}"``, a SERVER span with ``http.route`` and
        the old WSGI attributes (the default mode), plus upstream's full ``http.url``."""
        instrument()
        client(app).get("/hello/bob?x=1", headers={"User-Agent": "tests/1.0"})
        span = only_span(span_exporter)
        assert span.name == "GET /hello/{name}"
        assert span.kind is SpanKind.SERVER
        attrs = dict(span.attributes)
        assert attrs["http.route"] == "/hello/{name}"
        assert attrs["http.method"] == "GET"
        assert attrs["http.status_code"] == 200
        assert attrs["http.url"] == "http://localhost:80/hello/bob?x=1"
        assert attrs["http.user_agent"] == "tests/1.0"
        assert attrs["http.scheme"] == "http"
        assert "http.request.method" not in attrs
        assert span.status.status_code is StatusCode.UNSET

    def test_no_route_gives_the_method_alone(self, app, instrument, client, span_exporter):
        """A 404 (no route matched) is named by its method, never by its raw path, and has
        no ``http.route``; a 4xx is not a server error."""
        instrument()
        client(app).get("/no/such/page/123", status=404)
        span = only_span(span_exporter)
        assert span.name == "GET"
        assert "http.route" not in span.attributes
        assert span.attributes["http.status_code"] == 404
        assert span.status.status_code is StatusCode.UNSET

    def test_traversal_app_is_named_by_method(self, instrument, client, span_exporter):
        """A traversal app (no routes) gets a bounded name, never one per resource path."""
        config = Configurator()
        config.add_view(lambda request: Response("root"), name="")
        config.add_view(lambda request: Response("leaf"), name="leaf")
        app = config.make_wsgi_app()
        instrument()
        client(app).get("/leaf")
        assert only_span(span_exporter).name == "GET"

    def test_new_mode_has_the_stable_names_only(
        self, new_mode, app, instrument, client, span_exporter
    ):
        """With ``OTEL_SEMCONV_STABILITY_OPT_IN=http`` the stable names, ``url.full``
        included (as upstream), and none of the old ones."""
        instrument()
        client(app).get("/hello/bob?x=1")
        attrs = dict(only_span(span_exporter).attributes)
        assert attrs["http.request.method"] == "GET"
        assert attrs["http.response.status_code"] == 200
        assert attrs["url.path"] == "/hello/bob"
        assert attrs["url.query"] == "x=1"
        assert attrs["url.scheme"] == "http"
        assert attrs["url.full"] == "http://localhost:80/hello/bob?x=1"
        assert attrs["http.route"] == "/hello/{name}"
        assert "http.method" not in attrs
        assert "http.url" not in attrs

    def test_dup_mode_has_both(self, dup_mode, app, instrument, client, span_exporter):
        """With ``http/dup`` the old and the stable names are both on the span."""
        instrument()
        client(app).get("/hello/bob")
        attrs = dict(only_span(span_exporter).attributes)
        assert attrs["http.method"] == attrs["http.request.method"] == "GET"
        assert attrs["http.status_code"] == attrs["http.response.status_code"] == 200
        assert attrs["http.url"] == attrs["url.full"]

    def test_url_credentials_and_signatures_are_redacted(
        self, dup_mode, app, instrument, client, span_exporter
    ):
        """A sensitive query value never reaches ``http.url``, ``url.full`` or ``url.query``."""
        instrument()
        client(app).get("/hello/bob?Signature=secret&x=1")
        attrs = dict(only_span(span_exporter).attributes)
        for name in ("http.url", "url.full", "url.query"):
            assert "secret" not in str(attrs[name]), name
            assert "Signature=REDACTED" in str(attrs[name]), name


class TestStatusAndExceptions:
    def test_raised_redirect_is_not_an_error(self, app, instrument, client, span_exporter):
        """``HTTPFound`` raised by a view: 302, status UNSET, no exception event."""
        instrument()
        client(app).get("/redirect", status=302)
        span = only_span(span_exporter)
        assert span.attributes["http.status_code"] == 302
        assert span.status.status_code is StatusCode.UNSET
        assert span.events == ()

    def test_raised_http_500_is_recorded(self, new_mode, app, instrument, client, span_exporter):
        """``HTTPInternalServerError`` raised and rendered by the exception view: 500, ERROR
        described by the exception, one exception event, ``error.type`` ``"500"``."""
        instrument()
        client(app).get("/internal", status=500)
        span = only_span(span_exporter)
        assert span.attributes["http.response.status_code"] == 500
        assert span.attributes["error.type"] == "500"
        assert span.status.status_code is StatusCode.ERROR
        assert "HTTPInternalServerError" in span.status.description
        assert [e.name for e in span.events] == ["exception"]
        assert span.events[0].attributes["exception.type"].endswith("HTTPInternalServerError")

    def test_unhandled_exception_propagates_and_is_recorded_as_500(
        self, new_mode, app, instrument, client, span_exporter
    ):
        """An exception no exception view handles reaches the server unchanged; the span has
        status 500, ERROR, the exception event and ``error.type`` the exception's class."""
        instrument()
        with pytest.raises(ValueError, match="bad"):
            client(app).get("/boom")
        span = only_span(span_exporter)
        assert span.name == "GET /boom"
        assert span.attributes["http.response.status_code"] == 500
        assert span.attributes["error.type"] == "ValueError"
        assert span.status.status_code is StatusCode.ERROR
        assert "bad" in span.status.description
        assert [e.name for e in span.events] == ["exception"]

    def test_returned_5xx_is_an_error_without_event(
        self, new_mode, app, instrument, client, span_exporter
    ):
        """A view that returns a 503: ERROR with no description, no event, ``error.type``
        the code."""
        instrument()
        client(app).get("/unavailable", status=503)
        span = only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None
        assert span.events == ()
        assert span.attributes["error.type"] == "503"


class TestContext:
    def test_parent_is_extracted_from_traceparent(self, app, instrument, client, span_exporter):
        """The span continues the trace of the ``traceparent`` header."""
        instrument()
        client(app).get("/hello/bob", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"})
        span = only_span(span_exporter)
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID

    def test_span_is_current_in_the_view(self, make_config, instrument, client, span_exporter):
        """The view runs with the request's span current (so its children nest under it)."""
        seen = []

        def view(request):
            seen.append(trace.get_current_span().get_span_context().span_id)
            return Response("ok")

        config = make_config()
        config.add_route("seen", "/seen")
        config.add_view(view, route_name="seen")
        app = config.make_wsgi_app()
        instrument()
        client(app).get("/seen")
        assert seen == [only_span(span_exporter).context.span_id]

    def test_under_an_active_span_it_is_internal(
        self, app, instrument, client, span_exporter, tracer_provider
    ):
        """Called under an active span (an app inside another traced app), the span is
        INTERNAL and a child of it, as upstream's."""
        instrument()
        with tracer_provider.get_tracer("test").start_as_current_span("outer"):
            client(app).get("/hello/bob")
        inner, outer = span_exporter.get_finished_spans()
        assert inner.kind is SpanKind.INTERNAL
        assert inner.parent.span_id == outer.context.span_id


class TestExcludedUrls:
    def test_env_excludes_on_the_full_url_with_query(
        self, monkeypatch, app, instrument, client, span_exporter, metric_points
    ):
        """``OTEL_PYTHON_PYRAMID_EXCLUDED_URLS`` is searched in the full URL, query
        included; an excluded request has no span and no metric."""
        monkeypatch.setenv("OTEL_PYTHON_PYRAMID_EXCLUDED_URLS", "health,probe=1")
        instrument()
        c = client(app)
        c.get("/health")
        c.get("/hello/bob?probe=1")
        assert span_exporter.get_finished_spans() == ()
        assert "http.server.duration" not in metric_points()
        c.get("/hello/bob")
        assert len(span_exporter.get_finished_spans()) == 1

    def test_generic_env_is_the_fallback(self, monkeypatch, app, instrument, client, span_exporter):
        """``OTEL_PYTHON_EXCLUDED_URLS`` applies when the Pyramid variable is unset."""
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "hello/bob")
        instrument()
        client(app).get("/hello/bob")
        assert span_exporter.get_finished_spans() == ()

    def test_keyword_wins_over_env(self, monkeypatch, app, instrument, client, span_exporter):
        """The ``excluded_urls`` keyword wins over the environment."""
        monkeypatch.setenv("OTEL_PYTHON_PYRAMID_EXCLUDED_URLS", "hello")
        instrument(excluded_urls="health")
        c = client(app)
        c.get("/health")
        c.get("/hello/bob")
        assert [s.name for s in span_exporter.get_finished_spans()] == ["GET /hello/{name}"]


class TestHeaderCapture:
    def test_request_and_response_headers_are_captured_and_sanitized(
        self, monkeypatch, app, instrument, client, span_exporter
    ):
        """The capture variables record the named headers; sanitized ones are redacted."""
        monkeypatch.setenv(
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "x-custom,x-secret"
        )
        monkeypatch.setenv(
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "content-type"
        )
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "x-secret")
        instrument()
        client(app).get("/hello/bob", headers={"X-Custom": "a", "X-Secret": "hush"})
        attrs = dict(only_span(span_exporter).attributes)
        assert attrs["http.request.header.x_custom"] == ("a",)
        assert attrs["http.request.header.x_secret"] == ("[REDACTED]",)
        assert attrs["http.response.header.content_type"] == ("text/html; charset=UTF-8",)


class TestStreaming:
    def test_streamed_body_ends_the_span_when_closed(self, app, instrument, client, span_exporter):
        """A body produced while it is sent (an ``app_iter`` generator) is timed to its end:
        the span ends once the server has read and closed it."""
        instrument()
        response = client(app).get("/stream")
        assert response.body == b"one;two"
        span = only_span(span_exporter)
        assert span.name == "GET /stream"
        assert span.attributes["http.status_code"] == 200
