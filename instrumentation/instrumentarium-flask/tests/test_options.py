"""Options: excluded URLs, request and response hooks, the SQL commenter, header capture."""

from __future__ import annotations

import uuid
from importlib.metadata import version
from typing import Any

import flask
import pytest
from opentelemetry import context as otel_context
from opentelemetry.trace import Span, StatusCode

SQLCOMMENTER_KEY = "SQLCOMMENTER_ORM_TAGS_AND_VALUES"


@pytest.fixture
def app(make_app):
    return make_app()


def _traced_paths(app: flask.Flask, exporter, *paths: str) -> list[str]:
    """Requests each path (all must succeed) and returns the routes that produced a span."""
    client = app.test_client()
    for path in paths:
        assert client.get(path).status_code == 200, path
    return [span.attributes["http.target"] for span in exporter.get_finished_spans()]


class TestExcludedUrls:
    def test_kwarg_string(self, app, instrument, span_exporter):
        """``excluded_urls="a,b"`` excludes URLs where either regex is found; others are traced."""
        instrument(excluded_urls="health,nothing-here")

        traced = _traced_paths(app, span_exporter, "/health", "/users/1")

        assert traced == ["/users/1"]

    def test_kwarg_list(self, app, instrument, span_exporter):
        """A list of regexes works as the comma string does."""
        instrument(excluded_urls=["health", r"users/\d+$"])

        traced = _traced_paths(app, span_exporter, "/health", "/users/1", "/users/1?x=y")

        assert traced == ["/users/1?x=y"]

    def test_flask_environment_variable(self, app, instrument, span_exporter, monkeypatch):
        """``OTEL_PYTHON_FLASK_EXCLUDED_URLS`` excludes when no kwarg is given."""
        monkeypatch.setenv("OTEL_PYTHON_FLASK_EXCLUDED_URLS", "health")
        instrument()

        assert _traced_paths(app, span_exporter, "/health", "/users/1") == ["/users/1"]

    def test_generic_environment_variable_is_the_fallback(
        self, app, instrument, span_exporter, monkeypatch
    ):
        """Without the Flask variable, ``OTEL_PYTHON_EXCLUDED_URLS`` applies."""
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "health")
        instrument()

        assert _traced_paths(app, span_exporter, "/health", "/users/1") == ["/users/1"]

    def test_flask_variable_wins_over_the_generic_one(
        self, app, instrument, span_exporter, monkeypatch
    ):
        """When both variables are set, only the Flask one is used."""
        monkeypatch.setenv("OTEL_PYTHON_FLASK_EXCLUDED_URLS", "users")
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "health")
        instrument()

        assert _traced_paths(app, span_exporter, "/health", "/users/1") == ["/health"]

    def test_kwarg_wins_over_the_environment(self, app, instrument, span_exporter, monkeypatch):
        """The ``excluded_urls`` kwarg replaces the environment variables."""
        monkeypatch.setenv("OTEL_PYTHON_FLASK_EXCLUDED_URLS", "users")
        instrument(excluded_urls="health")

        assert _traced_paths(app, span_exporter, "/health", "/users/1") == ["/users/1"]

    def test_matched_against_the_full_url_with_query(self, app, instrument, span_exporter):
        """The regex is searched in the full URL, scheme, host and query included."""
        instrument(excluded_urls=r"q=skip,^http://internal\.example/")

        client = app.test_client()
        client.get("/users/1?q=skip")
        client.get("/users/2", base_url="http://internal.example")
        client.get("/users/3?q=keep")

        traced = [span.attributes["http.target"] for span in span_exporter.get_finished_spans()]
        assert traced == ["/users/3?q=keep"]

    def test_trailing_comma_excludes_nothing_more(self, app, instrument, span_exporter):
        """A trailing comma (an empty item) does not turn into a match-everything regex."""
        instrument(excluded_urls="health,")

        assert _traced_paths(app, span_exporter, "/health", "/users/1") == ["/users/1"]

    def test_trailing_comma_in_the_environment(self, app, instrument, span_exporter, monkeypatch):
        """The same holds for the environment variable (upstream excludes everything)."""
        monkeypatch.setenv("OTEL_PYTHON_FLASK_EXCLUDED_URLS", "health, ,")
        instrument()

        assert _traced_paths(app, span_exporter, "/health", "/users/1") == ["/users/1"]

    def test_invalid_regex_warns_once_and_the_others_apply(
        self, make_app, instrument, instrument_app, span_exporter, instrumentarium_warnings
    ):
        """An invalid regex is reported once, naming it, and skipped; the valid ones still
        exclude, even when the same configuration is given twice."""
        invalid = f"unclosed-{uuid.uuid4().hex}-["
        first, second = make_app(), make_app()
        instrument(excluded_urls=f"health,{invalid}")
        instrument_app(second, excluded_urls=f"health,{invalid}")

        assert _traced_paths(first, span_exporter, "/health", "/users/1") == ["/users/1"]
        assert second.test_client().get("/health").status_code == 200

        [warning] = instrumentarium_warnings()
        assert invalid in warning.getMessage()
        assert "excluded_urls" in warning.getMessage()
        assert len(span_exporter.get_finished_spans()) == 1

    def test_invalid_regex_in_the_environment_names_the_variable(
        self, app, instrument, span_exporter, monkeypatch, instrumentarium_warnings
    ):
        """A bad pattern in ``OTEL_PYTHON_FLASK_EXCLUDED_URLS`` is reported with that name."""
        invalid = f"bad-{uuid.uuid4().hex}-("
        monkeypatch.setenv("OTEL_PYTHON_FLASK_EXCLUDED_URLS", f"{invalid},health")
        instrument()

        assert _traced_paths(app, span_exporter, "/health", "/users/1") == ["/users/1"]
        [warning] = instrumentarium_warnings()
        assert "OTEL_PYTHON_FLASK_EXCLUDED_URLS" in warning.getMessage()

    def test_excluded_request_still_runs_the_view(self, app, instrument, span_exporter):
        """Exclusion only skips telemetry: the view runs and answers."""
        instrument(excluded_urls="health")

        response = app.test_client().get("/health")

        assert (response.status_code, response.data) == (200, b"ok")
        assert span_exporter.get_finished_spans() == ()


class TestHooks:
    def test_request_hook_gets_the_span_and_environ(self, app, instrument, span_exporter):
        """``request_hook(span, environ)`` gets the recording server span and the WSGI environ,
        and what it sets ends up on the span."""
        calls: list[tuple[Span, dict[str, Any]]] = []

        def request_hook(span: Span, environ: dict[str, Any]) -> None:
            calls.append((span, environ))
            span.set_attribute("custom.path", environ["PATH_INFO"])

        instrument(request_hook=request_hook)

        app.test_client().get("/users/7")

        [(span, environ)] = calls
        [exported] = span_exporter.get_finished_spans()
        assert span.get_span_context().span_id == exported.context.span_id
        assert environ["REQUEST_METHOD"] == "GET"
        assert exported.attributes["custom.path"] == "/users/7"

    def test_response_hook_gets_span_status_and_headers(self, app, instrument, span_exporter):
        """``response_hook(span, status, response_headers)`` gets the status line and the header
        list (upstream's Flask signature: no environ), and can set attributes."""
        calls: list[tuple[str, list[tuple[str, str]]]] = []

        def response_hook(span: Span, status: str, headers: list[tuple[str, str]]) -> None:
            calls.append((status, list(headers)))
            span.set_attribute("custom.status", status)

        instrument(response_hook=response_hook)

        app.test_client().post("/items")

        [(status, headers)] = calls
        assert status == "201 CREATED"
        assert ("Content-Type", "text/html; charset=utf-8") in headers
        assert span_exporter.get_finished_spans()[0].attributes["custom.status"] == "201 CREATED"

    def test_hooks_given_to_instrument_app(self, app, instrument_app, span_exporter):
        """``instrument_app`` accepts the same hooks."""

        def request_hook(span: Span, environ: dict[str, Any]) -> None:
            span.set_attribute("hook.request", True)

        def response_hook(span: Span, status: str, headers: list[tuple[str, str]]) -> None:
            span.set_attribute("hook.response", True)

        instrument_app(app, request_hook=request_hook, response_hook=response_hook)

        app.test_client().get("/users/1")

        attributes = span_exporter.get_finished_spans()[0].attributes
        assert (attributes["hook.request"], attributes["hook.response"]) == (True, True)

    @pytest.mark.parametrize("hook_name", ["request_hook", "response_hook"])
    def test_raising_hook_is_logged_and_the_request_goes_on(
        self, app, instrument, span_exporter, instrumentarium_warnings, hook_name
    ):
        """A hook that raises is logged at WARNING with its traceback; the response is still a
        200 and the span is complete."""

        def broken_hook(*args: Any) -> None:
            raise RuntimeError("hook failure")

        instrument(**{hook_name: broken_hook})

        response = app.test_client().get("/users/1")

        assert (response.status_code, response.data) == (200, b"user 1")
        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /users/<int:user_id>"
        assert span.attributes["http.status_code"] == 200
        assert span.status.status_code is StatusCode.UNSET
        assert span.events == ()
        [warning] = instrumentarium_warnings()
        assert hook_name in warning.getMessage()
        assert warning.exc_info is not None
        assert warning.exc_info[0] is RuntimeError

    def test_non_callable_hooks_are_ignored(self, app, instrument, span_exporter):
        """A hook that is not callable is ignored, as upstream ignores it."""
        instrument(request_hook="not callable", response_hook=42)

        assert app.test_client().get("/users/1").status_code == 200

        assert len(span_exporter.get_finished_spans()) == 1


class TestSqlCommenter:
    @pytest.fixture
    def tags_seen(self, app) -> list[Any]:
        """What a database instrumentation would read while the view runs."""
        seen: list[Any] = []

        @app.route("/orders/<int:order_id>")
        def show_order(order_id: int) -> str:
            seen.append(otel_context.get_value(SQLCOMMENTER_KEY))
            return "order"

        return seen

    def test_tags_are_set_while_the_view_runs(self, app, tags_seen, instrument):
        """By default the view sees framework, controller (endpoint) and route."""
        instrument()

        app.test_client().get("/orders/5")

        assert tags_seen == [
            {
                "framework": f"flask:{version('flask')}",
                "controller": "show_order",
                "route": "/orders/<int:order_id>",
            }
        ]

    def test_an_option_set_to_false_drops_its_key(self, app, tags_seen, instrument):
        """``commenter_options={"framework": False}`` drops only the framework tag."""
        instrument(commenter_options={"framework": False})

        app.test_client().get("/orders/5")

        assert tags_seen == [{"controller": "show_order", "route": "/orders/<int:order_id>"}]

    def test_controller_and_route_can_be_dropped(self, app, tags_seen, instrument):
        """``controller`` and ``route`` can be switched off the same way."""
        instrument(commenter_options={"controller": False, "route": False})

        app.test_client().get("/orders/5")

        assert tags_seen == [{"framework": f"flask:{version('flask')}"}]

    def test_disabled_commenter_sets_nothing(self, app, tags_seen, instrument):
        """``enable_commenter=False`` leaves the context value unset."""
        instrument(enable_commenter=False)

        app.test_client().get("/orders/5")

        assert tags_seen == [None]

    def test_per_app_commenter_settings(self, app, tags_seen, instrument_app):
        """``instrument_app`` takes the commenter settings too."""
        instrument_app(app, enable_commenter=False)

        app.test_client().get("/orders/5")

        assert tags_seen == [None]

    def test_tags_do_not_outlive_the_request(self, app, tags_seen, instrument):
        """After the request the tags are gone from the caller's context (upstream leaks them)."""
        instrument()

        app.test_client().get("/orders/5")
        app.test_client().get("/boom")

        assert tags_seen[0] is not None
        assert otel_context.get_value(SQLCOMMENTER_KEY) is None


class TestHeaderCapture:
    def test_request_headers_from_the_environment(
        self, app, instrument, span_exporter, monkeypatch
    ):
        """Request headers matching ``..._SERVER_REQUEST`` (case-insensitive, whole name) become
        ``http.request.header.<name>`` attributes; others are not captured."""
        monkeypatch.setenv(
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "x-custom-header,accept"
        )
        instrument()

        app.test_client().get(
            "/users/1",
            headers={"X-Custom-Header": "custom", "Accept": "text/plain", "X-Other": "no"},
        )

        attributes = span_exporter.get_finished_spans()[0].attributes
        assert attributes["http.request.header.x_custom_header"] == ("custom",)
        assert attributes["http.request.header.accept"] == ("text/plain",)
        assert "http.request.header.x_other" not in attributes

    def test_response_headers_from_the_environment(
        self, app, instrument, span_exporter, monkeypatch
    ):
        """Response headers matching ``..._SERVER_RESPONSE`` become
        ``http.response.header.<name>`` attributes."""

        @app.route("/with-header")
        def with_header() -> flask.Response:
            response = flask.make_response("ok")
            response.headers["X-Response-Id"] = "r-1"
            return response

        monkeypatch.setenv(
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "x-response-.*"
        )
        instrument()

        app.test_client().get("/with-header")

        attributes = span_exporter.get_finished_spans()[0].attributes
        assert attributes["http.response.header.x_response_id"] == ("r-1",)
        assert "http.response.header.content_type" not in attributes

    def test_sanitize_fields_redact_captured_values(
        self, app, instrument, span_exporter, monkeypatch
    ):
        """Captured headers whose name matches ``..._SANITIZE_FIELDS`` are ``[REDACTED]``."""

        @app.route("/login")
        def login() -> flask.Response:
            response = flask.make_response("ok")
            response.headers["X-Session-Secret"] = "response-secret"
            return response

        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "x-.*")
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "x-.*")
        monkeypatch.setenv(
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", ".*secret.*"
        )
        instrument()

        app.test_client().get(
            "/login", headers={"X-Api-Secret": "request-secret", "X-Plain": "visible"}
        )

        attributes = span_exporter.get_finished_spans()[0].attributes
        assert attributes["http.request.header.x_api_secret"] == ("[REDACTED]",)
        assert attributes["http.response.header.x_session_secret"] == ("[REDACTED]",)
        assert attributes["http.request.header.x_plain"] == ("visible",)
        assert "secret" not in "".join(
            str(value) for key, value in attributes.items() if "header" in key
        ).replace("[REDACTED]", "")

    def test_nothing_captured_by_default(self, app, instrument, span_exporter):
        """Without the variables no header becomes an attribute."""
        instrument()

        app.test_client().get("/users/1", headers={"X-Custom-Header": "custom"})

        attributes = span_exporter.get_finished_spans()[0].attributes
        assert not [key for key in attributes if ".header." in key]
