"""The server side: one span and the HTTP server metrics per ``RequestHandler`` request.

Three patches on ``tornado.web.RequestHandler`` (the class every handler derives from, so
handlers and applications created before ``instrument()`` are covered)::

    _execute (entry)               exclusion check; the call begins (clock from the moment Tornado
                                   parsed the request, active_requests +1), the span starts named
                                   by the route, server_request_hook; the handler's coroutine runs
                                   in a coroutine of ours that keeps the span current in its task
      prepare, get/post..., flush  (the user's code; the span is current)
      _handle_request_exception    the exception is kept for the end
      finish                       the user's on_finish runs inside it, the span still current;
                                   then the status, the response headers, and the span and the
                                   metrics end, exactly once
    _execute (exit)                a request that is finished, or should have been (auto-finish),
                                   but did not end through ``finish``, ends here

A handler with ``_auto_finish`` off (a long poll that finishes later, from a callback) ends when
it calls ``finish()``; a WebSocket's span is its handshake (``101``), which Tornado finishes.
Every step of ours runs under a guard: a failure is logged once and the request goes on;
Tornado's and the user's code never runs inside one.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Callable, Final, Optional, Union

from opentelemetry import context as otel_context
from opentelemetry.metrics import Histogram
from opentelemetry.propagators.textmap import Setter

from instrumentarium.util.http import ServerCall, ServerTelemetry, server_status_is_error
from instrumentarium.util.http import names as n
from instrumentarium.util.metrics import SDK_DEFAULT_BUCKETS_MS, histogram, shared_meter
from instrumentarium.util.safety import guard, safe_hook
from instrumentarium.util.semconv import schema_url

from ._config import TornadoConfig
from ._request import TornadoRequest
from ._routes import route_of
from .version import __version__

if TYPE_CHECKING:
    import tornado.web

__all__ = ["TornadoServerTelemetry", "execute", "finish", "handle_request_exception"]

_CALL_KEY: Final = "_instrumentarium_tornado_call"
_HANDLER_ATTRIBUTE: Final = "tornado.handler"
_HTTP_CLIENT_IP: Final = "http.client_ip"
_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_BEGIN: Final = guard("starting the Tornado server span")
_END: Final = guard("ending the Tornado server span")
_FAILING: Final = guard("recording the Tornado handler's exception")

# (name, description) of the request and response size histograms, per convention.
_SIZES_OLD: Final = (
    ("http.server.request.size", "Measures the size of HTTP request messages (compressed)."),
    ("http.server.response.size", "Measures the size of HTTP response messages (compressed)."),
)
_SIZES_NEW: Final = (
    ("http.server.request.body.size", "Size of HTTP server request bodies."),
    ("http.server.response.body.size", "Size of HTTP server response bodies."),
)


class TornadoServerTelemetry(ServerTelemetry):
    """The server core built once from a ``TornadoConfig``, with the hook, the traced request
    attributes, the size histograms and the handler-name cache."""

    __slots__ = ("_handler_names", "request_hook", "sizes_new", "sizes_old", "traced_attributes")

    def __init__(self, config: TornadoConfig) -> None:
        super().__init__("instrumentarium.tornado", __version__, "TORNADO", config)
        self.request_hook = safe_hook(config.server_request_hook, "server_request_hook")
        self.traced_attributes = tuple(
            name.strip() for name in config.traced_request_attributes or () if name.strip()
        )
        meter = shared_meter(
            "instrumentarium.tornado",
            __version__,
            config.meter_provider,
            schema_url=schema_url("http", self.mode),
        )
        self.sizes_old: Optional[tuple[Histogram, Histogram]] = (
            _sizes(meter, _SIZES_OLD) if self.old else None
        )
        self.sizes_new: Optional[tuple[Histogram, Histogram]] = (
            _sizes(meter, _SIZES_NEW) if self.new else None
        )
        self._handler_names: dict[type, str] = {}

    def handler_name(self, handler_class: type) -> str:
        name = self._handler_names.get(handler_class)
        if name is None:
            name = f"{handler_class.__module__}.{handler_class.__qualname__}"
            self._handler_names[handler_class] = name
        return name

    def record_sizes(
        self, call: ServerCall, request_size: Optional[int], response_size: Optional[int]
    ) -> None:
        """The request and response sizes, with the attribute sets of the durations."""
        old_base, new_base = call.shared.duration_bases
        attributes = call.attributes
        route = call.route
        if self.sizes_old is not None and old_base is not None:
            old = dict(old_base)
            code = attributes.get(n.HTTP_STATUS_CODE)
            if code is not None:
                old[n.HTTP_STATUS_CODE] = code
            if route:
                old[n.HTTP_TARGET] = route
            _record(self.sizes_old, old, request_size, response_size, call)
        if self.sizes_new is not None and new_base is not None:
            new = dict(new_base)
            for key in (n.ERROR_TYPE, n.HTTP_RESPONSE_STATUS_CODE, n.HTTP_ROUTE):
                value = attributes.get(key)
                if value is not None:
                    new[key] = value
            _record(self.sizes_new, new, request_size, response_size, call)


def _sizes(
    meter: Any, names: tuple[tuple[str, str], tuple[str, str]]
) -> tuple[Histogram, Histogram]:
    request, response = (
        histogram(meter, name, unit="By", description=doc, buckets=SDK_DEFAULT_BUCKETS_MS)
        for name, doc in names
    )
    return request, response


def _record(
    sizes: tuple[Histogram, Histogram],
    attributes: dict[str, Any],
    request_size: Optional[int],
    response_size: Optional[int],
    call: ServerCall,
) -> None:
    if request_size is not None:
        sizes[0].record(request_size, attributes, context=call.context)
    if response_size is not None:
        sizes[1].record(response_size, attributes, context=call.context)


class TornadoCall(ServerCall):
    """One request: the core's call, and the exception the handler raised, kept for the end."""

    __slots__ = ("exception",)

    exception: Optional[BaseException]


class _HandlerHeaderSetter(Setter[Any]):
    """Writes ``traceresponse`` (the response propagator) as a response header."""

    def set(self, carrier: Any, key: str, value: str) -> None:
        carrier.set_header(key, value)


_handler_setter: Final = _HandlerHeaderSetter()


def execute(
    telemetry: Optional[TornadoServerTelemetry],
    wrapped: Callable[..., Coroutine[Any, Any, None]],
    handler: tornado.web.RequestHandler,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """The patched ``RequestHandler._execute``."""
    if telemetry is None:
        return wrapped(*args, **kwargs)
    call = _begin(telemetry, handler)
    if call is None:  # our step failed: the handler runs untraced
        return wrapped(*args, **kwargs)
    if isinstance(call, _Excluded):  # untraced, and so is what it calls (unless switched off)
        return _suppressed(wrapped(*args, **kwargs), telemetry)
    return _traced(wrapped(*args, **kwargs), call, handler)


async def _suppressed(
    execution: Coroutine[Any, Any, None], telemetry: TornadoServerTelemetry
) -> None:
    # Inside the handler's task, as for a traced request.
    token = telemetry.enter_excluded()
    try:
        await execution
    finally:
        if token is not None:
            _detach(token)  # type: ignore[arg-type]


async def _traced(
    execution: Coroutine[Any, Any, None], call: TornadoCall, handler: tornado.web.RequestHandler
) -> None:
    # Inside the handler's task: the span is current for everything the task runs.
    token = _attach(call.context)  # type: ignore[arg-type]
    try:
        await execution
    finally:
        _detach(token)
        if not call.finished and (handler._finished or handler._auto_finish):
            _end(call, handler)


class _Excluded:
    """What ``_begin`` returns for a request whose URL is excluded."""


_EXCLUDED: Final = _Excluded()


@_BEGIN
def _begin(telemetry: TornadoServerTelemetry, handler: Any) -> Union[TornadoCall, _Excluded, None]:
    request = handler.request
    excluded = telemetry.excluded
    if excluded is not None and excluded.matches(request.uri or ""):
        return _EXCLUDED
    route = route_of(handler)
    call = TornadoCall(telemetry, TornadoRequest(request))
    try:
        _start(telemetry, call, handler, request, route)
    except BaseException:
        _abandon(call)  # the request runs untraced: no span left open, no request left active
        raise
    return call


def _start(
    telemetry: TornadoServerTelemetry, call: TornadoCall, handler: Any, request: Any, route: Any
) -> None:
    call.exception = None
    started = getattr(request, "_start_time", None)
    if isinstance(started, float):  # when Tornado parsed the request: the span starts there
        call.start_ns = int(started * 1e9)
    attributes = call.attributes
    attributes[_HANDLER_ATTRIBUTE] = telemetry.handler_name(type(handler))
    if telemetry.old:  # upstream's: the client (xheaders honoured) and the URL, redacted
        attributes[_HTTP_CLIENT_IP] = request.remote_ip
        attributes[n.HTTP_URL] = telemetry.redactor.redact_url(request.full_url())
    for name in telemetry.traced_attributes:
        value = getattr(request, name, None)
        if value is not None:
            attributes[name] = str(value)
    span = call.start_span(call.span_name(route), route)
    call.propagate_response(handler, _handler_setter)
    handler.__dict__[_CALL_KEY] = call
    if telemetry.request_hook is not None:
        telemetry.request_hook(span, handler)


def _abandon(call: TornadoCall) -> None:
    call.finished = True
    try:
        if call.span is not None:
            call.span.end()
    finally:
        call.telemetry.metrics.active_requests.decrement(call.shared.active_key)


def handle_request_exception(
    wrapped: Callable[..., None],
    handler: tornado.web.RequestHandler,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """The patched ``RequestHandler._handle_request_exception``: keeps the exception."""
    call = handler.__dict__.get(_CALL_KEY)
    if call is not None and args:
        _keep(call, args[0])
    return wrapped(*args, **kwargs)


@_FAILING
def _keep(call: TornadoCall, exc: BaseException) -> None:
    if type(exc).__name__ != "Finish":  # tornado.web.Finish ends a request; not an error
        call.exception = exc


def finish(
    wrapped: Callable[..., Any],
    handler: tornado.web.RequestHandler,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """The patched ``RequestHandler.finish``: the request ends once it has returned."""
    call = handler.__dict__.get(_CALL_KEY)
    if call is None or call.finished:
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException:
        if handler._finished:
            _end(call, handler)
        raise
    _end(call, handler)
    return result


@_END
def _end(call: TornadoCall, handler: Any) -> None:
    """Record the status, the exception (when it made a server error) and the response
    headers; end the span and the metrics; then the sizes."""
    headers = handler._headers
    try:
        status = handler.get_status()
        exc = call.exception
        if exc is not None and server_status_is_error(status):
            call.record_exception(exc, error_type=False)
        call.on_response(status, headers.get_all())
    finally:
        call.finish()
    telemetry = call.telemetry
    if isinstance(telemetry, TornadoServerTelemetry) and (
        telemetry.sizes_old is not None or telemetry.sizes_new is not None
    ):
        body = handler.request.body
        telemetry.record_sizes(
            call,
            len(body) if isinstance(body, bytes) else None,
            _content_length(headers.get("Content-Length")),
        )


def _content_length(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
