"""Upstream's module-level helpers: attributes, span name, the context getter, the URL."""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable

import pytest
from opentelemetry.propagate import extract

from instrumentarium import wsgi
from instrumentarium.util.semconv import DEFAULT, DUP, STABLE
from instrumentarium.wsgi import (
    ResponsePropagationSetter,
    add_response_attributes,
    collect_custom_request_headers_attributes,
    collect_custom_response_headers_attributes,
    collect_request_attributes,
    default_response_propagation_setter,
    get_default_span_name,
    request_url,
    wsgi_getter,
)


class TestCollectRequestAttributes:
    def test_default_mode(self, environ: Callable[..., Any]) -> None:
        """Without a mode the old names are returned, as upstream."""
        attributes = collect_request_attributes(environ(RAW_URI="/hello?a=1"))
        assert attributes["http.method"] == "GET"
        assert attributes["http.target"] == "/hello?a=1"
        assert "http.request.method" not in attributes

    def test_explicit_modes(self, environ: Callable[..., Any]) -> None:
        """``mode`` selects the old names, the stable names, or both."""
        request = environ(QUERY_STRING="sig=x")
        assert "url.path" not in collect_request_attributes(request, DEFAULT)
        stable = collect_request_attributes(request, STABLE)
        assert stable["url.path"] == "/hello"
        assert stable["url.query"] == "sig=REDACTED"
        assert "http.method" not in stable
        dup = collect_request_attributes(request, DUP)
        assert dup["http.method"] == dup["http.request.method"] == "GET"

    def test_mode_from_environment(
        self, monkeypatch: pytest.MonkeyPatch, environ: Callable[..., Any]
    ) -> None:
        """With no mode given, ``OTEL_SEMCONV_STABILITY_OPT_IN`` is read at call time."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        assert "http.request.method" in collect_request_attributes(environ())

    def test_honours_capture_all_methods_at_call_time(
        self, monkeypatch: pytest.MonkeyPatch, environ: Callable[..., Any]
    ) -> None:
        """Like upstream's ``sanitize_method``, the method variables are read on each call."""
        assert collect_request_attributes(environ(REQUEST_METHOD="PURGE"))["http.method"] == (
            "_OTHER"
        )
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS", "1")
        assert collect_request_attributes(environ(REQUEST_METHOD="PURGE"))["http.method"] == (
            "PURGE"
        )

    def test_minimal_environ(self) -> None:
        """An environ with only the keys PEP 3333 requires gives attributes without raising."""
        attributes = collect_request_attributes(
            {"REQUEST_METHOD": "GET", "SERVER_NAME": "h", "SERVER_PORT": "80"}, DUP
        )
        assert attributes["http.method"] == "GET"
        assert attributes["http.server_name"] == "h"
        assert attributes["server.address"] == "h"
        assert attributes["url.path"] == "/"


class TestDefaultSpanName:
    @pytest.mark.parametrize(
        ("overrides", "name"),
        [
            ({}, "GET /hello"),
            ({"PATH_INFO": " /p "}, "GET /p"),
            ({"PATH_INFO": None}, "GET"),
            ({"REQUEST_METHOD": "delete"}, "DELETE /hello"),
            ({"REQUEST_METHOD": "PURGE"}, "HTTP"),
            ({"REQUEST_METHOD": None}, "HTTP"),
        ],
    )
    def test_names(self, environ: Callable[..., Any], overrides: dict[str, Any], name: str) -> None:
        """``"{METHOD} {PATH_INFO}"``, the method alone without a path, ``HTTP`` when unknown."""
        assert get_default_span_name(environ(**overrides)) == name

    def test_reads_capture_all_methods(
        self, monkeypatch: pytest.MonkeyPatch, environ: Callable[..., Any]
    ) -> None:
        """The capture-all variable is honoured on each call."""
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS", "yes")
        assert get_default_span_name(environ(REQUEST_METHOD="PURGE")) == "PURGE /hello"


class TestCollectRequestAttributesMode:
    def test_takes_upstreams_keyword_and_enum(self, environ: Callable[..., Any]) -> None:
        """``sem_conv_opt_in_mode=`` (upstream's keyword) takes our mode or upstream's enum,
        matched by its value (``"http"``: the stable names only)."""

        class StabilityMode(Enum):  # upstream's private _StabilityMode, by value
            DEFAULT = "default"
            HTTP = "http"
            HTTP_DUP = "http/dup"

        request = environ()
        assert "url.path" in collect_request_attributes(request, sem_conv_opt_in_mode=STABLE)
        stable = collect_request_attributes(request, sem_conv_opt_in_mode=StabilityMode.HTTP)
        assert "url.path" in stable
        assert "http.method" not in stable
        dup = collect_request_attributes(request, StabilityMode.HTTP_DUP)
        assert "url.path" in dup
        assert "http.method" in dup
        assert "url.path" not in collect_request_attributes(request, StabilityMode.DEFAULT)


class TestAddResponseAttributes:
    @pytest.mark.parametrize(
        ("status", "mode", "attributes", "duration", "code"),
        [
            ("200 OK", DEFAULT, {"http.status_code": 200}, {"http.status_code": 200}, "UNSET"),
            (
                "404 Not Found",
                STABLE,
                {"http.response.status_code": 404},
                {"http.response.status_code": 404},
                "UNSET",
            ),
            (
                "503 Unavailable",
                DUP,
                {"http.status_code": 503, "http.response.status_code": 503, "error.type": "503"},
                {"http.status_code": 503, "http.response.status_code": 503, "error.type": "503"},
                "ERROR",
            ),
            ("abc broken", DEFAULT, {}, {}, "ERROR"),
            ("abc broken", STABLE, {"error.type": "abc"}, {"error.type": "abc"}, "ERROR"),
        ],
    )
    def test_status_on_span_and_duration_attributes(
        self,
        tracer_provider: Any,
        span_exporter: Any,
        status: str,
        mode: Any,
        attributes: dict[str, Any],
        duration: dict[str, Any],
        code: str,
    ) -> None:
        """As upstream: the status code on the span and in ``duration_attrs`` per mode; 5xx
        ERROR (``error.type`` in the stable mode), 4xx UNSET; a status that is not a number
        ERROR ``"Non-integer HTTP status: ..."``."""
        from opentelemetry.trace import StatusCode

        duration_attrs: dict[str, Any] = {}
        span = tracer_provider.get_tracer("t").start_span("s")
        add_response_attributes(span, status, [("a", "b")], duration_attrs, mode)
        span.end()
        (finished,) = span_exporter.get_finished_spans()
        assert dict(finished.attributes) == attributes
        assert duration_attrs == duration
        assert finished.status.status_code is StatusCode[code]
        if status.startswith("abc"):
            assert finished.status.description == "Non-integer HTTP status: abc"

    def test_without_duration_attrs_and_on_a_non_recording_span(self) -> None:
        """``duration_attrs`` may be left out; a non-recording span is left alone."""
        from opentelemetry.trace import INVALID_SPAN

        add_response_attributes(INVALID_SPAN, "500 Oops", [])


class TestCustomHeaders:
    def test_request_headers(
        self, monkeypatch: pytest.MonkeyPatch, environ: Callable[..., Any]
    ) -> None:
        """The request headers named in the server-request variable, sanitised, read on each
        call."""
        request = environ(HTTP_X_TRACE_ME="1", HTTP_X_SECRET="s", HTTP_OTHER="o")
        assert collect_custom_request_headers_attributes(request) == {}
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "x-.*")
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "secret")
        assert collect_custom_request_headers_attributes(request) == {
            "http.request.header.x_trace_me": ["1"],
            "http.request.header.x_secret": ["[REDACTED]"],
        }

    def test_response_headers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The response headers named in the server-response variable; a repeated one is one
        value joined by ``,``, as upstream."""
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "my-header")
        headers = [("My-Header", "a"), ("my-header", "b"), ("other", "c")]
        assert collect_custom_response_headers_attributes(headers) == {
            "http.response.header.my_header": ["a,b"]
        }
        assert collect_custom_response_headers_attributes([]) == {}


class TestResponsePropagationSetter:
    def test_appends_a_header(self) -> None:
        """``set`` appends ``(key, value)`` to a WSGI header list; the default instance is one."""
        headers: list[tuple[str, str]] = [("Content-Type", "text/plain")]
        default_response_propagation_setter.set(headers, "traceresponse", "00-x")
        assert isinstance(default_response_propagation_setter, ResponsePropagationSetter)
        assert headers == [("Content-Type", "text/plain"), ("traceresponse", "00-x")]


class TestWsgiGetter:
    def test_get(self) -> None:
        """``get`` maps a header name to its ``HTTP_`` key and returns a one-item list."""
        carrier = {"HTTP_TRACEPARENT": "tp", "HTTP_X_B3_TRACEID": "b3"}
        assert wsgi_getter.get(carrier, "traceparent") == ["tp"]
        assert wsgi_getter.get(carrier, "X-B3-TraceId") == ["b3"]
        assert wsgi_getter.get(carrier, "tracestate") is None

    def test_keys(self) -> None:
        """``keys`` lists the headers, lower-cased with ``-``, and nothing else."""
        carrier = {"HTTP_TRACEPARENT": "x", "HTTP_X_B3_TRACEID": "y", "PATH_INFO": "/"}
        assert sorted(wsgi_getter.keys(carrier)) == ["traceparent", "x-b3-traceid"]

    def test_works_with_the_global_propagator(self) -> None:
        """The getter extracts a W3C context from an environ."""
        from opentelemetry import trace

        context = extract(
            {"HTTP_TRACEPARENT": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
            getter=wsgi_getter,
        )
        span_context = trace.get_current_span(context).get_span_context()
        assert span_context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C


class TestRequestUrl:
    @pytest.mark.parametrize(
        ("overrides", "url"),
        [
            ({}, "http://example.com:8080/hello"),
            ({"QUERY_STRING": "a=1"}, "http://example.com:8080/hello?a=1"),
            ({"RAW_URI": "/raw%20path?q"}, "http://example.com:8080/raw%20path?q"),
            ({"HTTP_HOST": None, "SERVER_PORT": "80"}, "http://srv.local/hello"),
            (
                {"HTTP_HOST": None, "SERVER_PORT": "443", "wsgi.url_scheme": "https"},
                "https://srv.local/hello",
            ),
            # PEP 3333: the UTF-8 bytes of "é" arrive decoded as latin-1
            (
                {"SCRIPT_NAME": "/app", "PATH_INFO": "/\u00c3\u00a9"},
                "http://example.com:8080/app/%C3%A9",
            ),
            ({"PATH_INFO": "", "SCRIPT_NAME": ""}, "http://example.com:8080/"),
        ],
    )
    def test_rebuilt_url(
        self, environ: Callable[..., Any], overrides: dict[str, Any], url: str
    ) -> None:
        """The URL as the client asked for it, from the raw target or rebuilt like wsgiref."""
        assert request_url(environ(**overrides)) == url


class TestExportedMembers:
    def test_all_resolves(self) -> None:
        """Every name in ``__all__`` exists, upstream's public names included."""
        for name in wsgi.__all__:
            assert hasattr(wsgi, name), name
        upstream = {
            "OpenTelemetryMiddleware",
            "WSGIGetter",
            "wsgi_getter",
            "collect_request_attributes",
            "get_default_span_name",
        }
        assert upstream <= set(wsgi.__all__)
