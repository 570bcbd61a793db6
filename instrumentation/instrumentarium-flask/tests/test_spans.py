"""The server span: its name, kind, attributes in each semconv mode, status, and context."""

from __future__ import annotations

from importlib.metadata import version

import flask
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    get_global_response_propagator,
    set_global_response_propagator,
)
from opentelemetry.trace import SpanKind, StatusCode

from instrumentarium.wsgi import OpenTelemetryMiddleware

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


@pytest.fixture
def app(make_app):
    """The shared app, created before ``instrument()`` like most real apps."""
    return make_app()


@pytest.fixture
def stable(monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


@pytest.fixture
def dup(monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")


def _only_span(exporter):
    [span] = exporter.get_finished_spans()
    return span


class TestSpanName:
    def test_named_by_method_and_url_rule(self, app, instrument, span_exporter):
        """A matched request is named ``"{METHOD} {url_rule}"``, never by the raw path."""
        instrument()

        app.test_client().get("/users/42")

        assert _only_span(span_exporter).name == "GET /users/<int:user_id>"

    def test_post_is_named_by_its_method(self, app, instrument, span_exporter):
        """The method in the name is the request's (``POST /items``)."""
        instrument()

        assert app.test_client().post("/items").status_code == 201

        assert _only_span(span_exporter).name == "POST /items"

    def test_route_attribute(self, app, instrument, span_exporter):
        """``http.route`` is the URL rule."""
        instrument()

        app.test_client().get("/users/42")

        assert _only_span(span_exporter).attributes["http.route"] == "/users/<int:user_id>"

    def test_not_found_is_named_by_the_method_alone(self, app, instrument, span_exporter):
        """A 404 is named ``GET`` (the raw path would explode cardinality) and has no route."""
        instrument()

        assert app.test_client().get("/missing/thing-123").status_code == 404

        span = _only_span(span_exporter)
        assert span.name == "GET"
        assert "http.route" not in span.attributes

    def test_method_not_allowed_is_named_by_the_method_alone(self, app, instrument, span_exporter):
        """A 405 (a rule exists but not for this method) is named ``GET`` too."""
        instrument()

        assert app.test_client().get("/items").status_code == 405

        span = _only_span(span_exporter)
        assert span.name == "GET"
        assert "http.route" not in span.attributes

    def test_unknown_method_is_named_http(self, app, instrument, span_exporter):
        """A method outside the known set is folded to ``_OTHER`` and named ``HTTP {rule}``."""
        instrument()

        assert app.test_client().open("/custom", method="FOO").status_code == 200

        span = _only_span(span_exporter)
        assert span.name == "HTTP /custom"
        assert span.attributes["http.method"] == "_OTHER"

    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/users/42"), ("POST", "/items"), ("GET", "/missing/x"), ("FOO", "/custom")],
    )
    def test_get_default_span_name_is_the_spans_name(
        self, app, instrument, span_exporter, method, path
    ):
        """``get_default_span_name()``, upstream's helper, called in a request names it as its
        span is named (the rule, the method alone when none matched, ``HTTP`` when unknown)."""
        from instrumentarium.flask import get_default_span_name

        instrument()
        with app.test_request_context(path, method=method):  # Flask matches the rule here
            named = get_default_span_name()
        app.test_client().open(path, method=method)
        assert named == _only_span(span_exporter).name

    def test_capture_all_methods_keeps_the_method(
        self, app, instrument, span_exporter, monkeypatch
    ):
        """With ``OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS`` the method is kept."""
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS", "true")
        instrument()

        app.test_client().open("/custom", method="FOO")

        span = _only_span(span_exporter)
        assert span.name == "FOO /custom"
        assert span.attributes["http.method"] == "FOO"

    def test_blueprint_route_includes_its_prefix(self, app, instrument, span_exporter):
        """A blueprint route is named by its full rule, prefix included."""
        blueprint = flask.Blueprint("api", __name__, url_prefix="/api/v1")

        @blueprint.route("/orders/<order_id>")
        def order(order_id: str) -> str:
            return order_id

        app.register_blueprint(blueprint)
        instrument()

        app.test_client().get("/api/v1/orders/abc")

        span = _only_span(span_exporter)
        assert span.name == "GET /api/v1/orders/<order_id>"
        assert span.attributes["http.route"] == "/api/v1/orders/<order_id>"

    def test_kind_is_server(self, app, instrument, span_exporter):
        """At the edge of the process the span is a SERVER span with no parent."""
        instrument()

        app.test_client().get("/users/1")

        span = _only_span(span_exporter)
        assert span.kind is SpanKind.SERVER
        assert span.parent is None

    def test_scope_is_instrumentarium_flask(self, app, instrument, span_exporter):
        """Spans carry the ``instrumentarium.flask`` scope with the package version."""
        instrument()

        app.test_client().get("/users/1")

        scope = _only_span(span_exporter).instrumentation_scope
        assert scope.name == "instrumentarium.flask"
        assert scope.version == version("instrumentarium-flask")


class TestAttributes:
    def test_old_conventions_by_default(self, app, instrument, span_exporter):
        """Without opt-in the span carries upstream's attribute set, nothing more."""
        instrument()

        app.test_client().get(
            "/users/42?page=2",
            headers={"User-Agent": "test-agent/1.0"},
            environ_base={"REMOTE_ADDR": "10.1.2.3"},
        )

        assert dict(_only_span(span_exporter).attributes) == {
            "http.method": "GET",
            "http.server_name": "localhost",
            "http.scheme": "http",
            "net.host.name": "localhost",
            "http.host": "localhost",
            "net.host.port": 80,
            "http.target": "/users/42?page=2",
            "net.peer.ip": "10.1.2.3",
            "http.user_agent": "test-agent/1.0",
            "http.flavor": "1.1",
            "http.route": "/users/<int:user_id>",
            "http.status_code": 200,
        }

    def test_sensitive_query_values_are_redacted_in_target(self, app, instrument, span_exporter):
        """``http.target`` keeps the query but not the value of a sensitive parameter."""
        instrument()

        app.test_client().get("/users/42?token=s3cr3t&page=2")

        attributes = _only_span(span_exporter).attributes
        assert attributes["http.target"] == "/users/42?token=REDACTED&page=2"
        assert "s3cr3t" not in str(dict(attributes))

    def test_host_and_port_come_from_the_request(self, app, instrument, span_exporter):
        """``http.host`` / ``net.host.name`` are the Host header, ``net.host.port`` the port."""
        instrument()

        app.test_client().get("/users/1", base_url="https://api.example.com:8443")

        attributes = _only_span(span_exporter).attributes
        assert attributes["http.scheme"] == "https"
        assert attributes["http.host"] == "api.example.com:8443"
        assert attributes["net.host.name"] == "api.example.com:8443"
        assert attributes["net.host.port"] == 8443

    def test_stable_conventions(self, stable, app, instrument, span_exporter):
        """With ``OTEL_SEMCONV_STABILITY_OPT_IN=http`` only the stable names are emitted."""
        instrument()

        app.test_client().get(
            "/users/42?token=s3cr3t&page=2",
            headers={"User-Agent": "test-agent/1.0"},
            environ_base={"REMOTE_ADDR": "10.1.2.3"},
        )

        assert dict(_only_span(span_exporter).attributes) == {
            "http.request.method": "GET",
            "url.scheme": "http",
            "server.address": "localhost",
            "server.port": 80,
            "url.path": "/users/42",
            "url.query": "token=REDACTED&page=2",
            "client.address": "10.1.2.3",
            "user_agent.original": "test-agent/1.0",
            "network.protocol.version": "1.1",
            "http.route": "/users/<int:user_id>",
            "http.response.status_code": 200,
        }

    def test_stable_conventions_keep_the_original_method(
        self, stable, app, instrument, span_exporter
    ):
        """In stable mode a folded method is kept in ``http.request.method_original``."""
        instrument()

        app.test_client().open("/custom", method="FOO")

        attributes = _only_span(span_exporter).attributes
        assert attributes["http.request.method"] == "_OTHER"
        assert attributes["http.request.method_original"] == "FOO"

    def test_dup_conventions_emit_both(self, dup, app, instrument, span_exporter):
        """With ``http/dup`` the old and the stable names are both on the span."""
        instrument()

        app.test_client().get("/users/42")

        attributes = _only_span(span_exporter).attributes
        assert attributes["http.method"] == attributes["http.request.method"] == "GET"
        assert attributes["http.status_code"] == attributes["http.response.status_code"] == 200
        assert attributes["http.target"] == "/users/42"
        assert attributes["url.path"] == "/users/42"
        assert attributes["http.flavor"] == attributes["network.protocol.version"] == "1.1"
        assert attributes["http.route"] == "/users/<int:user_id>"

    def test_mode_is_read_when_instrumenting(self, app, instrument, span_exporter, monkeypatch):
        """The opt-in is read by ``instrument()``: setting it afterwards changes nothing."""
        instrument()
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

        app.test_client().get("/users/42")

        attributes = _only_span(span_exporter).attributes
        assert "http.method" in attributes
        assert "http.request.method" not in attributes


class TestStatus:
    def test_success_leaves_the_status_unset(self, app, instrument, span_exporter):
        """A 200 leaves the span status UNSET."""
        instrument()

        app.test_client().get("/users/1")

        assert _only_span(span_exporter).status.status_code is StatusCode.UNSET

    def test_not_found_leaves_the_status_unset(self, app, instrument, span_exporter):
        """A 4xx is the client's error: the server span stays UNSET, with the status code."""
        instrument()

        app.test_client().get("/missing")

        span = _only_span(span_exporter)
        assert span.status.status_code is StatusCode.UNSET
        assert span.attributes["http.status_code"] == 404

    def test_abort_503_is_an_error_without_description(self, app, instrument, span_exporter):
        """``abort(503)`` is a handled response: ERROR from the status, no description, no
        exception event."""
        instrument()

        assert app.test_client().get("/unavailable").status_code == 503

        span = _only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None
        assert span.attributes["http.status_code"] == 503
        assert [event.name for event in span.events] == []

    def test_abort_503_sets_error_type_in_stable_mode(self, stable, app, instrument, span_exporter):
        """In stable mode a 5xx response sets ``error.type`` to the status code."""
        instrument()

        app.test_client().get("/unavailable")

        assert _only_span(span_exporter).attributes["error.type"] == "503"

    def test_unhandled_exception_becomes_500_and_an_error_span(
        self, app, instrument, span_exporter
    ):
        """A view that raises gives a 500 response and an ERROR span ``"ValueError: boom"`` with
        exactly one ``exception`` event."""
        instrument()

        assert app.test_client().get("/boom").status_code == 500

        span = _only_span(span_exporter)
        assert span.name == "GET /boom"
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: boom"
        assert span.attributes["http.status_code"] == 500
        [event] = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"] == "ValueError"
        assert event.attributes["exception.message"] == "boom"

    def test_unhandled_exception_error_type_is_the_status_in_stable_mode(
        self, stable, app, instrument, span_exporter
    ):
        """In stable mode the exception's 500 sets ``error.type="500"``, as upstream's Flask."""
        instrument()

        app.test_client().get("/boom")

        span = _only_span(span_exporter)
        assert span.attributes["error.type"] == "500"
        assert span.attributes["http.response.status_code"] == 500
        assert span.status.description == "ValueError: boom"

    def test_propagated_exception_reaches_the_client_and_ends_the_span_once(
        self, app, instrument, span_exporter, active_requests
    ):
        """With ``app.testing`` the exception propagates to the caller; the span still ends
        once, ERROR, with one ``exception`` event, and the request is no longer active."""
        app.testing = True
        instrument()

        with pytest.raises(ValueError, match="boom"):
            app.test_client().get("/boom")

        span = _only_span(span_exporter)
        assert span.end_time is not None
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: boom"
        assert [event.name for event in span.events] == ["exception"]
        assert active_requests() == 0

    def test_error_handler_response_sets_the_status(self, app, instrument, span_exporter):
        """An exception turned into a response by an error handler is not recorded as an
        exception of the view; the status comes from that response."""

        @app.errorhandler(KeyError)
        def handle_key_error(error: KeyError) -> tuple[str, int]:
            return "gone", 410

        @app.route("/lookup")
        def lookup() -> str:
            raise KeyError("nope")

        instrument()

        assert app.test_client().get("/lookup").status_code == 410

        span = _only_span(span_exporter)
        assert span.status.status_code is StatusCode.UNSET
        assert span.attributes["http.status_code"] == 410
        assert span.events == ()


class TestContext:
    def test_span_is_current_in_the_view(self, app, instrument, span_exporter, tracer_provider):
        """A span created in the view is a child of the server span, in the same trace."""

        @app.route("/work")
        def work() -> str:
            with tracer_provider.get_tracer("test").start_as_current_span("child"):
                return "done"

        instrument()

        app.test_client().get("/work")

        child, server = span_exporter.get_finished_spans()
        assert (child.name, server.name) == ("child", "GET /work")
        assert child.parent is not None
        assert child.parent.span_id == server.context.span_id
        assert child.context.trace_id == server.context.trace_id

    def test_traceparent_is_continued(self, app, instrument, span_exporter):
        """An incoming ``traceparent`` makes the server span a child of the remote caller."""
        instrument()

        app.test_client().get("/users/1", headers={"traceparent": TRACEPARENT})

        span = _only_span(span_exporter)
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert span.parent is not None
        assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID
        assert span.parent.is_remote
        assert span.kind is SpanKind.SERVER

    def test_nested_under_the_wsgi_middleware_is_internal(
        self, app, instrument, span_exporter, tracer_provider, meter_provider
    ):
        """Under ``instrumentarium.wsgi.OpenTelemetryMiddleware`` the Flask span is an INTERNAL
        child of the middleware's SERVER span: one SERVER span per request."""
        instrument()
        app.wsgi_app = OpenTelemetryMiddleware(
            app.wsgi_app, tracer_provider=tracer_provider, meter_provider=meter_provider
        )

        response = app.test_client().get(
            "/users/1", headers={"traceparent": TRACEPARENT}, buffered=True
        )

        assert response.status_code == 200
        flask_span, wsgi_span = span_exporter.get_finished_spans()
        assert flask_span.name == "GET /users/<int:user_id>"
        assert flask_span.kind is SpanKind.INTERNAL
        assert wsgi_span.kind is SpanKind.SERVER
        assert flask_span.parent is not None
        assert flask_span.parent.span_id == wsgi_span.context.span_id
        assert format(wsgi_span.context.trace_id, "032x") == TRACE_ID
        assert flask_span.context.trace_id == wsgi_span.context.trace_id

    def test_trace_response_propagator_adds_the_header(self, app, instrument, span_exporter):
        """With a global response propagator set, the response carries ``traceresponse`` with
        the server span's ids."""
        previous = get_global_response_propagator()
        set_global_response_propagator(TraceResponsePropagator())
        try:
            instrument()
            response = app.test_client().get("/users/1")
        finally:
            set_global_response_propagator(previous)

        context = _only_span(span_exporter).context
        assert response.headers["traceresponse"] == (
            f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
        )
        assert response.headers["Access-Control-Expose-Headers"] == "traceresponse"

    def test_no_span_is_left_current_after_a_request(self, app, instrument, span_exporter):
        """After a request (traced, failed, or not found) no span is current in the caller."""
        instrument()
        client = app.test_client()

        for path in ("/users/1", "/boom", "/missing"):
            client.get(path, headers={"traceparent": TRACEPARENT})
            assert not trace.get_current_span().get_span_context().is_valid, path

        assert len(span_exporter.get_finished_spans()) == 3

    def test_request_handlers_run_inside_the_span(self, app, instrument, span_exporter):
        """``before_request`` and ``after_request`` handlers see the request's span as current."""
        seen: dict[str, int] = {}

        @app.before_request
        def before() -> None:
            seen["before"] = trace.get_current_span().get_span_context().span_id

        @app.after_request
        def after(response: flask.Response) -> flask.Response:
            seen["after"] = trace.get_current_span().get_span_context().span_id
            return response

        instrument()

        app.test_client().get("/users/1")

        span_id = _only_span(span_exporter).context.span_id
        assert seen == {"before": span_id, "after": span_id}
