"""One ASGI connection, traced: what every ASGI front (the middleware, Starlette, FastAPI) runs.

``serve(telemetry, app, owner, scope, receive, send)``::

    lifespan, suppressed, or already traced    -> app(scope, receive, send) as is
    call = telemetry.start(scope, owner)        guarded: clock, attributes, span (named by
                                                the front: path, or route template), hook
    token = attach(call.context)                the span is current while the app runs,
    await app(scope, call.receive, call.send)   and for what runs after the response
    |  send(http.response.start)                status, headers, response size, traceresponse
    |  send(last http.response.body)            the span ends, metrics recorded (once)
    detach(token); call.finish()                any path not ended yet: exception,
                                                disconnect, websocket close, cancellation

An excluded URL runs untraced and unmeasured, with the instrumentation below it suppressed
(``OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS=false``: upstream's behaviour, the calls below traced).

Each ``send`` and ``receive`` gets an INTERNAL span (``"{name} http send"``) unless
``exclude_spans`` drops it; a dropped kind is not even wrapped. Under a server span that is not
recording (sampled out) neither gets one: the sampler would drop them too (a parent-based sampler
drops the children of a dropped parent, a trace-id ratio gives them the parent's trace id and so
its decision), and a sampled-out request then costs what its metrics cost, not four spans.
``scope["instrumentarium.asgi"]`` marks a traced connection, so a traced app inside a traced app
(a mounted sub-app, the middleware twice) adds no second span. State lives on the
``AsgiCall``, one per connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Iterator, MutableMapping
from typing import Any, Callable, Final, Optional, Protocol, Union

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.http import (
    ActiveRequests,
    AsgiRequest,
    HeaderCapture,
    HttpServerMetrics,
    MethodNormalizer,
    ServerCall,
    ServerOptions,
    ServerTelemetry,
    asgi_setter,
    http_instrumentation_suppressed,
    names,
)
from instrumentarium.util.safety import guard, safe_hook

from ._config import DefaultSpanDetails
from .version import __version__

__all__ = [
    "CALL_KEY",
    "AsgiCall",
    "AsgiOptions",
    "AsgiTelemetry",
    "RouteOf",
    "get_default_span_details",
    "serve",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
# (owner, scope) -> the route template of the request, or None: a framework's router
RouteOf = Callable[[Any, Scope], Optional[str]]

CALL_KEY: Final = "instrumentarium.asgi"
ASGI_EVENT_TYPE: Final = "asgi.event.type"
_TRACED: Final = frozenset({"http", "websocket"})
_INTERNAL: Final = SpanKind.INTERNAL
_ERROR: Final = StatusCode.ERROR
_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_set_span_in_context: Final = trace.set_span_in_context
_STARTING: Final = guard("starting the ASGI request's span")
_SENDING: Final = guard("recording an ASGI send")
_RECEIVING: Final = guard("recording an ASGI receive")
_FAILING: Final = guard("recording the ASGI app's exception")
_METHOD_KEYS: Final = (names.HTTP_METHOD, names.HTTP_REQUEST_METHOD, "http.request.method_original")


class AsgiOptions(ServerOptions, Protocol):
    """The options every ASGI front has (``AsgiConfig``, ``StarletteConfig``,
    ``FastAPIConfig``); ``tracer``, ``meter`` and ``default_span_details`` are read when present
    (the middleware's own)."""

    @property
    def server_request_hook(self) -> Optional[Callable[..., None]]: ...
    @property
    def client_request_hook(self) -> Optional[Callable[..., None]]: ...
    @property
    def client_response_hook(self) -> Optional[Callable[..., None]]: ...
    @property
    def http_capture_headers_server_request(self) -> Optional[list[str]]: ...
    @property
    def http_capture_headers_server_response(self) -> Optional[list[str]]: ...
    @property
    def http_capture_headers_sanitize_fields(self) -> Optional[list[str]]: ...
    @property
    def exclude_spans(self) -> Optional[Iterable[str]]: ...


class AsgiTelemetry(ServerTelemetry):
    """The server core built once from an ``AsgiConfig``, with the hooks, the internal-span
    switches and the front's naming rule (``route_of``: a framework's router)."""

    __slots__ = (
        "client_request_hook",
        "client_response_hook",
        "receive_spans",
        "route_of",
        "send_spans",
        "server_request_hook",
        "span_details",
        "websocket_method",
    )

    host_is_name = False  # the host is the server's "address:port": no net.host.name

    def __init__(
        self,
        config: AsgiOptions,
        scope: str = "instrumentarium.asgi",
        version: str = __version__,
        library: str = "ASGI",
        *,
        route_of: Optional[RouteOf] = None,
        websocket_method: bool = True,
    ) -> None:
        """``scope``, ``version``: the instrumentation scope; ``library`` names
        ``OTEL_PYTHON_<LIBRARY>_EXCLUDED_URLS``; ``route_of`` finds a request's route template
        (None: named by its path); ``websocket_method``: a websocket span is named
        ``"HTTP {route}"`` (upstream's ASGI and FastAPI) rather than ``"{route}"`` (Starlette)."""
        super().__init__(scope, version, library, config, sizes=True)
        tracer = getattr(config, "tracer", None)
        if tracer is not None:
            self.tracer = tracer
        meter = getattr(config, "meter", None)
        if meter is not None:
            self.metrics = HttpServerMetrics(meter, self.mode, ActiveRequests(meter), sizes=True)
        request, response, sanitize = (
            config.http_capture_headers_server_request or None,
            config.http_capture_headers_server_response or None,
            config.http_capture_headers_sanitize_fields or None,
        )
        if request is not None or response is not None or sanitize is not None:
            self.headers = HeaderCapture.from_config("SERVER", request, response, sanitize) or None
        excluded = {str(kind).lower() for kind in config.exclude_spans or ()}
        self.receive_spans = "receive" not in excluded
        self.send_spans = "send" not in excluded
        self.server_request_hook = safe_hook(config.server_request_hook, "server_request_hook")
        self.client_request_hook = safe_hook(config.client_request_hook, "client_request_hook")
        self.client_response_hook = safe_hook(config.client_response_hook, "client_response_hook")
        self.span_details: Optional[DefaultSpanDetails] = getattr(
            config, "default_span_details", None
        )
        self.route_of = route_of
        self.websocket_method = websocket_method

    def new_call(self, request: AsgiRequest, measured: bool) -> AsgiCall:
        """The connection's call; a framework's subclass returns its own, to keep its
        per-request state on it (``instrumentarium.falcon``: Falcon's request object)."""
        return AsgiCall(self, request, measured)

    @_STARTING
    def start(self, scope: Scope, owner: Any) -> Union[AsgiCall, _Excluded, None]:
        """The connection's call with its span started; ``_EXCLUDED`` when its URL is."""
        request = AsgiRequest(scope)
        if self.excluded is not None and self.is_excluded(request):
            return _EXCLUDED
        websocket = scope["type"] == "websocket"
        call = self.new_call(request, not websocket)
        attributes = call.attributes
        if websocket:
            for key in _METHOD_KEYS:
                attributes.pop(key, None)
        if self.old:
            attributes[names.HTTP_URL] = self.redactor.redact_url(request.full_url())
        route = None
        details = self.span_details
        if details is not None:
            name, extra = details(scope)
            if extra:
                attributes.update(extra)
                found = extra.get(names.HTTP_ROUTE)
                route = found if isinstance(found, str) else None
        else:
            if self.route_of is not None:
                route = self.route_of(owner, scope)
                name = call.span_name(route)
            else:
                name = call.span_name(request.path)
            if websocket and not self.websocket_method:
                name = route or request.path
        span = call.start_span(name, route)
        call.children = span.is_recording()
        call.name = name
        call.scope = scope
        scope[CALL_KEY] = call
        if self.server_request_hook is not None:
            self.server_request_hook(span, scope)
        return call


class _Excluded:
    """What ``AsgiTelemetry.start`` returns for an excluded request."""

    __slots__ = ()


class AsgiCall(ServerCall):
    """One ASGI connection: the server core's call, plus its sizes and its wrapped channel."""

    __slots__ = ("children", "name", "receive_", "request_size", "response_size", "scope", "send_")

    children: bool  # whether send and receive get spans: set by start(), the span recording
    name: str
    scope: Scope
    receive_: Receive
    send_: Send
    telemetry: AsgiTelemetry

    def __init__(self, telemetry: AsgiTelemetry, request: AsgiRequest, measured: bool) -> None:
        super().__init__(telemetry, request, measured)
        self.request_size: Optional[int] = request.content_length
        self.response_size: Optional[int] = None

    def record_metrics(self, end_ns: int) -> None:
        self.telemetry.metrics.record_duration(
            end_ns - self.start_ns,
            self.attributes,
            self.route,
            self.context,
            self.shared.duration_bases,
            self.request_size,
            self.response_size,
        )

    async def receive(self) -> Message:
        """The server's ``receive``, in a ``receive`` span (only wrapped when those are on)."""
        span = _start_receive(self)
        try:
            message = await self.receive_()
        except BaseException:
            if span is not None:
                span.end()
            raise
        if span is not None:
            _end_receive(self, span, message)
        return message

    async def send(self, message: Message) -> None:
        """The server's ``send``: the response is recorded before it goes out; the span ends
        after the last body chunk went out."""
        span = _on_send(self, message)
        try:
            await self.send_(message)
        finally:
            if span is not None:
                span.end()
        if (
            message["type"] == "http.response.body"
            and not message.get("more_body")
            and not self.finished
            and self.status_code < 500  # a 500 may come with its exception: ends on return
        ):
            self.finish()

    @_FAILING
    def fail(self, exc: BaseException) -> None:
        """An exception escaped the app: recorded once (a status already sent stays the
        response's: a 500 keeps ``error.type`` ``"500"``), unless the request already ended."""
        if self.finished or not isinstance(exc, Exception):
            return
        self.record_exception(exc, error_type=self.status_code == 0)


@_RECEIVING
def _start_receive(call: AsgiCall) -> Optional[Span]:
    return call.telemetry.tracer.start_span(
        f"{call.name} {call.scope['type']} receive", call.context, kind=_INTERNAL
    )


@_RECEIVING
def _end_receive(call: AsgiCall, span: Span, message: Optional[Message]) -> None:
    try:
        if message is not None and span.is_recording():
            kind = message.get("type")
            span.set_attribute(ASGI_EVENT_TYPE, kind)
            if kind == "websocket.receive":
                _set_code(call.telemetry, span, 200)
            hook = call.telemetry.client_request_hook
            if hook is not None:
                hook(span, call.scope, message)
    finally:
        span.end()


@_SENDING
def _on_send(call: AsgiCall, message: Message) -> Optional[Span]:
    """Record a message the app sends; its ``send`` span (started), or None."""
    telemetry = call.telemetry
    kind = message["type"]
    status: Optional[int] = None
    if kind == "http.response.start":
        status = message.get("status")
        headers = message.get("headers") or ()
        for name, value in headers:
            if name.lower() == b"content-length":
                call.response_size = _content_length(value)
                break
        call.propagate_response(message, asgi_setter)
        call.on_response(status if status is not None else 0, _captured(telemetry, message))
    elif kind == "websocket.accept" or (kind == "websocket.send" and call.status_code == 0):
        status = 200
        call.on_response(200, _captured(telemetry, message))
    if not telemetry.send_spans or not call.children:
        return None
    span = telemetry.tracer.start_span(
        f"{call.name} {call.scope['type']} send",
        call.context,
        kind=_INTERNAL,
        attributes={ASGI_EVENT_TYPE: kind},
    )
    if span.is_recording():
        if kind == "websocket.send":
            status = 200
        if status is not None:
            _set_code(telemetry, span, status)
        hook = telemetry.client_response_hook
        if hook is not None:
            hook(span, call.scope, message)
    return span


def _content_length(value: bytes) -> Optional[int]:
    try:
        return int(value)
    except ValueError:
        return None


def _set_code(telemetry: AsgiTelemetry, span: Span, status: Any) -> None:
    if not isinstance(status, int):
        span.set_status(Status(_ERROR, f"Non-integer HTTP status: {status}"))
        return
    if telemetry.old:
        span.set_attribute(names.HTTP_STATUS_CODE, status)
    if telemetry.new:
        span.set_attribute(names.HTTP_RESPONSE_STATUS_CODE, status)
        if status >= 500:
            span.set_attribute(names.ERROR_TYPE, str(status))
    if status >= 500:
        span.set_status(Status(_ERROR))


def _captured(telemetry: AsgiTelemetry, message: Message) -> Iterable[tuple[str, str]]:
    """The message's headers as text for ``on_response``, which reads them only to capture
    response headers: nothing to decode when none are captured."""
    if telemetry.headers is None:
        return ()
    return _decoded(message.get("headers"))


def _decoded(headers: Any) -> Iterator[tuple[str, str]]:
    for name, value in headers or ():
        yield name.decode("latin-1"), value.decode("latin-1")


_EXCLUDED: Final = _Excluded()


async def serve(
    telemetry: Optional[AsgiTelemetry],
    app: App,
    owner: Any,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Run ``app`` for one connection, traced by ``telemetry`` (None: untraced); ``owner`` is
    what ``telemetry.route_of`` reads the routes of (the framework's app)."""
    if (
        telemetry is None
        or scope["type"] not in _TRACED
        or CALL_KEY in scope
        or http_instrumentation_suppressed()
    ):
        await app(scope, receive, send)
        return
    call = telemetry.start(scope, owner)
    if isinstance(call, _Excluded):  # untraced, and so is what it calls (unless switched off)
        suppressed = telemetry.enter_excluded()
        try:
            await app(scope, receive, send)
        finally:
            if suppressed is not None:
                _detach(suppressed)  # type: ignore[arg-type]
        return
    if call is None:  # our own step failed (logged): the app runs untraced
        await app(scope, receive, send)
        return
    call.send_ = send
    call.receive_ = receive
    token = _attach(call.context)  # type: ignore[arg-type]
    try:
        traced_receive = telemetry.receive_spans and call.children
        await app(scope, call.receive if traced_receive else receive, call.send)
    except BaseException as exc:
        call.fail(exc)
        raise
    finally:
        _detach(token)
        call.finish()


def get_default_span_details(scope: Scope) -> tuple[str, dict[str, AttributeValue]]:
    """Upstream's helper: ``("{METHOD} {path}", {})``, ``HTTP`` for an unknown method (the
    method variables are read on each call; the middleware resolves them once instead)."""
    method, _ = MethodNormalizer.from_env().normalize(scope.get("method") or "")
    path = scope.get("path") or ""
    method = "HTTP" if method == "_OTHER" else method
    return (f"{method} {path}" if path else method, {})
