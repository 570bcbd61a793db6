"""The server core reads any protocol through ``ServerRequest``: an ASGI scope plugs in with an
adapter of about forty lines (the one below is the sketch ``instrumentarium.asgi`` starts from)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentarium.util.http import ServerRequest, ServerTelemetry, WsgiRequest
from instrumentarium.util.semconv import DUP


class _ScopeGetter(Getter[dict[str, Any]]):
    def get(self, carrier: dict[str, Any], key: str) -> Optional[list[str]]:
        wanted = key.lower().encode("latin-1")
        found = [v.decode("latin-1") for k, v in carrier.get("headers") or () if k == wanted]
        return found or None

    def keys(self, carrier: dict[str, Any]) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier.get("headers") or ()]


class AsgiRequest(ServerRequest):
    """An ASGI HTTP scope as the server core reads it."""

    __slots__ = ()
    getter = _ScopeGetter()

    def __init__(self, scope: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in scope.get("headers") or ()}
        host, user_agent = headers.get(b"host"), headers.get(b"user-agent")
        server = scope.get("server") or (None, None)
        client = scope.get("client") or (None, None)
        query = (scope.get("query_string") or b"").decode("latin-1")
        raw_path = scope.get("raw_path")
        self.carrier = scope
        self.method = scope.get("method") or ""
        self.scheme = scope.get("scheme") or "http"
        self.host = host.decode("latin-1") if host else None
        self.server_name, self.server_port = server
        self.protocol = scope.get("http_version")
        self.user_agent = user_agent.decode("latin-1") if user_agent else None
        self.path = scope.get("root_path", "") + scope.get("path", "") or "/"
        self.query = query
        path = raw_path.decode("latin-1") if raw_path else self.path
        self.target = f"{path}?{query}" if query else path
        self.peer_address, self.peer_port = client
        self.peer_name = None

    def url(self) -> str:
        authority = self.host or f"{self.server_name}:{self.server_port}"
        return f"{self.scheme}://{authority}{self.target}"

    def headers(self) -> Iterator[tuple[str, str]]:
        for name, value in self.carrier.get("headers") or ():
            yield name.decode("latin-1"), value.decode("latin-1")


class _Options:
    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.excluded_urls = None


SCOPE = {
    "type": "http",
    "method": "GET",
    "scheme": "https",
    "http_version": "1.1",
    "path": "/users/7",
    "raw_path": b"/users/7",
    "query_string": b"q=1",
    "root_path": "",
    "headers": [(b"host", b"example.com:8443"), (b"user-agent", b"curl/8")],
    "client": ("10.0.0.1", 50000),
    "server": ("10.0.0.2", 8443),
}
ENVIRON = {
    "REQUEST_METHOD": "GET",
    "wsgi.url_scheme": "https",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/users/7",
    "RAW_URI": "/users/7?q=1",
    "QUERY_STRING": "q=1",
    "HTTP_HOST": "example.com:8443",
    "HTTP_USER_AGENT": "curl/8",
    "REMOTE_ADDR": "10.0.0.1",
    "REMOTE_PORT": "50000",
    "SERVER_NAME": "10.0.0.2",
    "SERVER_PORT": "8443",
}


class TestServerRequest:
    def test_a_scope_and_an_environ_of_one_request_give_one_span(
        self,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The same request described by an ASGI scope and by a WSGI environ gets the same
        span attributes, in both conventions, through the same core."""
        telemetry = ServerTelemetry(
            "test", "1", "TEST", _Options(tracer_provider, meter_provider), DUP
        )
        for request in (AsgiRequest(SCOPE), WsgiRequest(ENVIRON)):
            call = telemetry.begin(request)
            call.start_span(call.span_name("/users/{id}"), "/users/{id}")
            call.on_response(200)
            call.finish()
        scope_span, environ_span = span_exporter.get_finished_spans()
        assert scope_span.name == environ_span.name == "GET /users/{id}"
        assert dict(scope_span.attributes) == dict(environ_span.attributes)
        assert scope_span.attributes["server.address"] == "example.com"
        assert scope_span.attributes["server.port"] == 8443
        assert scope_span.attributes["http.target"] == "/users/7?q=1"
