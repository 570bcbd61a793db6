"""The server side of one HTTP request, whatever the protocol: a request in, one span and its
metrics out. Shared by every server instrumentor (WSGI, Flask, Django, ASGI, Starlette, FastAPI).

``ServerRequest`` describes the request (an adapter per protocol fills it: ``WsgiRequest`` reads a
WSGI environ, ``AsgiRequest`` an ASGI scope); ``ServerTelemetry`` is built once per instrumented
app (tracer, instruments, compiled patterns); ``ServerCall`` carries one request from its first
byte to its end::

    request = WsgiRequest(environ)           # what the core reads, whatever the protocol
    if telemetry.is_excluded(request): ...   # the app runs untraced
    call = telemetry.begin(request)          # clock starts, attributes built, active_requests +1
    call.start_span(name, route)             # the attributes go to the sampler
    token = attach(call.context)             # the span is current while the app runs ...
    result = app(...)
    detach(token)                            # ... attached and detached in the same frame
    call.on_response(status, headers)        # status, error rules, captured response headers
    return call.wrap_response(result)        # span and metrics end when the body is closed

Every path ends the span exactly once: return, exception, a body that raises while streaming,
and a body that is closed before it was read. ``finish`` runs under a guard: an error in our own
step is logged once and the request goes on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, Callable, ClassVar, Final, Optional, Protocol, TypeVar, Union

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.metrics import MeterProvider
from opentelemetry.propagate import extract
from opentelemetry.propagators.textmap import Getter, Setter, default_setter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.config import env_flag
from instrumentarium.util.metrics import shared_meter
from instrumentarium.util.net import split_host_port
from instrumentarium.util.safety import guard
from instrumentarium.util.semconv import SemconvMode, opt_in_mode, schema_url

from . import _names as n
from ._excluded import EXCLUDED_SUPPRESS_ENV, ExcludedUrls
from ._headers import HeaderCapture
from ._methods import MethodNormalizer
from ._metrics import HttpServerMetrics, active_requests
from ._redact import UrlRedactor, redacted_exception
from ._status import (
    parse_status_line,
    protocol_version,
    server_status_is_error,
    synthetic_user_agent_type,
)

__all__ = [
    "BufferedBody",
    "METRIC_HOSTS_KEPT",
    "OTHER_HOST",
    "ResponseIterable",
    "ServerCall",
    "ServerOptions",
    "ServerRequest",
    "ServerTelemetry",
]

_time_ns: Final = time.time_ns
_attach: Final = otel_context.attach
_R = TypeVar("_R")
_DECLINED: Final = guard("checking whether an untraced request is excluded")
_detach: Final = otel_context.detach
_set_value: Final = otel_context.set_value
_set_span_in_context: Final = trace.set_span_in_context
_get_current_span: Final = trace.get_current_span
_SERVER: Final = SpanKind.SERVER
_INTERNAL: Final = SpanKind.INTERNAL
_ERROR: Final = StatusCode.ERROR
_SHARED_CACHE_LIMIT: Final = 256
# Distinct (SERVER_NAME, Host, SERVER_PORT) an app's metrics keep; later ones are one value.
METRIC_HOSTS_KEPT: Final = 100
OTHER_HOST: Final = "_OTHER"
# The metric attributes that come from the Host header (and, under some servers, SERVER_NAME /
# SERVER_PORT, which gunicorn on a unix socket takes from it).
_HOST_METRIC_KEYS: Final = (n.HTTP_HOST, n.NET_HOST_NAME, n.HTTP_SERVER_NAME)
_FINISHING: Final = guard("ending the HTTP server span")

Port = Union[int, str, None]  # as the server gives it: "8080" (WSGI) or 8080 (ASGI)


class ServerRequest:
    """One incoming request, as the server core reads it, whatever the protocol.

    An adapter per protocol (``WsgiRequest``; an ASGI scope's is the same size) fills the slots in
    its ``__init__`` with the values as the server gave them (the core parses each distinct value
    once), and implements ``url()`` and ``headers()``, which the core calls only when it needs
    them (an excluded-URL check, header capture). Slots rather than methods for the rest: every
    request reads them, and a method call costs more than the lookup it wraps.
    """

    __slots__ = (
        "carrier",
        "host",
        "method",
        "path",
        "peer_address",
        "peer_name",
        "peer_port",
        "protocol",
        "query",
        "scheme",
        "server_name",
        "server_port",
        "target",
        "user_agent",
    )

    getter: ClassVar[Getter[Any]]  # reads the propagation headers (traceparent...) of `carrier`

    carrier: Any
    method: str  # as sent; the core normalizes it
    scheme: Optional[str]
    host: Optional[str]  # the Host header (HTTP/2 :authority), with its port when one was sent
    server_name: Optional[str]  # the server's own name: used when no Host was sent
    server_port: Port
    protocol: Optional[str]  # "HTTP/1.1" or "1.1"
    user_agent: Optional[str]
    target: Optional[str]  # the request target as sent (path?query); None when not kept
    path: str  # "/" for the root
    query: Optional[str]  # without "?"; None or empty when there is none
    peer_address: Optional[str]  # the client's address
    peer_port: Port
    peer_name: Optional[str]  # the client's host name, when the server looked it up

    def url(self) -> str:
        """The full URL, query included, as the client asked for it."""
        raise NotImplementedError

    def decode_bytes(self) -> bool:
        """Turn every ``bytes`` value into text (Latin-1, as HTTP header bytes are): a server
        or a test client that hands bytes where text is due; False when there was none. The
        core calls it only when a ``TypeError`` says so, so text costs nothing."""
        found = False
        for name in ServerRequest.__slots__:
            value = getattr(self, name, None)
            if isinstance(value, bytes) and name != "carrier":
                setattr(self, name, value.decode("latin-1"))
                found = True
        return found

    def headers(self) -> Iterable[tuple[str, str]]:
        """The request headers as ``(name, value)`` pairs."""
        raise NotImplementedError


class ServerOptions(Protocol):
    """The options every server instrumentor has (its ``<Lib>Config`` declares them)."""

    @property
    def tracer_provider(self) -> Optional[TracerProvider]: ...
    @property
    def meter_provider(self) -> Optional[MeterProvider]: ...
    @property
    def excluded_urls(self) -> Union[str, Iterable[str], None]: ...


class ServerTelemetry:
    """Everything resolved once for one instrumented app; an instrumentor's ``<Lib>Telemetry``
    subclasses it to add its hooks and options."""

    __slots__ = (
        "_metric_hosts",
        "_shared",
        "excluded",
        "headers",
        "methods",
        "metrics",
        "mode",
        "new",
        "old",
        "redactor",
        "suppress_excluded",
        "tracer",
    )

    # Whether the request's host is what ``net.host.name`` reports (WSGI: the Host header); an
    # ASGI host is the server's address and port, which upstream's ASGI layer does not report so.
    host_is_name: ClassVar[bool] = True

    def __init__(
        self,
        scope: str,
        version: str,
        library: str,
        options: ServerOptions,
        mode: Optional[SemconvMode] = None,
        *,
        sizes: bool = False,
    ) -> None:
        """``scope``, ``version``: the tracer's and meter's instrumentation scope; ``library``
        names ``OTEL_PYTHON_<LIBRARY>_EXCLUDED_URLS``; ``options``: the instrumentor's config;
        ``sizes``: also the request and response size histograms."""
        tracer_provider = options.tracer_provider
        meter_provider = options.meter_provider
        self.mode = mode if mode is not None else opt_in_mode("http")
        self.old = self.mode.old
        self.new = self.mode.new
        url = schema_url("http", self.mode)
        self.tracer = trace.get_tracer(scope, version, tracer_provider, schema_url=url)
        self.metrics = HttpServerMetrics(
            shared_meter(scope, version, meter_provider, schema_url=url),
            self.mode,
            active_requests(scope, version, meter_provider, url),
            sizes=sizes,
        )
        self.excluded: Optional[ExcludedUrls] = (
            ExcludedUrls.from_config(library, options.excluded_urls) or None
        )
        self.headers: Optional[HeaderCapture] = HeaderCapture.from_config("SERVER") or None
        self.suppress_excluded = env_flag(EXCLUDED_SUPPRESS_ENV, True)
        self.methods = MethodNormalizer.from_env()
        self.redactor = UrlRedactor.from_env()
        self._shared: dict[tuple[Any, ...], _Shared] = {}
        self._metric_hosts: set[tuple[Any, ...]] = set()

    def is_excluded(self, request: ServerRequest) -> bool:
        """Whether the request's URL matches an excluded pattern (the URL is built only when
        there are patterns)."""
        excluded = self.excluded
        return excluded is not None and excluded.matches(request.url())

    def enter_excluded(self) -> Optional[object]:
        """For an excluded request: suppress the instrumentation below it (its database and
        HTTP client calls make no orphan root spans) unless ``OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS``
        is false; the token to ``detach``, or None."""
        if not self.suppress_excluded:
            return None
        return _attach(_set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))

    def run_declined(self, request: ServerRequest, app: Callable[..., _R], *args: Any) -> _R:
        """``app(*args)`` for a request the instrumentor did not trace: for an excluded URL,
        with the instrumentation below it suppressed (see ``enter_excluded``); after our own
        failed step, as it is. The shared path of every synchronous server instrumentor."""
        token = _declined_token(self, request)
        if token is None:
            return app(*args)
        try:
            return app(*args)
        finally:
            _detach(token)  # type: ignore[arg-type]

    def begin(self, request: ServerRequest) -> ServerCall:
        """Start the clock on a request and count it as active."""
        return ServerCall(self, request)

    def request_attributes(
        self, request: ServerRequest, method: str, original: Optional[str]
    ) -> dict[str, AttributeValue]:
        """The span attributes of a request, in the configured semconv mode(s)."""
        return self.attributes_and_shared(request, method, original)[0]

    def attributes_and_shared(
        self, request: ServerRequest, method: str, original: Optional[str]
    ) -> tuple[dict[str, AttributeValue], _Shared]:
        """The request's span attributes, and what it shares with similar requests.

        What stays the same across requests of one client and server (method, scheme, host,
        port, protocol, user agent) is computed once per distinct combination and cached; a
        request then copies it and adds its own target, path, query and peer. Values a server
        gave as ``bytes`` are read as Latin-1 text (the ``TypeError`` they raise says so).
        """
        try:
            return self._attributes_and_shared(request, method, original)
        except TypeError:
            if not request.decode_bytes():
                raise
            return self._attributes_and_shared(request, method, original)

    def _attributes_and_shared(
        self, request: ServerRequest, method: str, original: Optional[str]
    ) -> tuple[dict[str, AttributeValue], _Shared]:
        key = (
            method,
            original,
            request.server_name,
            request.scheme,
            request.host,
            request.server_port,
            request.protocol,
            request.user_agent,
        )
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared_attributes(key)
            if len(self._shared) >= _SHARED_CACHE_LIMIT:
                self._shared.clear()
            self._shared[key] = shared
        attrs = dict(shared.attributes)
        peer_address = request.peer_address
        peer_port = request.peer_port
        port = _int(peer_port) if peer_port else None  # parsed once for either mode
        if self.old:
            target = request.target
            if target:
                attrs[n.HTTP_TARGET] = self.redactor.redact_target(target)
            else:
                attrs[n.HTTP_URL] = self.redactor.redact_url(request.url())
            if peer_address:
                attrs[n.NET_PEER_IP] = peer_address
            if port is not None:
                attrs[n.NET_PEER_PORT] = port
            peer_name = request.peer_name
            if peer_name and peer_name != peer_address:
                attrs[n.NET_PEER_NAME] = peer_name
        if self.new:
            attrs[n.URL_PATH] = request.path
            query = request.query
            if query:
                attrs[n.URL_QUERY] = self.redactor.redact_query(query)
            if peer_address:
                attrs[n.CLIENT_ADDRESS] = peer_address
            if port is not None:
                attrs[n.CLIENT_PORT] = port
        return attrs, shared

    def _shared_attributes(self, key: tuple[Any, ...]) -> _Shared:
        method, original, server_name, scheme, host, server_port, protocol, user_agent = key
        if host and "@" in host:  # userinfo of an absolute-form target: a secret, never a host
            host = host.rpartition("@")[2]
        flavor = protocol_version(protocol)
        port = _int(server_port) if server_port else None
        pairs: list[tuple[str, Any]] = []
        if self.old:
            pairs += (
                (n.HTTP_METHOD, method),
                (n.HTTP_SERVER_NAME, server_name),
                (n.HTTP_SCHEME, scheme),
                (n.NET_HOST_NAME, host if self.host_is_name else None),
                (n.HTTP_HOST, host),
                (n.NET_HOST_PORT, port),
                (n.HTTP_USER_AGENT, user_agent),
                (n.HTTP_FLAVOR, flavor),
            )
        if self.new:
            # server.address/port: from Host, else the server's own name and port
            address, address_port = split_host_port(host, port) if host else (server_name, port)
            pairs += (
                (n.HTTP_REQUEST_METHOD, method),
                (n.HTTP_REQUEST_METHOD_ORIGINAL, original),
                (n.URL_SCHEME, scheme),
                (n.SERVER_ADDRESS, address),
                (n.SERVER_PORT, address_port),
                (n.USER_AGENT_ORIGINAL, user_agent),
                (n.NETWORK_PROTOCOL_VERSION, flavor),
            )
        pairs.append((n.USER_AGENT_SYNTHETIC_TYPE, synthetic_user_agent_type(user_agent)))
        # An empty text is no value (an empty SERVER_NAME or Host is left out); 0 is a value.
        attrs: dict[str, AttributeValue] = {
            name: value for name, value in pairs if value is not None and value != ""
        }
        return _Shared(attrs, self.metrics, self._keeps_metric_host(server_name, host, port))

    def _keeps_metric_host(self, server_name: Any, host: Any, port: Optional[int]) -> bool:
        """Whether the metrics keep this host as sent: the first ``METRIC_HOSTS_KEPT``
        distinct hosts do; later ones are recorded as ``OTHER_HOST``. Anyone who can send a
        request chooses its Host: without a bound, each new value would be one more attribute
        set kept in ``http.server.active_requests`` and the duration histogram, for good.
        Asked once per distinct request description (``_shared`` caches the answer)."""
        kept = self._metric_hosts
        key = (server_name, host, port)
        if key in kept:
            return True
        if len(kept) < METRIC_HOSTS_KEPT:
            kept.add(key)
            return True
        return False


class _Shared:
    """What requests with the same method, scheme, host, port, protocol and user agent share:
    their span attributes so far, their ``http.server.active_requests`` attribute set (and its
    key) and the request part of their duration attribute sets. ``host_kept`` False: the
    metric sets carry ``OTHER_HOST`` for the host and server name, and no ``net.host.port``."""

    __slots__ = ("active_attributes", "active_key", "attributes", "duration_bases")

    def __init__(
        self,
        attributes: dict[str, AttributeValue],
        metrics: HttpServerMetrics,
        host_kept: bool = True,
    ) -> None:
        self.attributes = attributes
        measured = attributes
        if not host_kept:
            measured = dict(attributes)
            measured.pop(n.NET_HOST_PORT, None)
            for key in _HOST_METRIC_KEYS:
                if key in measured:
                    measured[key] = OTHER_HOST
        active = {k: measured[k] for k in metrics.active_keys if k in measured}
        self.active_attributes = active
        self.active_key = tuple(active.items())
        self.duration_bases = metrics.duration_bases(measured)


def _int(value: object) -> Optional[int]:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return None


class ServerCall:
    """One request: its span, its attributes (shared by span and metrics) and its end."""

    __slots__ = (
        "attributes",
        "context",
        "errored",
        "finished",
        "measured",
        "method",
        "original_method",
        "recorded",
        "request",
        "route",
        "server_kind",
        "shared",
        "span",
        "start_ns",
        "status_code",
        "streaming",
        "telemetry",
    )

    def __init__(
        self, telemetry: ServerTelemetry, request: ServerRequest, measured: bool = True
    ) -> None:
        """``measured``: False for a request that has no HTTP metrics (a websocket)."""
        self.start_ns = _time_ns()
        self.telemetry = telemetry
        self.request = request
        self.method, self.original_method = telemetry.methods.normalize(request.method)
        self.attributes, shared = telemetry.attributes_and_shared(
            request, self.method, self.original_method
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
        self.shared = shared
        self.measured = measured
        if measured:
            telemetry.metrics.active_requests.increment(shared.active_key, shared.active_attributes)

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
            request = self.request
            parent = extract(request.carrier, getter=request.getter)
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
                span.set_attributes(headers.request.attributes(request.headers()))
        self.span = span
        return span

    def ensure_span(self) -> Span:
        span = self.span
        if span is None:
            span = self.start_span(self.span_name())
        return span

    def set_route(self, route: Optional[str], name: Optional[str] = None) -> None:
        """A route known once the span has started (Django resolves it inside the app): it
        becomes ``http.route`` (span and duration metric) and renames the span
        ``"{METHOD} {route}"``; without a route, ``name`` (a URL name) renames it alone."""
        span = self.span
        if span is None:
            return
        method = self.method
        if route:
            self.route = route
            self.attributes[n.HTTP_ROUTE] = route
            if span.is_recording():
                span.set_attribute(n.HTTP_ROUTE, route)
                if method != "_OTHER":
                    span.update_name(f"{method} {route}")
        elif name and method != "_OTHER" and span.is_recording():
            span.update_name(f"{method} {name}")

    def on_response(self, status: Union[str, int], headers: Iterable[tuple[str, str]] = ()) -> None:
        """Record the status (a status line, or its code) and the captured response headers."""
        span = self.span
        if span is None:
            span = self.start_span(self.span_name())
        code = status if isinstance(status, int) else parse_status_line(status)
        self.status_code = code
        attrs = self.attributes
        telemetry = self.telemetry
        if code < 0:
            if telemetry.new:
                attrs[n.ERROR_TYPE] = str(status)
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

    def propagate_response(self, carrier: Any, setter: Setter[Any] = default_setter) -> None:
        """Write ``traceresponse`` (or what the global response propagator writes) into the
        response headers ``carrier``; nothing when no response propagator is set."""
        propagator = get_global_response_propagator()  # type: ignore[no-untyped-call]
        if propagator is not None and self.context is not None:
            propagator.inject(carrier, self.context, setter=setter)

    def _set_error(self, span: Span, description: Optional[str]) -> None:
        if not self.errored:
            self.errored = True
            span.set_status(Status(_ERROR, description))

    def record_exception_event(self, exc: BaseException) -> None:
        """One ``exception`` event for ``exc`` (none when it is already recorded), without the
        status: the framework may still turn it into a response that is not an error."""
        if self.recorded is exc or self.finished:
            return
        span = self.span
        if span is not None and span.is_recording():
            event, _ = redacted_exception(exc, self.telemetry.redactor)
            span.record_exception(exc, attributes=event)
        self.recorded = exc

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

    @_FINISHING
    def finish(self, exc: Optional[BaseException] = None) -> None:
        """End the span and record the metrics; only the first call does anything, and a
        failure of our own is logged (the guard), never raised into the server."""
        if self.finished:
            return
        self.finished = True
        end_ns = _time_ns()
        metrics = self.telemetry.metrics
        try:
            span = self.span
            if span is None:
                span = self.start_span(self.span_name())
            if exc is not None:
                self.record_exception(exc, error_type=True)
            span.end(end_ns)
            if self.measured:
                self.record_metrics(end_ns)
        finally:
            if self.measured:
                metrics.active_requests.decrement(self.shared.active_key)

    def record_metrics(self, end_ns: int) -> None:
        """Record the request's duration (a subclass adds what its protocol measures)."""
        self.telemetry.metrics.record_duration(
            end_ns - self.start_ns,
            self.attributes,
            self.route,
            self.context,
            self.shared.duration_bases,
        )

    def wrap_response(self, iterable: Iterable[bytes]) -> Iterable[bytes]:
        """The response body, ending the span and metrics when the server closes it.

        A body that is already in memory (a list or tuple, or a framework response that says it
        is not streamed: ``streaming`` False) ends the request now; a list or tuple comes back as
        a ``BufferedBody``, an iterator that is still a list.
        """
        if isinstance(iterable, (list, tuple)):
            self.finish()
            return BufferedBody(iterable)
        if not self.streaming:
            self.finish()
            return iterable
        return ResponseIterable(iterable, self)


class BufferedBody(list):  # type: ignore[type-arg]
    """A body the app returned in memory, its request already ended: still a list (a server
    that sees one item sets ``Content-Length`` from it, and iterates it at C speed) and also an
    iterator, as upstream's wrapped response is, so ``next(body)`` works."""

    __slots__ = ("_iterator",)

    _iterator: Iterator[bytes]

    def __next__(self) -> bytes:
        try:
            iterator = self._iterator
        except AttributeError:
            iterator = self._iterator = list.__iter__(self)
        return next(iterator)


class ResponseIterable:
    """A response body that keeps the span current while it is read and ends it on close.

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


def _declined_token(telemetry: ServerTelemetry, request: ServerRequest) -> Optional[object]:
    """The suppression token for a declined request whose URL is excluded, else None (also
    when the check itself fails: logged, and the request goes on unsuppressed)."""
    if telemetry.excluded is None or not telemetry.suppress_excluded:
        return None
    with _DECLINED:
        if telemetry.is_excluded(request):
            return telemetry.enter_excluded()
    return None
