"""The server span: name, kind, parent, and attributes in each semconv mode."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


def _one_span(exporter: InMemorySpanExporter) -> Any:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, spans
    return spans[0]


class TestSpanName:
    @pytest.mark.parametrize(
        ("method", "path", "name"),
        [
            ("GET", "/hello", "GET /hello"),
            ("post", "/users/42", "POST /users/42"),
            ("QUERY", "/q", "QUERY /q"),
            ("GET", "", "GET"),
            ("PURGE", "/cache", "HTTP"),
            ("", "/x", "HTTP"),
        ],
    )
    def test_name(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        method: str,
        path: str,
        name: str,
    ) -> None:
        """``"{METHOD} {PATH_INFO}"``, the bare method with no path, ``HTTP`` for unknown
        methods."""
        run(wrap(), environ(REQUEST_METHOD=method, PATH_INFO=path))
        assert _one_span(span_exporter).name == name

    def test_capture_all_methods_keeps_the_method_in_the_name(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """With ``OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS`` a custom method names
        the span."""
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS", "1")
        run(wrap(), environ(REQUEST_METHOD="PURGE", PATH_INFO="/cache"))
        assert _one_span(span_exporter).name == "PURGE /cache"


class TestKindAndParent:
    def test_server_kind_at_the_root(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Without an active span the middleware starts a root SERVER span."""
        run(wrap(), environ())
        span = _one_span(span_exporter)
        assert span.kind is SpanKind.SERVER
        assert span.parent is None

    def test_internal_kind_under_an_active_span(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        tracer_provider: TracerProvider,
    ) -> None:
        """Under an active span (an outer framework's) the span is an INTERNAL child."""
        with tracer_provider.get_tracer("outer").start_as_current_span("outer") as outer:
            run(wrap(), environ())
        inner, _ = span_exporter.get_finished_spans()
        assert inner.kind is SpanKind.INTERNAL
        assert inner.parent is not None
        assert inner.parent.span_id == outer.get_span_context().span_id

    def test_traceparent_in_environ_is_continued(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A W3C ``traceparent`` header makes the span a remote child of that trace."""
        run(wrap(), environ(HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-01"))
        span = _one_span(span_exporter)
        assert span.context.trace_id == int(TRACE_ID, 16)
        assert span.parent is not None
        assert span.parent.span_id == int(PARENT_ID, 16)
        assert span.parent.is_remote
        assert span.kind is SpanKind.SERVER

    def test_invalid_traceparent_starts_a_new_trace(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A malformed ``traceparent`` is ignored: the span is a new root."""
        run(wrap(), environ(HTTP_TRACEPARENT="00-nonsense-01"))
        assert _one_span(span_exporter).parent is None

    def test_no_context_leaks_after_the_request(
        self, wrap: Callable[..., Any], run: Callable[..., Any], environ: Callable[..., Any]
    ) -> None:
        """After the response is closed, no span is current any more."""
        run(wrap(), environ(HTTP_TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-01"))
        assert not trace.get_current_span().get_span_context().is_valid

    def test_schema_url_follows_the_mode(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The scope declares schema 1.11.0 for the old names, 1.21.0 when stable names are
        emitted."""
        run(wrap(), environ())
        scope = _one_span(span_exporter).instrumentation_scope
        expected = "1.11.0" if semconv == "default" else "1.21.0"
        assert scope.schema_url == f"https://opentelemetry.io/schemas/{expected}"


FULL = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/hello",
    "QUERY_STRING": "a=1&sig=secret",
    "RAW_URI": "/hello?a=1&sig=secret",
    "HTTP_USER_AGENT": "curl/8.0",
    "REMOTE_HOST": "client.example",
}


class TestAttributesOldMode:
    def test_upstream_attributes(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The default mode emits upstream's old names, the Host header verbatim and the raw
        target with its secrets redacted."""
        run(wrap(), environ(**FULL))
        attributes = dict(_one_span(span_exporter).attributes)
        assert attributes == {
            "http.method": "GET",
            "http.server_name": "srv.local",
            "http.scheme": "http",
            "net.host.name": "example.com:8080",
            "http.host": "example.com:8080",
            "net.host.port": 8080,
            "http.target": "/hello?a=1&sig=REDACTED",
            "net.peer.ip": "10.1.2.3",
            "net.peer.port": 50000,
            "net.peer.name": "client.example",
            "http.user_agent": "curl/8.0",
            "http.flavor": "1.1",
            "http.status_code": 200,
        }

    def test_request_uri_is_the_target_without_raw_uri(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``REQUEST_URI`` (uWSGI) is used as ``http.target`` when ``RAW_URI`` is absent."""
        run(wrap(), environ(REQUEST_URI="/hello?x=1"))
        attributes = _one_span(span_exporter).attributes
        assert attributes["http.target"] == "/hello?x=1"
        assert "http.url" not in attributes

    def test_url_without_raw_target(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Without ``RAW_URI``/``REQUEST_URI``, ``http.url`` is rebuilt and redacted, and
        ``http.target`` is absent."""
        run(
            wrap(),
            environ(SCRIPT_NAME="/app", PATH_INFO="/a b", QUERY_STRING="x=1&Signature=s"),
        )
        attributes = _one_span(span_exporter).attributes
        assert attributes["http.url"] == "http://example.com:8080/app/a%20b?x=1&Signature=REDACTED"
        assert "http.target" not in attributes

    def test_url_without_host_header(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Without a Host header the URL uses ``SERVER_NAME`` and a non-default port."""
        run(wrap(), environ(HTTP_HOST=None))
        attributes = _one_span(span_exporter).attributes
        assert attributes["http.url"] == "http://srv.local:8080/hello"
        assert "http.host" not in attributes

    def test_no_stable_names(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The default mode emits none of the stable names."""
        run(wrap(), environ(**FULL))
        attributes = _one_span(span_exporter).attributes
        for stable in ("http.request.method", "url.path", "server.address", "client.address"):
            assert stable not in attributes


class TestAttributesStableMode:
    @pytest.fixture(autouse=True)
    def _stable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

    def test_stable_attributes(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``http`` mode emits the stable names only: address without port, port from the
        Host header, client address from REMOTE_ADDR, the query redacted."""
        run(wrap(), environ(**FULL, SERVER_PORT="80"))
        attributes = dict(_one_span(span_exporter).attributes)
        assert attributes == {
            "http.request.method": "GET",
            "url.scheme": "http",
            "server.address": "example.com",
            "server.port": 8080,
            "url.path": "/hello",
            "url.query": "a=1&sig=REDACTED",
            "client.address": "10.1.2.3",
            "client.port": 50000,
            "user_agent.original": "curl/8.0",
            "network.protocol.version": "1.1",
            "http.response.status_code": 200,
        }

    def test_url_path_without_raw_target(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``url.path`` is emitted even when the server gives no raw target (plain wsgiref)."""
        run(wrap(), environ(SCRIPT_NAME="/app", PATH_INFO="/x", QUERY_STRING="token=t&b=2"))
        attributes = _one_span(span_exporter).attributes
        assert attributes["url.path"] == "/app/x"
        assert attributes["url.query"] == "token=REDACTED&b=2"

    def test_ipv6_host_header(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """An IPv6 Host header gives the bare address and its port."""
        run(wrap(), environ(HTTP_HOST="[::1]:9000"))
        attributes = _one_span(span_exporter).attributes
        assert attributes["server.address"] == "::1"
        assert attributes["server.port"] == 9000

    def test_host_without_port_uses_server_port(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A Host header without a port falls back to ``SERVER_PORT``."""
        run(wrap(), environ(HTTP_HOST="example.com"))
        attributes = _one_span(span_exporter).attributes
        assert attributes["server.address"] == "example.com"
        assert attributes["server.port"] == 8080

    def test_method_original(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A non-canonical method is reported in ``http.request.method_original``."""
        run(wrap(), environ(REQUEST_METHOD="get"))
        attributes = _one_span(span_exporter).attributes
        assert attributes["http.request.method"] == "GET"
        assert attributes["http.request.method_original"] == "get"

    def test_unknown_method(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """An unknown method is ``_OTHER`` with the method as sent in ``..._original``."""
        run(wrap(), environ(REQUEST_METHOD="PURGE"))
        attributes = _one_span(span_exporter).attributes
        assert attributes["http.request.method"] == "_OTHER"
        assert attributes["http.request.method_original"] == "PURGE"

    def test_synthetic_user_agent(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A known bot user agent adds ``user_agent.synthetic.type``."""
        run(wrap(), environ(HTTP_USER_AGENT="Mozilla/5.0 (compatible; Googlebot/2.1)"))
        assert _one_span(span_exporter).attributes["user_agent.synthetic.type"] == "bot"


class TestAttributesDupMode:
    def test_both_sets(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``http/dup`` emits the old and the stable names together, both redacted."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        run(wrap(), environ(**FULL))
        attributes = _one_span(span_exporter).attributes
        assert attributes["http.method"] == attributes["http.request.method"] == "GET"
        assert attributes["http.status_code"] == attributes["http.response.status_code"] == 200
        assert attributes["http.target"] == "/hello?a=1&sig=REDACTED"
        assert attributes["url.query"] == "a=1&sig=REDACTED"
        assert attributes["net.host.name"] == "example.com:8080"
        assert attributes["server.address"] == "example.com"
        assert attributes["client.address"] == "10.1.2.3"
        assert attributes["net.peer.name"] == "client.example"


class TestRedaction:
    @pytest.mark.parametrize("name", ["sig", "Signature", "X-Amz-Signature", "access_token"])
    def test_secrets_never_reach_any_attribute(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        name: str,
    ) -> None:
        """A sensitive query value appears in no attribute, whatever the mode and URL source."""
        for raw in ({"RAW_URI": f"/p?{name}=SeCrEt"}, {}):
            span_exporter.clear()
            run(wrap(), environ(PATH_INFO="/p", QUERY_STRING=f"{name}=SeCrEt", **raw))
            values = [str(v) for v in _one_span(span_exporter).attributes.values()]
            assert not [v for v in values if "SeCrEt" in v]

    def test_userinfo_in_host_header_is_redacted(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Userinfo smuggled into the Host header does not reach the rebuilt ``http.url``."""
        run(wrap(), environ(HTTP_HOST="u:p@example.com"))
        attributes = _one_span(span_exporter).attributes
        assert "u:p" not in attributes["http.url"]

    @pytest.mark.parametrize("raw", [{"RAW_URI": "http://user:SeCrEt@localhost/abs"}, {}])
    def test_userinfo_in_an_absolute_target_reaches_no_attribute(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
        raw: dict[str, str],
    ) -> None:
        """``GET http://user:SeCrEt@localhost/abs`` makes servers put ``user:SeCrEt@localhost``
        in ``HTTP_HOST``: the password reaches no span or metric attribute in any mode, and the
        host is still recorded, without the userinfo (issue 14, item 12)."""
        run(wrap(), environ(HTTP_HOST="user:SeCrEt@localhost", PATH_INFO="/abs", **raw))
        attributes = _one_span(span_exporter).attributes
        values = [str(value) for value in attributes.values()]
        for points in metric_points().values():
            values += [str(value) for point in points for value in point.attributes.values()]
        assert not [value for value in values if "SeCrEt" in value or "user" in value]
        host_keys = ("http.host", "net.host.name", "server.address")
        assert [attributes[key] for key in host_keys if key in attributes]
        assert {attributes[key] for key in host_keys if key in attributes} == {"localhost"}

    def test_extra_names_from_environment(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Names added in ``OTEL_PYTHON_INSTRUMENTATION_HTTP_REDACT_QUERY_PARAMS`` are
        redacted by the middleware."""
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_HTTP_REDACT_QUERY_PARAMS", "session")
        run(wrap(), environ(RAW_URI="/p?session=abc"))
        assert _one_span(span_exporter).attributes["http.target"] == "/p?session=REDACTED"
