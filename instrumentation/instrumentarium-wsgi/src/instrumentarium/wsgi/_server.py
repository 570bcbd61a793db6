"""The server side of one HTTP request, shared by every WSGI-based instrumentor.

``ServerTelemetry`` is built once per instrumented app (tracer, instruments, compiled patterns,
hooks); ``ServerCall`` carries one request from its first byte to the end of its response::

    call = telemetry.begin(environ)          # clock starts, active_requests +1
    call.start_span(name, route)             # attributes built once, passed to the sampler
    token = attach(call.context)             # the span is current while the app runs ...
    result = app(environ, call.wrap_start_response(start_response))
    detach(token)                            # ... attached and detached in the same frame
    return call.wrap_response(result)        # span and metrics end when the body is closed

Every path ends the span exactly once: return, exception, a body that raises while streaming,
and a body that is closed before it was read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Final, Optional

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.propagate import extract
from opentelemetry.trace import (
    NoOpTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    TracerProvider,
)
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.http import (
    ExcludedUrls,
    HeaderCapture,
    HttpServerMetrics,
    MethodNormalizer,
    UrlRedactor,
    active_requests,
    parse_status_line,
    protocol_version,
    redacted_exception,
    server_status_is_error,
    synthetic_user_agent_type,
)
from instrumentarium.util.http import names as n
from instrumentarium.util.metrics import shared_meter
from instrumentarium.util.safety import logger
from instrumentarium.util.semconv import SemconvMode, opt_in_mode, schema_url

from ._environ import Environ, request_headers, request_url, wsgi_getter

__all__ = ["ServerCall", "ServerTelemetry", "StartResponse"]

StartResponse = Callable[..., Callable[[bytes], object]]

_time_ns: Final = time.time_ns
_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_set_span_in_context: Final = trace.set_span_in_context
_get_current_span: Final = trace.get_current_span
_SERVER: Final = SpanKind.SERVER
_INTERNAL: Final = SpanKind.INTERNAL
_ERROR: Final = StatusCode.ERROR
_SHARED_CACHE_LIMIT: Final = 256

# (key, attributes) of one http.server.active_requests attribute set
ActiveKey = tuple[tuple[tuple[str, AttributeValue], ...], dict[str, AttributeValue]]


class ServerTelemetry:
    """Everything resolved once for one instrumented WSGI app."""

    __slots__ = (
        "_shared",
        "excluded",
        "headers",
        "methods",
        "metrics",
        "mode",
        "new",
        "old",
        "redactor",
        "tracer",
    )

    def __init__(
        self,
        *,
        scope: str,
        version: str,
        library: str,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        excluded_urls: Optional[object] = None,
        mode: Optional[SemconvMode] = None,
    ) -> None:
        self.mode = mode if mode is not None else opt_in_mode("http")
        self.old = self.mode.old
        self.new = self.mode.new
        url = schema_url("http", self.mode)
        self.tracer = trace.get_tracer(scope, version, tracer_provider, schema_url=url)
        meter = shared_meter(scope, version, meter_provider, schema_url=url)
        active = active_requests(scope, version, meter_provider, url)
        self.metrics = HttpServerMetrics(meter, self.mode, active)
        self.excluded: Optional[ExcludedUrls] = (
            ExcludedUrls.from_config(library, excluded_urls)  # type: ignore[arg-type]
            or None
        )
        self.headers: Optional[HeaderCapture] = HeaderCapture.from_config("SERVER") or None
        self.methods = MethodNormalizer.from_env()
        self.redactor = UrlRedactor.from_env()
        self._shared: dict[tuple[Any, ...], tuple[dict[str, AttributeValue], ActiveKey]] = {}

    def is_excluded(self, environ: Environ) -> bool:
        excluded = self.excluded
        return excluded is not None and excluded.matches(request_url(environ))

    def begin(self, environ: Environ) -> ServerCall:
        """Start the clock on a request and count it as active."""
        return ServerCall(self, environ)

    def request_attributes(
        self, environ: Environ, method: str, original: Optional[str]
    ) -> dict[str, AttributeValue]:
        """The span attributes of a request, in the configured semconv mode(s)."""
        return self.request_attributes_and_active_key(environ, method, original)[0]

    def request_attributes_and_active_key(
        self, environ: Environ, method: str, original: Optional[str]
    ) -> tuple[dict[str, AttributeValue], ActiveKey]:
        """The request's span attributes and its ``http.server.active_requests`` key.

        What stays the same across requests of one client and server (method, scheme, host,
        port, protocol, user agent) is computed once per distinct combination and cached; a
        request then copies it and adds its own target, path, query and peer.
        """
        get = environ.get
        key = (
            method,
            original,
            get("SERVER_NAME"),
            get("wsgi.url_scheme"),
            get("HTTP_HOST"),
            get("SERVER_PORT"),
            get("SERVER_PROTOCOL"),
            get("HTTP_USER_AGENT"),
        )
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared_attributes(key)
            if len(self._shared) >= _SHARED_CACHE_LIMIT:
                self._shared.clear()
            self._shared[key] = shared
        attrs = dict(shared[0])
        remote_addr = get("REMOTE_ADDR")
        remote_port = get("REMOTE_PORT")
        if self.old:
            target = get("RAW_URI") or get("REQUEST_URI")
            if target:
                attrs[n.HTTP_TARGET] = self.redactor.redact_target(target)
            else:
                attrs[n.HTTP_URL] = self.redactor.redact_url(request_url(environ))
            if remote_addr:
                attrs[n.NET_PEER_IP] = remote_addr
            if remote_port:
                peer_port = _int(remote_port)
                if peer_port is not None:
                    attrs[n.NET_PEER_PORT] = peer_port
            remote_host = get("REMOTE_HOST")
            if remote_host and remote_host != remote_addr:
                attrs[n.NET_PEER_NAME] = remote_host
        if self.new:
            attrs[n.URL_PATH] = (get("SCRIPT_NAME") or "") + (get("PATH_INFO") or "") or "/"
            query = get("QUERY_STRING")
            if query:
                attrs[n.URL_QUERY] = self.redactor.redact_query(query)
            if remote_addr:
                attrs[n.CLIENT_ADDRESS] = remote_addr
            if remote_port:
                client_port = _int(remote_port)
                if client_port is not None:
                    attrs[n.CLIENT_PORT] = client_port
        return attrs, shared[1]

    def _shared_attributes(
        self, key: tuple[Any, ...]
    ) -> tuple[dict[str, AttributeValue], ActiveKey]:
        method, original, server_name, scheme, host, server_port, protocol, user_agent = key
        attrs: dict[str, AttributeValue] = {}
        flavor = protocol_version(protocol)
        if self.old:
            attrs[n.HTTP_METHOD] = method
            if server_name:
                attrs[n.HTTP_SERVER_NAME] = server_name
            if scheme:
                attrs[n.HTTP_SCHEME] = scheme
            if host:
                attrs[n.NET_HOST_NAME] = host
                attrs[n.HTTP_HOST] = host
            if server_port:
                port = _int(server_port)
                if port is not None:
                    attrs[n.NET_HOST_PORT] = port
            if user_agent:
                attrs[n.HTTP_USER_AGENT] = user_agent
            if flavor:
                attrs[n.HTTP_FLAVOR] = flavor
        if self.new:
            attrs[n.HTTP_REQUEST_METHOD] = method
            if original is not None:
                attrs[n.HTTP_REQUEST_METHOD_ORIGINAL] = original
            if scheme:
                attrs[n.URL_SCHEME] = scheme
            address, address_port = _split_host(host) if host else (server_name, None)
            if address:
                attrs[n.SERVER_ADDRESS] = address
            if address_port is None and server_port:
                address_port = _int(server_port)
            if address_port is not None:
                attrs[n.SERVER_PORT] = address_port
            if user_agent:
                attrs[n.USER_AGENT_ORIGINAL] = user_agent
            if flavor:
                attrs[n.NETWORK_PROTOCOL_VERSION] = flavor
        if user_agent:
            synthetic = synthetic_user_agent_type(user_agent)
            if synthetic is not None:
                attrs[n.USER_AGENT_SYNTHETIC_TYPE] = synthetic
        active = {k: attrs[k] for k in self.metrics.active_keys if k in attrs}
        return attrs, (tuple(active.items()), active)


def _int(value: object) -> Optional[int]:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return None


def _split_host(host: str) -> tuple[str, Optional[int]]:
    """``("example.com", 8080)`` from ``"example.com:8080"``; ``[::1]:80`` gives ``("::1", 80)``."""
    if host.startswith("["):
        end = host.find("]")
        if end != -1:
            rest = host[end + 1 :]
            return host[1:end], _int(rest[1:]) if rest.startswith(":") else None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, None


class ServerCall:
    """One request: its span, its attributes (shared by span and metrics) and its end."""

    __slots__ = (
        "active_key",
        "attributes",
        "context",
        "environ",
        "errored",
        "finished",
        "method",
        "original_method",
        "recorded",
        "route",
        "server_kind",
        "span",
        "start_ns",
        "status_code",
        "streaming",
        "telemetry",
    )

    def __init__(self, telemetry: ServerTelemetry, environ: Environ) -> None:
        self.start_ns = _time_ns()
        self.telemetry = telemetry
        self.environ = environ
        self.method, self.original_method = telemetry.methods.normalize(
            environ.get("REQUEST_METHOD") or ""
        )
        self.attributes, active = telemetry.request_attributes_and_active_key(
            environ, self.method, self.original_method
        )
        self.span: Optional[Span] = None
        self.context: Optional[Context] = None
        self.route: Optional[str] = None
        self.server_kind = False  # headers are captured on SERVER spans only, as upstream
        self.status_code = 0
        self.errored = False
        self.finished = False
        self.streaming = True
        self.recorded: Optional[BaseException] = None
        self.active_key = active[0]
        telemetry.metrics.active_requests.increment(*active)

    def span_name(self, route: Optional[str] = None) -> str:
        """``"{METHOD} {route}"``; ``_OTHER`` is named ``HTTP``; no route gives the method."""
        method = "HTTP" if self.method == "_OTHER" else self.method
        return f"{method} {route}" if route else method

    def start_span(self, name: str, route: Optional[str] = None) -> Span:
        """Start the span (SERVER, or INTERNAL under an active span) with every attribute."""
        if route:
            self.route = route
            self.attributes[n.HTTP_ROUTE] = route
        telemetry = self.telemetry
        if _get_current_span().get_span_context().is_valid:
            span = telemetry.tracer.start_span(
                name, kind=_INTERNAL, attributes=self.attributes, start_time=self.start_ns
            )
            self.context = _set_span_in_context(span)
        else:
            parent = extract(self.environ, getter=wsgi_getter)
            span = telemetry.tracer.start_span(
                name,
                parent,
                kind=_SERVER,
                attributes=self.attributes,
                start_time=self.start_ns,
            )
            self.context = _set_span_in_context(span, parent)
            self.server_kind = True
            headers = telemetry.headers
            if headers is not None and headers.request and span.is_recording():
                captured = headers.request.attributes(request_headers(self.environ))
                span.set_attributes(captured)
        self.span = span
        return span

    def ensure_span(self) -> Span:
        span = self.span
        if span is None:
            span = self.start_span(self.span_name())
        return span

    def on_response(self, status: str, headers: list[tuple[str, str]]) -> None:
        """Record the status line and captured response headers (called from start_response)."""
        span = self.ensure_span()
        code = parse_status_line(status)
        self.status_code = code
        attrs = self.attributes
        telemetry = self.telemetry
        if code < 0:
            if telemetry.new:
                attrs[n.ERROR_TYPE] = status
            self._set_error(span, f"Non-integer HTTP status: {status}")
        else:
            if telemetry.old:
                attrs[n.HTTP_STATUS_CODE] = code
            if telemetry.new:
                attrs[n.HTTP_RESPONSE_STATUS_CODE] = code
            if server_status_is_error(code):
                if telemetry.new:
                    attrs[n.ERROR_TYPE] = str(code)
                self._set_error(span, None)
        if span.is_recording():
            if code >= 0:
                if telemetry.old:
                    span.set_attribute(n.HTTP_STATUS_CODE, code)
                if telemetry.new:
                    span.set_attribute(n.HTTP_RESPONSE_STATUS_CODE, code)
            error_type = attrs.get(n.ERROR_TYPE)
            if error_type is not None:
                span.set_attribute(n.ERROR_TYPE, error_type)
            capture = telemetry.headers
            if capture is not None and capture.response and self.server_kind:
                span.set_attributes(capture.response.attributes(headers))

    def _set_error(self, span: Span, description: Optional[str]) -> None:
        if not self.errored:
            self.errored = True
            span.set_status(Status(_ERROR, description))

    def record_exception(self, exc: BaseException, *, error_type: bool) -> None:
        """Record ``exc`` on the span: an ``exception`` event and ERROR ``"Type: message"``.

        ``error_type`` sets ``error.type`` to the exception's class (stable conventions); a
        framework that turns the exception into a 500 response passes False, so ``error.type``
        becomes ``"500"`` from the status, as upstream's Flask and Django do.
        """
        span = self.ensure_span()
        event, description = redacted_exception(exc, self.telemetry.redactor)
        if self.recorded is not exc and span.is_recording():
            span.record_exception(exc, attributes=event)
        self.recorded = exc
        if not self.errored:
            self.errored = True
            span.set_status(Status(_ERROR, description))
        if error_type and self.telemetry.new:
            qualname = type(exc).__qualname__
            self.attributes[n.ERROR_TYPE] = qualname
            span.set_attribute(n.ERROR_TYPE, qualname)

    def finish(self, exc: Optional[BaseException] = None) -> None:
        """End the span and record the metrics; only the first call does anything."""
        if self.finished:
            return
        self.finished = True
        end_ns = _time_ns()
        span = self.ensure_span()
        if exc is not None:
            self.record_exception(exc, error_type=True)
        span.end(end_ns)
        telemetry = self.telemetry
        telemetry.metrics.record_duration(
            end_ns - self.start_ns, self.attributes, self.route, self.context
        )
        telemetry.metrics.active_requests.decrement(self.active_key)

    def wrap_start_response(
        self,
        start_response: StartResponse,
        hook: Optional[Callable[[Span, str, list[tuple[str, str]]], None]] = None,
    ) -> StartResponse:
        """``start_response`` that records the status first (and injects ``traceresponse``
        when a response propagator is set), then runs ``hook(span, status, headers)``."""

        def traced_start_response(
            status: str, response_headers: list[tuple[str, str]], *args: Any
        ) -> Callable[[bytes], object]:
            try:
                propagator = get_global_response_propagator()  # type: ignore[no-untyped-call]
                if propagator is not None and self.context is not None:
                    propagator.inject(response_headers, self.context, setter=_header_list_setter)
                self.on_response(status, response_headers)
                if hook is not None:
                    hook(self.ensure_span(), status, response_headers)
            except Exception:  # never let telemetry break the response
                logger.debug("recording the response failed", exc_info=True)
            return start_response(status, response_headers, *args)

        return traced_start_response

    def wrap_response(self, iterable: Iterable[bytes]) -> Iterable[bytes]:
        """The response body, ending the span and metrics when the server closes it.

        A body that is already in memory (a list or tuple, or a framework response that says it
        is not streamed: ``streaming`` False) ends the request now and is returned unchanged.
        """
        if not self.streaming or isinstance(iterable, (list, tuple)):
            self.finish()
            return iterable
        return ResponseIterable(iterable, self)


class _HeaderListSetter:
    """Writes propagation headers into a WSGI header list."""

    @staticmethod
    def set(carrier: list[tuple[str, str]], key: str, value: str) -> None:
        carrier.append((key, value))


_header_list_setter: Final = _HeaderListSetter()


class ResponseIterable:
    """A WSGI response body that keeps the span current while it is read and ends it on close.

    A plain ``__slots__`` class rather than a ``wrapt`` proxy: it sits on the per-chunk path.
    """

    __slots__ = ("_call", "_iterable", "_iterator")

    def __init__(self, iterable: Iterable[bytes], call: ServerCall) -> None:
        self._iterable = iterable
        self._call = call
        self._iterator: Optional[Iterator[bytes]] = None

    def __iter__(self) -> Iterator[bytes]:
        self._iterator = iter(self._iterable)
        return self

    def __next__(self) -> bytes:
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = iter(self._iterable)
        call = self._call
        token = _attach(call.context) if call.context is not None else None
        try:
            return next(iterator)
        except StopIteration:
            raise
        except BaseException as exc:
            call.finish(exc)
            raise
        finally:
            if token is not None:
                _detach(token)

    def close(self) -> None:
        call = self._call
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            call.finish(exc)
            raise
        finally:
            call.finish()


def collect_request_attributes(
    environ: Environ, mode: Optional[SemconvMode] = None
) -> dict[str, AttributeValue]:
    """Upstream's helper: the span attributes of a request (no metrics, no span)."""
    telemetry = _attribute_builder(mode if mode is not None else opt_in_mode("http"))
    # Read the method variables on each call, as upstream's sanitize_method does.
    method, original = MethodNormalizer.from_env().normalize(environ.get("REQUEST_METHOD") or "")
    return telemetry.request_attributes(environ, method, original)


_builders: dict[str, ServerTelemetry] = {}


def _attribute_builder(mode: SemconvMode) -> ServerTelemetry:
    builder = _builders.get(mode.name)
    if builder is None:
        builder = _builders[mode.name] = ServerTelemetry(
            scope="instrumentarium.wsgi",
            version="",
            library="WSGI",
            tracer_provider=NoOpTracerProvider(),
            meter_provider=NoOpMeterProvider(),
            mode=mode,
        )
    return builder
