"""The server span through Django's test clients: name, kind, attributes, status, context."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.conf import settings
from django.core.signals import got_request_exception
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from instrumentarium.wsgi import OpenTelemetryMiddleware

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


class TestSpanName:
    @pytest.mark.parametrize(
        ("path", "name"),
        [
            ("/user/5/", "GET user/<int:uid>/"),
            ("/re/abc/", r"GET ^re/(?P<code>[a-z]+)/$"),
            ("/api/items/3/", "GET api/items/<int:uid>/"),
        ],
    )
    def test_named_by_the_route_pattern(self, instrument, client, finished, path, name):
        """The span is named "{METHOD} {route}" with Django's pattern string, no leading slash."""
        instrument()
        assert client().get(path).status_code == 200
        [span] = finished()
        assert span.name == name
        assert span.attributes["http.route"] == name.split(" ", 1)[1]

    def test_named_empty_path_falls_back_to_url_name(self, instrument, client, finished):
        """``path("", ..., name="home")`` has an empty route: the span is named "GET home"."""
        instrument()
        client().get("/")
        [span] = finished()
        assert span.name == "GET home"
        assert "http.route" not in span.attributes

    def test_unmatched_path_is_named_by_the_method(self, instrument, client, finished):
        """A 404 from the resolver names the span by the method alone, never the raw path."""
        instrument()
        assert client().get("/nowhere/42").status_code == 404
        [span] = finished()
        assert span.name == "GET"
        assert "http.route" not in span.attributes
        assert span.status.status_code is StatusCode.UNSET

    def test_unknown_method_is_named_http(self, instrument, client, finished):
        """A method outside the known list is named "HTTP" and recorded as ``_OTHER``."""
        instrument()
        client().generic("FOO", "/user/1/")
        [span] = finished()
        assert span.name == "HTTP"
        assert span.attributes["http.method"] == "_OTHER"
        assert span.attributes["http.route"] == "user/<int:uid>/"


class TestAttributes:
    def test_old_conventions_by_default(self, instrument, client, finished):
        """By default the span has upstream's old attribute names, from ``request.META``."""
        instrument()
        client().get("/user/5/?q=1", HTTP_USER_AGENT="tester/1.0")
        [span] = finished()
        attributes = dict(span.attributes)
        assert span.kind is SpanKind.SERVER
        assert attributes["http.method"] == "GET"
        assert attributes["http.url"] == "http://testserver/user/5/?q=1"
        assert attributes["http.scheme"] == "http"
        assert attributes["http.server_name"] == "testserver"
        assert attributes["net.host.port"] == 80
        assert attributes["http.status_code"] == 200
        assert attributes["http.user_agent"] == "tester/1.0"
        assert attributes["http.flavor"] == "1.1"
        assert attributes["net.peer.ip"] == "127.0.0.1"
        assert "http.request.method" not in attributes

    def test_stable_conventions_on_opt_in(self, instrument, client, finished, monkeypatch):
        """``OTEL_SEMCONV_STABILITY_OPT_IN=http`` gives the stable names only."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        client().get("/user/5/?q=1")
        [span] = finished()
        attributes = dict(span.attributes)
        assert attributes["http.request.method"] == "GET"
        assert attributes["http.response.status_code"] == 200
        assert attributes["url.path"] == "/user/5/"
        assert attributes["url.query"] == "q=1"
        assert attributes["url.scheme"] == "http"
        assert attributes["http.route"] == "user/<int:uid>/"
        assert "http.method" not in attributes

    def test_dup_gives_both(self, instrument, client, finished, monkeypatch):
        """``http/dup`` carries the old and the stable names together."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        client().get("/user/5/")
        [span] = finished()
        assert span.attributes["http.method"] == span.attributes["http.request.method"] == "GET"
        assert span.attributes["http.status_code"] == 200
        assert span.attributes["http.response.status_code"] == 200

    def test_traced_request_attributes_from_env(self, instrument, client, finished, monkeypatch):
        """``OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS`` names request attributes recorded as
        ``name=str(value)``, read when ``instrument()`` runs (not at import)."""
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS", "path_info,content_type,nope")
        instrument()
        client().get("/user/5/", CONTENT_TYPE="application/json")
        [span] = finished()
        assert span.attributes["path_info"] == "/user/5/"
        assert span.attributes["content_type"] == "application/json"
        assert "nope" not in span.attributes

    def test_traced_names_are_also_looked_up_in_asgi_headers(
        self, instrument, async_client, finished, monkeypatch
    ):
        """Under ASGI, as upstream, a traced name is also looked up among the request headers
        as sent (``tenant``); a request attribute still gives its value. (A one-word header:
        older Django test clients send ``X-Tenant`` as ``x_tenant``.)"""
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS", "tenant,path_info,nothing")
        instrument()
        response = asyncio.run(async_client().get("/user/5/", headers={"Tenant": "acme"}))
        assert response.status_code == 200
        [span] = finished()
        assert span.attributes["tenant"] == "acme"
        assert span.attributes["path_info"] == "/user/5/"
        assert "nothing" not in span.attributes

    def test_traced_attribute_that_raises_is_skipped_and_logged_once(
        self, instrument, client, finished, metric_points, instrumentarium_warnings, monkeypatch
    ):
        """A traced attribute whose reading raises (``body`` of a POST over
        ``DATA_UPLOAD_MAX_MEMORY_SIZE``) is left out: the request gets the response it gets
        untraced, has its span with the other attributes, is counted and ended once, and the
        failure is logged at WARNING once for the two requests."""
        from django.test import override_settings

        monkeypatch.setenv("OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS", "body,path_info")
        instrument()
        with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10):
            statuses = [
                client().post("/user/5/", data=b"x" * 100, content_type="text/plain").status_code
                for _ in range(2)
            ]
        assert statuses == [200, 200]
        spans = finished()
        assert [span.name for span in spans] == ["POST user/<int:uid>/"] * 2
        for span in spans:
            assert span.attributes["path_info"] == "/user/5/"
            assert "body" not in span.attributes
        points = metric_points()["http.server.active_requests"]
        assert sum(point.value for point in points) == 0
        assert sum(point.count for point in metric_points()["http.server.duration"]) == 2
        warnings = [r.getMessage() for r in instrumentarium_warnings()]
        assert len(warnings) == 1, warnings
        assert "body" in warnings[0]

    def test_captured_headers(self, instrument, client, finished, monkeypatch):
        """The header-capture variables record request and response headers on the span."""
        prefix = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER"
        monkeypatch.setenv(f"{prefix}_REQUEST", "x-custom")
        monkeypatch.setenv(f"{prefix}_RESPONSE", "content-type")
        instrument()
        client().get("/user/5/", HTTP_X_CUSTOM="abc")
        [span] = finished()
        assert span.attributes["http.request.header.x_custom"] == ("abc",)
        assert span.attributes["http.response.header.content_type"] == ("text/html; charset=utf-8",)


class TestStatus:
    def test_view_exception_is_recorded_and_rendered_500(
        self, instrument, client, finished, monkeypatch
    ):
        """A view that raises: one ``exception`` event, ERROR "ValueError: boom", status 500 and
        ``error.type="500"`` in stable mode, as upstream."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        response = client(raise_request_exception=False).get("/boom/")
        assert response.status_code == 500
        [span] = finished()
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: boom"
        [event] = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"] == "ValueError"
        assert span.attributes["error.type"] == "500"
        assert span.attributes["http.status_code"] == 500
        assert span.name == "GET boom/"

    def test_http404_from_a_view_is_not_an_error(self, instrument, client, finished):
        """``Http404`` raised by a view becomes a 404: the exception is an event, the status
        stays UNSET (server spans leave 4xx unset)."""
        instrument()
        assert client().get("/missing/").status_code == 404
        [span] = finished()
        assert span.status.status_code is StatusCode.UNSET
        assert [event.name for event in span.events] == ["exception"]

    def test_5xx_response_is_an_error_without_event(self, instrument, client, finished):
        """A view that answers 503 gives ERROR with no description and no event."""
        instrument()
        client().get("/unavailable/")
        [span] = finished()
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None
        assert span.events == ()


RAISING = "django_testproject.middleware.RaisingMiddleware"  # sits after ours (inside it)


class TestMiddlewareExceptions:
    """Exceptions raised by a middleware inside ours (placed after it in ``MIDDLEWARE``) never
    reach ``process_exception``; Django renders a 500 for them all the same."""

    @pytest.mark.parametrize(
        ("path", "name", "message"),
        [
            ("/mw-boom-in/", "GET", "raised on the way in"),
            ("/mw-boom-out/", "GET mw-boom-out/", "raised on the way out"),
        ],
        ids=["before-the-view", "after-the-view"],
    )
    def test_inner_middleware_exception_is_recorded_once(
        self, instrument, client, finished, monkeypatch, path, name, message
    ):
        """A middleware after ours raises (before URL resolution, or after the view): the 500
        span is ERROR ``"MiddlewareError: ..."`` with exactly one ``exception`` event, and
        ``error.type`` is ``"500"`` in stable mode, as for a view's exception."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        settings.MIDDLEWARE = [RAISING]
        instrument()
        response = client(raise_request_exception=False).get(path)
        assert response.status_code == 500
        [span] = finished()
        assert span.name == name
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == f"MiddlewareError: {message}"
        [event] = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"].endswith("MiddlewareError")
        assert event.attributes["exception.message"] == message
        assert span.attributes["error.type"] == "500"
        assert span.attributes["http.status_code"] == 500

    def test_inner_middleware_exception_under_the_asgi_handler(
        self, instrument, async_client, finished
    ):
        """The same under ``AsyncClient`` (Django hands the exception to a worker thread to
        render the 500): ERROR and one event."""
        settings.MIDDLEWARE = [RAISING]
        instrument()
        response = asyncio.run(async_client(raise_request_exception=False).get("/mw-boom-in/"))
        assert response.status_code == 500
        [span] = finished()
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "MiddlewareError: raised on the way in"
        assert [event.name for event in span.events] == ["exception"]

    def test_view_exception_is_one_event_although_the_signal_sees_it_too(
        self, instrument, client, finished
    ):
        """A view's exception reaches ``process_exception`` and then Django's signal, with a
        middleware in between: still exactly one ``exception`` event."""
        settings.MIDDLEWARE = [RAISING]
        instrument()
        assert client(raise_request_exception=False).get("/boom/").status_code == 500
        [span] = finished()
        assert span.status.description == "ValueError: boom"
        assert len(span.events) == 1

    def test_exceptions_are_not_recorded_after_uninstrument(
        self, instrumentor, instrument, client, finished
    ):
        """``uninstrument()`` disconnects the signal receiver: a later failing request records
        nothing (and fails exactly as without instrumentation)."""
        settings.MIDDLEWARE = [RAISING]
        instrument()
        instrumentor.uninstrument()
        assert not any("instrumentarium" in str(key) for key, *_ in got_request_exception.receivers)
        assert client(raise_request_exception=False).get("/mw-boom-in/").status_code == 500
        assert finished() == []


class TestContext:
    def test_traceparent_is_continued(self, instrument, client, finished):
        """The caller's ``traceparent`` is the server span's parent."""
        instrument()
        client().get("/user/1/", HTTP_TRACEPARENT=TRACEPARENT)
        [span] = finished()
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID
        assert span.parent.is_remote

    def test_span_is_current_in_the_view(self, instrument, client, finished):
        """The view runs with the server span current, so its spans are children."""
        instrument()
        seen = json.loads(client().get("/current/").content)
        [span] = finished()
        assert seen["span_id"] == format(span.context.span_id, "016x")

    def test_internal_under_an_outer_server_span(
        self, instrument, finished, tracer_provider, meter_provider
    ):
        """Under the WSGI middleware, the Django span is an INTERNAL child of its SERVER span."""
        from django.core.handlers.wsgi import WSGIHandler
        from django.test import RequestFactory

        instrument()
        app = OpenTelemetryMiddleware(
            WSGIHandler(), tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        environ = RequestFactory()._base_environ(PATH_INFO="/user/2/", REQUEST_METHOD="GET")
        body = app(environ, lambda status, headers, exc_info=None: None)
        assert b"".join(body) == b"user 2"
        body.close()
        inner, outer = sorted(finished(), key=lambda s: s.kind is SpanKind.SERVER)
        assert outer.kind is SpanKind.SERVER
        assert inner.kind is SpanKind.INTERNAL
        assert inner.parent.span_id == outer.context.span_id
        assert inner.name == "GET user/<int:uid>/"


class TestStreaming:
    def test_streamed_body_is_produced_under_the_span_and_ends_it(
        self, instrument, client, finished
    ):
        """A streamed body is generated with the span current; the span ends when it is done."""
        instrument()
        response = client().get("/stream/")
        assert finished() == []
        chunks = list(response.streaming_content)
        [span] = finished()
        assert chunks[0] == b"one;"
        assert chunks[1].decode() == format(span.context.span_id, "016x")
        assert span.name == "GET stream/"


class TestAsync:
    def test_async_view_under_the_asgi_handler(self, instrument, async_client, finished):
        """Under ``AsyncClient`` (Django's ASGI handler) an async view gets the same SERVER span,
        current in the view, with the route and the caller's context."""
        instrument()

        async def get():
            return await async_client().get("/async/7/", headers={"traceparent": TRACEPARENT})

        response = asyncio.run(get())
        seen = json.loads(response.content)
        [span] = finished()
        assert span.kind is SpanKind.SERVER
        assert span.name == "GET async/<int:uid>/"
        assert span.attributes["http.scheme"] == "http"
        assert span.attributes["http.status_code"] == 200
        assert seen["span_id"] == format(span.context.span_id, "016x")
        assert seen["trace_id"] == TRACE_ID
        assert trace.get_current_span() is trace.INVALID_SPAN

    def test_sync_view_under_the_asgi_handler(self, instrument, async_client, finished):
        """A sync view under ASGI runs in a thread, still under the server span."""
        instrument()
        response = asyncio.run(async_client().get("/current/"))
        [span] = finished()
        assert json.loads(response.content)["span_id"] == format(span.context.span_id, "016x")
        assert span.name == "GET current/"

    def test_async_view_exception(self, instrument, async_client, finished):
        """An async view that raises: one exception event, ERROR, the 500 that Django renders."""
        instrument()
        response = asyncio.run(async_client(raise_request_exception=False).get("/async-boom/"))
        assert response.status_code == 500
        [span] = finished()
        assert span.status.description == "ValueError: async boom"
        assert len(span.events) == 1
