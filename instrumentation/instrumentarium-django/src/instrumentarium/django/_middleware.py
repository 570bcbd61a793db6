"""The per-request path: one middleware class, sync and async, and the configuration it reads.

``OpenTelemetryMiddleware`` (placed in ``settings.MIDDLEWARE`` by ``instrument()``, or by hand)::

    __call__ / __acall__     clock starts, exclusion check, active_requests +1, span starts
                             (named by the method), attached; get_response runs; detached
      process_exception      a view raised: one ``exception`` event now; ERROR if the response
                             Django renders for it is a 5xx
      got_request_exception  (Django's signal) anything inside the middleware raised (another
                             middleware, URL resolution, a view no middleware handled) and
                             Django is rendering a 500 for it: the same, recorded once
    back in __call__         the URL Django resolved (``request.resolver_match``) renames the
                             span "{METHOD} {route}" and gives http.route (span and duration
                             metric); status, response headers, traceresponse, response_hook;
                             the span and metrics end now, or when the server closes a streamed
                             body

The middleware has no ``process_view``: the route is read once the response is back, so Django
calls nothing of ours between the middleware chain and the view (under ASGI that would be one
more coroutine per request).

Attach and detach happen in the same frame (and, under ASGI, the same task), so no context token
crosses a thread hop between middleware hooks. The middleware reads the configuration that
``DjangoInstrumentor.instrument()`` activated; while none is active it passes requests through
untouched, so a hand-placed middleware follows ``instrument()`` / ``uninstrument()``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Callable, Final, Optional, Union

from opentelemetry import context as otel_context

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.http import (
    ResponseIterable,
    ServerCall,
    ServerTelemetry,
    WsgiRequest,
    traced_request_attrs,
)
from instrumentarium.util.safety import guard, safe_hook, warn_once

from ._config import DjangoConfig
from .version import __version__

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase  # type: ignore[import-untyped, unused-ignore]

    from ._sqlcommenter import SqlCommenter

__all__ = ["ACTIVE", "DjangoTelemetry", "OpenTelemetryMiddleware", "listen_for_exceptions"]

_CALL_ATTR: Final = "_instrumentarium_call"
_SIGNAL_UID: Final = "instrumentarium.django.got_request_exception"
_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_EMPTY_HEADERS: Final[list[tuple[str, str]]] = []
_BEGINNING: Final = guard("starting the Django request's span")
_RESPONDING: Final = guard("recording the Django response")
_ESCAPING: Final = guard("ending the span of a Django request that raised")
_RECORDING: Final = guard("recording the Django request's exception")

GetResponse = Callable[["HttpRequest"], Any]


class DjangoTelemetry(ServerTelemetry):
    """The server core built once from a ``DjangoConfig``: hooks, traced request attributes and
    the SQL commenter (set when the middleware is placed), shared by every request until
    ``uninstrument()``."""

    __slots__ = ("commenter", "request_hook", "response_hook", "traced_attrs")

    def __init__(self, config: DjangoConfig) -> None:
        super().__init__("instrumentarium.django", __version__, "DJANGO", config)
        self.request_hook = safe_hook(config.request_hook, "request_hook")
        self.response_hook = safe_hook(config.response_hook, "response_hook")
        self.traced_attrs = traced_request_attrs("DJANGO", config.traced_request_attributes)
        self.commenter: Optional[SqlCommenter] = None


# The DjangoTelemetry in force, set by instrument() (None: every middleware passes through).
ACTIVE: Final = ActiveConfig[DjangoTelemetry]("_instrumentarium_django_telemetry")


class _DjangoCall(ServerCall):
    """A request's call, with what the middleware undoes when the response is back."""

    __slots__ = ("queries", "token")

    token: object
    queries: Optional[ExitStack]


class _Excluded:
    """A request for an excluded URL: untraced, and so is what it calls (``token`` undoes the
    suppression; None when ``OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS`` switched it off)."""

    __slots__ = ("token",)

    def __init__(self, token: Optional[object]) -> None:
        self.token = token

    def leave(self) -> None:
        if self.token is not None:
            _detach(self.token)  # type: ignore[arg-type]


@_BEGINNING
def _begin(request: HttpRequest, asgi: bool) -> Union[_DjangoCall, _Excluded, None]:
    """Start the request's span (named by the method until the URL is resolved) and make it
    current; ``_Excluded`` (the instrumentation below suppressed) when the URL is excluded; None
    when nothing is instrumented."""
    telemetry = ACTIVE.global_
    if telemetry is None:
        return None
    described = WsgiRequest(request.META)
    if asgi:  # META lacks the scheme and protocol of an ASGI request: the scope has them
        scope = getattr(request, "scope", None) or {}
        described.scheme = scope.get("scheme") or "http"
        version = scope.get("http_version")
        if version:
            described.protocol = f"HTTP/{version}"
    excluded = telemetry.excluded
    if excluded is not None and excluded.matches(_url_without_query(request, described)):
        return _Excluded(telemetry.enter_excluded())
    traced = None
    if telemetry.traced_attrs:
        traced = _traced_attributes(request, telemetry.traced_attrs)
        if asgi:
            traced.update(_traced_headers(request, telemetry.traced_attrs))
    call = _DjangoCall(telemetry, described)
    if traced:
        call.attributes.update(traced)
    span = call.start_span(call.span_name())
    setattr(request, _CALL_ATTR, call)
    if telemetry.request_hook is not None:
        telemetry.request_hook(span, request)
    call.token = _attach(call.context)  # type: ignore[arg-type]
    commenter = telemetry.commenter
    call.queries = commenter.enter(request) if commenter is not None else None
    return call


def _traced_attributes(request: HttpRequest, names: tuple[str, ...]) -> dict[str, str]:
    """``OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS``: the named request attributes, as text.

    An attribute whose reading raises (``body`` of a POST over ``DATA_UPLOAD_MAX_MEMORY_SIZE``
    raises ``RequestDataTooBig``) is left out and logged once: the rest of the span stands.
    """
    traced: dict[str, str] = {}
    for name in names:
        try:
            value = getattr(request, name, None)
            if value is not None:
                traced[name] = str(value)
        except Exception as exc:  # noqa: PERF203 - a few configured names; skip only the one
            warn_once(
                ("django traced request attribute", name),
                "the Django request attribute %r (OTEL_PYTHON_DJANGO_TRACED"
                "_REQUEST_ATTRS) could not be read and is left out of the span: %s: %s",
                name,
                type(exc).__qualname__,
                exc,
            )
    return traced


def _traced_headers(request: HttpRequest, names: tuple[str, ...]) -> dict[str, str]:
    """Under ASGI, upstream also finds the traced names among the request's headers, as sent
    (``x-tenant``): a header wins over a request attribute of the same name."""
    scope = getattr(request, "scope", None) or {}
    found: dict[str, str] = {}
    for name, value in scope.get("headers") or ():
        key = _latin1(name)
        if key in names:
            found[key] = _latin1(value)
    return found


def _latin1(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _url_without_query(request: HttpRequest, described: WsgiRequest) -> str:
    """What upstream matches excluded URLs against (``build_absolute_uri("?")``), without
    Django's ``ALLOWED_HOSTS`` validation, which raises ``DisallowedHost`` for a bad Host."""
    from django.utils.encoding import escape_uri_path  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    return f"{described.scheme or 'http'}://{described.authority()}{escape_uri_path(request.path)}"


def _leave(call: _DjangoCall) -> None:
    """Undo what ``_begin`` did around the app: the commenter's wrappers, the context."""
    if call.queries is not None:
        call.queries.close()
    _detach(call.token)  # type: ignore[arg-type]


def _ended(call: _DjangoCall, request: HttpRequest, response: HttpResponseBase) -> Any:
    """``response``, recorded once ``_leave`` has run: the span ends now, or when the server
    closes a streamed body (and at once if recording failed: late rather than never)."""
    _leave(call)
    if _respond(call, request, response) is None:
        call.finish()
    return response


@_RESPONDING
def _respond(call: ServerCall, request: HttpRequest, response: HttpResponseBase) -> bool:
    _name_from_route(call, request)
    span = call.ensure_span()
    status = response.status_code
    exc = call.recorded  # from process_exception or got_request_exception
    if exc is not None and status >= 500:
        call.record_exception(exc, error_type=False)  # ERROR "Type: msg"; no second event
    telemetry: DjangoTelemetry = call.telemetry  # type: ignore[assignment]
    capture = telemetry.headers
    headers = list(response.items()) if capture is not None and capture.response else _EMPTY_HEADERS
    call.on_response(status, headers)
    call.propagate_response(response)
    if telemetry.response_hook is not None:
        telemetry.response_hook(span, request, response)
    if response.streaming:
        closers = getattr(response, "_resource_closers", None)
        if closers is None:  # pragma: no cover - every supported Django has it
            call.finish()
        elif response.is_async or getattr(response, "file_to_stream", None) is not None:
            # Async bodies are read by the ASGI handler; a file keeps wsgi.file_wrapper.
            closers.append(call.finish)
        else:
            # The span is current while the body is produced, and ends when the server
            # closes the response (or when the body raises).
            response.streaming_content = ResponseIterable(response.streaming_content, call)
    else:
        call.finish()
    return True


@_ESCAPING
def _escaped(call: _DjangoCall, request: HttpRequest, exc: BaseException) -> None:
    """Once ``_leave`` has run, end the span of a request whose exception escapes Django, named
    by its route if one was resolved."""
    _leave(call)
    try:
        _name_from_route(call, request)
    finally:
        call.finish(exc)


def _name_from_route(call: ServerCall, request: HttpRequest) -> None:
    """Rename the span from Django's own match: ``"{METHOD} {route}"``, else
    ``"{METHOD} {url_name}"``; the route also becomes ``http.route`` on span and metrics."""
    match = request.resolver_match
    if match is not None:
        call.set_route(match.route, match.url_name)


def listen_for_exceptions(listen: bool) -> None:
    """Connect to (or disconnect from) Django's ``got_request_exception`` signal; disconnecting
    imports nothing when Django was never imported."""
    if not listen and "django.core.signals" not in sys.modules:
        return
    from django.core.signals import got_request_exception  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    if listen:
        got_request_exception.connect(_on_request_exception, weak=False, dispatch_uid=_SIGNAL_UID)
    else:
        got_request_exception.disconnect(dispatch_uid=_SIGNAL_UID)


@_RECORDING
def _record_exception(request: HttpRequest, exception: BaseException) -> None:
    """One ``exception`` event for ``exception`` on the request's span (not two when the same
    exception reaches both ``process_exception`` and the signal); ``_respond`` sets ERROR when
    the response Django renders for it is a 5xx."""
    call: Optional[ServerCall] = getattr(request, _CALL_ATTR, None)
    if call is not None:
        call.record_exception_event(exception)


def _on_request_exception(
    sender: object,  # noqa: ARG001 - Django passes it by name
    request: Optional[HttpRequest] = None,
    **_: Any,
) -> None:
    """Django sends ``got_request_exception`` from inside the ``except`` block that turns an
    uncaught exception into a 500 (under ASGI too: asgiref re-raises it in the worker thread),
    so ``sys.exc_info()`` holds it. This covers what ``process_exception`` never sees: an
    exception raised by a middleware placed after ours, or by URL resolution."""
    exception = sys.exc_info()[1]
    if request is not None and exception is not None:
        _record_exception(request, exception)


class OpenTelemetryMiddleware:
    """Traces and measures each request: one SERVER span (INTERNAL under another server span)
    and the HTTP server metrics.

    Works under WSGI and ASGI alike: Django hands it a synchronous or a coroutine
    ``get_response`` and it runs the matching path, with no thread hop of its own. Place it
    yourself with ``"instrumentarium.django.OpenTelemetryMiddleware"`` in ``MIDDLEWARE``
    (``instrument()`` then leaves your order alone), or let ``instrument()`` insert it. It records
    only while ``DjangoInstrumentor`` is instrumented.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        from asgiref.sync import (  # noqa: PLC0415 - importing the package must not import it
            iscoroutinefunction,
            markcoroutinefunction,
        )

        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    # The two paths differ only by ``await``: each step of ours is one guarded helper.

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        call = _begin(request, False)
        if call is None:
            return self.get_response(request)
        if isinstance(call, _Excluded):
            try:
                return self.get_response(request)
            finally:
                call.leave()
        try:
            response = self.get_response(request)
        except BaseException as exc:  # only when Django itself lets it escape
            _escaped(call, request, exc)
            raise
        return _ended(call, request, response)

    async def __acall__(self, request: HttpRequest) -> Any:
        get_response: Callable[[HttpRequest], Awaitable[Any]] = self.get_response
        call = _begin(request, True)
        if call is None:
            return await get_response(request)
        if isinstance(call, _Excluded):
            try:
                return await get_response(request)
            finally:
                call.leave()
        try:
            response = await get_response(request)
        except BaseException as exc:  # cancellation (client gone) included
            _escaped(call, request, exc)
            raise
        return _ended(call, request, response)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Record the view's exception; Django then renders a response for it (always called
        synchronously: Django's exception middleware has no async mode)."""
        _record_exception(request, exception)
