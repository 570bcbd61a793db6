"""The span of a Falcon request: name, kind, attributes in each semconv mode, status rules,
exceptions, hooks, traced request attributes, context, exclusion, header capture and
redaction (in process, ``falcon.testing``), for a WSGI and an ASGI app alike (``flavor``)."""

from __future__ import annotations

import logging

import falcon
import falcon.asgi
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture
def make_app(flavor):
    return flavor.app


@pytest.fixture
def client(flavor):
    return flavor.client


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def new_mode(monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


def only_span(span_exporter):
    [span] = span_exporter.get_finished_spans()
    return span


class TestNameAndAttributes:
    def test_route_names_the_span_by_method_and_uri_template(
        self, app, instrument, client, span_exporter
    ):
        """A routed request gives ``"GET /users/{user_id:int}"``, a SERVER span with
        ``http.route``, ``falcon.resource`` and the old WSGI attributes (default mode)."""
        instrument()
        result = client(app).simulate_get("/users/42", query_string="q=1")
        assert result.text == "user 42"
        span = only_span(span_exporter)
        assert span.name == "GET /users/{user_id:int}"
        assert span.kind is SpanKind.SERVER
        attrs = dict(span.attributes)
        assert attrs["http.route"] == "/users/{user_id:int}"
        assert attrs["falcon.resource"] == "User"
        assert attrs["http.method"] == "GET"
        # http.target: falcon.testing's RAW_URI varies by version; see the real server's test
        assert attrs["http.status_code"] == 200
        assert "http.request.method" not in attrs
        assert span.status.status_code is StatusCode.UNSET

    def test_no_route_gives_the_method_alone(self, app, instrument, client, span_exporter):
        """A 404 without a route is named by its method, never by its raw path; no
        ``http.route``, no ``falcon.resource``; not a server error."""
        instrument()
        assert client(app).simulate_get("/no/such/123").status_code == 404
        span = only_span(span_exporter)
        assert span.name == "GET"
        assert "http.route" not in span.attributes
        assert "falcon.resource" not in span.attributes
        assert span.attributes["http.status_code"] == 404
        assert span.status.status_code is StatusCode.UNSET

    def test_new_mode_has_the_stable_names_only(
        self, new_mode, app, instrument, client, span_exporter
    ):
        """``OTEL_SEMCONV_STABILITY_OPT_IN=http``: the stable names and none of the old."""
        instrument()
        client(app).simulate_post("/items", query_string="x=1")
        attrs = dict(only_span(span_exporter).attributes)
        assert attrs["http.request.method"] == "POST"
        assert attrs["http.response.status_code"] == 201
        assert attrs["url.path"] == "/items"
        assert attrs["url.query"] == "x=1"
        assert attrs["http.route"] == "/items"
        assert "http.method" not in attrs
        assert "http.target" not in attrs

    def test_dup_mode_has_both(self, monkeypatch, app, instrument, client, span_exporter):
        """``http/dup``: the old and the stable names are both on the span."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        client(app).simulate_get("/users/1")
        attrs = dict(only_span(span_exporter).attributes)
        assert attrs["http.method"] == attrs["http.request.method"] == "GET"
        assert attrs["http.status_code"] == attrs["http.response.status_code"] == 200

    def test_sensitive_query_values_are_redacted(
        self, monkeypatch, app, instrument, client, span_exporter
    ):
        """A signature in the query never reaches ``url.query`` (``http.target``: see the real
        server's test)."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        client(app).simulate_get("/users/1", query_string="sig=secret&x=1")
        attrs = dict(only_span(span_exporter).attributes)
        for name in ("url.query",):
            assert "secret" not in str(attrs[name]), name
            assert "sig=REDACTED" in str(attrs[name]), name


class TestStatusAndExceptions:
    def test_http_error_4xx_is_not_a_server_error(
        self, new_mode, app, instrument, client, span_exporter
    ):
        """``HTTPNotFound`` raised by a responder: 404, UNSET, no exception event, no
        ``error.type`` (a 4xx is the client's)."""
        instrument()
        assert client(app).simulate_get("/missing").status_code == 404
        span = only_span(span_exporter)
        assert span.name == "GET /missing"
        assert span.attributes["http.response.status_code"] == 404
        assert span.status.status_code is StatusCode.UNSET
        assert span.events == ()
        assert "error.type" not in span.attributes

    def test_http_error_5xx_is_an_error_by_its_status(
        self, new_mode, app, instrument, client, span_exporter
    ):
        """``HTTPServiceUnavailable`` raised: 503, ERROR, ``error.type`` ``"503"``; the status
        is the whole story (no exception event)."""
        instrument()
        assert client(app).simulate_get("/unavailable").status_code == 503
        span = only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "503"
        assert span.events == ()

    def test_exception_turned_into_500_is_recorded(
        self, new_mode, app, instrument, client, span_exporter
    ):
        """A ``ValueError`` Falcon answers with its default 500: ERROR described by the
        exception, one exception event, ``error.type`` ``"500"``."""
        instrument()
        assert client(app).simulate_get("/boom").status_code == 500
        span = only_span(span_exporter)
        assert span.attributes["http.response.status_code"] == 500
        assert span.attributes["error.type"] == "500"
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: bad"
        assert [e.name for e in span.events] == ["exception"]

    def test_exception_a_handler_answers_with_4xx_is_an_event_only(
        self, flavor, app, instrument, client, span_exporter
    ):
        """An error handler that answers a ``ValueError`` with 400: the exception is an event,
        the span is not an error."""

        def handler(req, resp, ex, params):
            resp.status = falcon.HTTP_400

        app.add_error_handler(ValueError, flavor.error_handler(handler))
        instrument()
        assert client(app).simulate_get("/boom").status_code == 400
        span = only_span(span_exporter)
        assert span.status.status_code is StatusCode.UNSET
        assert [e.name for e in span.events] == ["exception"]

    def test_exception_that_escapes_falcon_propagates_and_is_recorded(
        self, flavor, new_mode, app, instrument, client, span_exporter
    ):
        """An error handler that re-raises: the exception reaches the caller unchanged and the
        span records it with ``error.type`` its class."""

        def reraise(req, resp, ex, params):
            raise ex

        app.add_error_handler(ValueError, flavor.error_handler(reraise))
        instrument()
        with pytest.raises(ValueError, match="bad"):
            client(app).simulate_get("/boom")
        span = only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "ValueError"


class TestHooks:
    def test_hooks_get_the_span_and_falcons_objects(
        self, flavor, app, instrument, client, span_exporter
    ):
        """``request_hook(span, req)`` and ``response_hook(span, req, resp)`` get the request's
        span and Falcon's own request and response objects."""
        seen = []

        def request_hook(span, req):
            seen.append(("request", span.get_span_context().span_id, type(req)))
            span.set_attribute("custom.path", req.path)

        def response_hook(span, req, resp):
            seen.append(("response", span.get_span_context().span_id, type(resp)))
            span.set_attribute("custom.status", resp.status)

        instrument(request_hook=request_hook, response_hook=response_hook)
        client(app).simulate_get("/users/3")
        span = only_span(span_exporter)
        span_id = span.context.span_id
        side = falcon.asgi if flavor.asgi else falcon
        assert seen == [
            ("request", span_id, side.Request),
            ("response", span_id, side.Response),
        ]
        assert span.attributes["custom.path"] == "/users/3"
        assert span.attributes["custom.status"] in ("200 OK", 200)

    def test_request_hook_runs_when_middleware_answers(
        self, flavor, make_app, instrument, client, span_exporter
    ):
        """A middleware that answers before routing: both hooks still run, the span is
        named by the method."""

        def deny(req, resp):
            resp.status = falcon.HTTP_401
            resp.complete = True

        calls = []
        app = make_app(middleware=[flavor.middleware(deny)])
        instrument(
            request_hook=lambda span, req: calls.append("request"),
            response_hook=lambda span, req, resp: calls.append("response"),
        )
        assert client(app).simulate_get("/users/1").status_code == 401
        assert calls == ["request", "response"]
        assert only_span(span_exporter).name == "GET"

    def test_hooks_that_raise_are_logged_and_the_request_goes_on(
        self, app, instrument, client, span_exporter, caplog
    ):
        """A hook that raises is logged; the response and the span are unaffected."""
        caplog.set_level(logging.WARNING, logger="instrumentarium")

        def broken(*args):
            raise RuntimeError("hook bug")

        instrument(request_hook=broken, response_hook=broken)
        result = client(app).simulate_get("/users/5")
        assert (result.status_code, result.text) == (200, "user 5")
        assert only_span(span_exporter).name == "GET /users/{user_id:int}"
        assert any("hook" in record.getMessage() for record in caplog.records)


class TestTracedRequestAttributes:
    def test_env_as_the_guide_writes_it(self, monkeypatch, app, instrument, client, span_exporter):
        """``OTEL_PYTHON_FALCON_TRACED_REQUEST_ATTRS='query_string,uri_template'``: both are
        recorded as text, ``uri_template`` included (it is known once routed)."""
        monkeypatch.setenv("OTEL_PYTHON_FALCON_TRACED_REQUEST_ATTRS", "query_string,uri_template")
        instrument()
        client(app).simulate_get("/users/9", query_string="a=1")
        attrs = dict(only_span(span_exporter).attributes)
        assert attrs["query_string"] == "a=1"
        assert attrs["uri_template"] == "/users/{user_id:int}"

    def test_keyword_wins_and_missing_values_are_skipped(
        self, monkeypatch, app, instrument, client, span_exporter
    ):
        """The keyword wins over the environment; a None value (no route) is not recorded."""
        monkeypatch.setenv("OTEL_PYTHON_FALCON_TRACED_REQUEST_ATTRS", "query_string")
        instrument(traced_request_attributes=["uri_template", "no_such_attribute"])
        client(app).simulate_get("/nowhere", query_string="a=1")
        attrs = dict(only_span(span_exporter).attributes)
        assert "query_string" not in attrs
        assert "uri_template" not in attrs
        assert "no_such_attribute" not in attrs


class TestContext:
    def test_parent_is_extracted_from_traceparent(self, app, instrument, client, span_exporter):
        """The span continues the trace of the ``traceparent`` header."""
        instrument()
        client(app).simulate_get(
            "/users/1", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"}
        )
        span = only_span(span_exporter)
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID

    def test_span_is_current_in_the_responder(self, flavor, app, instrument, client, span_exporter):
        """The responder runs with the request's span current."""
        seen = []

        def probe(req, resp):
            seen.append(trace.get_current_span().get_span_context().span_id)

        app.add_route("/probe", flavor.resource(probe))
        instrument()
        client(app).simulate_get("/probe")
        assert seen == [only_span(span_exporter).context.span_id]


class TestExcludedUrls:
    def test_env_excludes_on_the_path(
        self, monkeypatch, app, instrument, client, span_exporter, metric_points
    ):
        """``OTEL_PYTHON_FALCON_EXCLUDED_URLS`` is searched in ``PATH_INFO`` (as upstream):
        an anchored path pattern matches; an excluded request has no span and no metric."""
        monkeypatch.setenv("OTEL_PYTHON_FALCON_EXCLUDED_URLS", "^/health$")
        instrument()
        c = client(app)
        c.simulate_get("/health")
        assert span_exporter.get_finished_spans() == ()
        assert "http.server.duration" not in metric_points()
        c.simulate_get("/users/1")
        assert len(span_exporter.get_finished_spans()) == 1

    def test_generic_env_is_the_fallback(self, monkeypatch, app, instrument, client, span_exporter):
        """``OTEL_PYTHON_EXCLUDED_URLS`` applies when the Falcon variable is unset."""
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "health")
        instrument()
        client(app).simulate_get("/health")
        assert span_exporter.get_finished_spans() == ()


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
        client(app).simulate_get("/users/1", headers={"X-Custom": "a", "X-Secret": "hush"})
        attrs = dict(only_span(span_exporter).attributes)
        assert attrs["http.request.header.x_custom"] == ("a",)
        assert attrs["http.request.header.x_secret"] == ("[REDACTED]",)
        assert "http.response.header.content_type" in attrs
