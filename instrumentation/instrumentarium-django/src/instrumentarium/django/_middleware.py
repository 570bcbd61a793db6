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
from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, Final, Optional, Union

from opentelemetry import context as otel_context
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, TracerProvider

from instrumentarium.util.http import names as n
from instrumentarium.util.http import traced_request_attrs
from instrumentarium.util.safety import logger, safe_hook
from instrumentarium.wsgi import ResponseIterable, ServerCall, ServerTelemetry

from .version import __version__

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase  # type: ignore[import-untyped, unused-ignore]

    from ._sqlcommenter import SqlCommenter

__all__ = [
    "DjangoTelemetry",
    "OpenTelemetryMiddleware",
    "activate",
    "active",
    "listen_for_exceptions",
]

_CALL_ATTR: Final = "_instrumentarium_call"
_SIGNAL_UID: Final = "instrumentarium.django.got_request_exception"
_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_EMPTY_HEADERS: Final[list[tuple[str, str]]] = []
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}

GetResponse = Callable[["HttpRequest"], Any]


class DjangoTelemetry:
    """Everything ``instrument()`` resolved, shared by every request until ``uninstrument()``."""

    __slots__ = (
        "commenter",
        "request_hook",
        "response_hook",
        "telemetry",
        "traced_attrs",
    )

    def __init__(
        self,
        *,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
        request_hook: Optional[Callable[[Span, HttpRequest], None]] = None,
        response_hook: Optional[Callable[[Span, HttpRequest, HttpResponseBase], None]] = None,
        traced_request_attributes: Optional[list[str]] = None,
        commenter: Optional[SqlCommenter] = None,
    ) -> None:
        self.telemetry = ServerTelemetry(
            scope="instrumentarium.django",
            version=__version__,
            library="DJANGO",
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            excluded_urls=excluded_urls,
        )
        self.request_hook = safe_hook(request_hook, "request_hook")
        self.response_hook = safe_hook(response_hook, "response_hook")
        self.traced_attrs = traced_request_attrs("DJANGO", traced_request_attributes)
        self.commenter = commenter

    def begin(self, request: HttpRequest, asgi: bool) -> Optional[ServerCall]:
        """Start the request's span (named by the method until the URL is resolved); None
        when its URL is excluded."""
        environ: Mapping[str, Any] = request.META
        if asgi:
            environ = _asgi_environ(request)
        telemetry = self.telemetry
        excluded = telemetry.excluded
        if excluded is not None and excluded.matches(_url_without_query(request, environ)):
            return None
        call = telemetry.begin(environ)  # type: ignore[arg-type]
        if self.traced_attrs:
            attributes = call.attributes
            for name in self.traced_attrs:
                value = getattr(request, name, None)
                if value is not None:
                    attributes[name] = str(value)
        span = call.start_span(call.span_name())
        setattr(request, _CALL_ATTR, call)
        if self.request_hook is not None:
            self.request_hook(span, request)
        return call

    def end(self, call: ServerCall, request: HttpRequest, response: HttpResponseBase) -> None:
        """Name the span by its route; record the response; end now, or when the server closes
        a streamed body."""
        _name_from_route(call, request)
        span = call.ensure_span()
        status = response.status_code
        exc = call.recorded  # from process_exception or got_request_exception
        if exc is not None and status >= 500:
            call.record_exception(exc, error_type=False)  # ERROR "Type: msg"; no second event
        capture = self.telemetry.headers
        headers = (
            list(response.items()) if capture is not None and capture.response else _EMPTY_HEADERS
        )
        call.on_response(str(status), headers)  # only the code is read from the status line
        propagator = get_global_response_propagator()  # type: ignore[no-untyped-call]
        if propagator is not None:
            propagator.inject(response, call.context)
        if self.response_hook is not None:
            self.response_hook(span, request, response)
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
                response.streaming_content = ResponseIterable(
                    response.streaming_content,
                    call,
                )
        else:
            call.finish()


def _asgi_environ(request: HttpRequest) -> dict[str, Any]:
    """``request.META`` plus the two WSGI keys an ASGI request lacks (scheme and protocol),
    read from the ASGI scope; a copy, so the request's own ``META`` is left as Django built it."""
    scope = getattr(request, "scope", None) or {}
    environ = dict(request.META)
    environ["wsgi.url_scheme"] = scope.get("scheme") or "http"
    version = scope.get("http_version")
    if version:
        environ["SERVER_PROTOCOL"] = f"HTTP/{version}"
    return environ


def _url_without_query(request: HttpRequest, environ: Mapping[str, Any]) -> str:
    """What upstream matches excluded URLs against (``build_absolute_uri("?")``), without
    Django's ``ALLOWED_HOSTS`` validation, which raises ``DisallowedHost`` for a bad Host."""
    scheme = environ.get("wsgi.url_scheme") or "http"
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME") or ""
        port = str(environ.get("SERVER_PORT") or "")
        if port and _DEFAULT_PORTS.get(scheme) != port:
            host = f"{host}:{port}"
    from django.utils.encoding import escape_uri_path  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

    return f"{scheme}://{host}{escape_uri_path(request.path)}"


_active: Optional[DjangoTelemetry] = None


def activate(telemetry: Optional[DjangoTelemetry]) -> None:
    """Make ``telemetry`` the configuration every middleware instance reads (None: pass-through)."""
    global _active
    _active = telemetry


def active() -> Optional[DjangoTelemetry]:
    return _active


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


def _record_exception(request: HttpRequest, exception: BaseException) -> None:
    """One ``exception`` event for ``exception`` on the request's span (not two when the same
    exception reaches both ``process_exception`` and the signal); ``end()`` sets ERROR when the
    response Django renders for it is a 5xx."""
    call: Optional[ServerCall] = getattr(request, _CALL_ATTR, None)
    if call is None or call.finished or call.recorded is exception:
        return
    span = call.span
    if span is not None and span.is_recording():
        span.record_exception(exception)
    call.recorded = exception


def _on_request_exception(sender: object, request: Optional[HttpRequest] = None, **_: Any) -> None:
    """Django sends ``got_request_exception`` from inside the ``except`` block that turns an
    uncaught exception into a 500 (under ASGI too: asgiref re-raises it in the worker thread),
    so ``sys.exc_info()`` holds it. This covers what ``process_exception`` never sees: an
    exception raised by a middleware placed after ours, or by URL resolution."""
    exception = sys.exc_info()[1]
    if request is not None and exception is not None:
        try:
            _record_exception(request, exception)
        except Exception:  # never let telemetry break Django's error handling
            logger.debug("recording the request's exception failed", exc_info=True)


def _name_from_route(call: ServerCall, request: HttpRequest) -> None:
    """Rename the span from Django's own match: ``"{METHOD} {route}"``, else
    ``"{METHOD} {url_name}"``; the route also becomes ``http.route`` on span and metrics."""
    match = request.resolver_match
    if match is None:
        return
    route = match.route
    span = call.span
    if span is None:
        return
    method = call.method
    if route:
        call.route = route
        call.attributes[n.HTTP_ROUTE] = route
        if span.is_recording():
            span.set_attribute(n.HTTP_ROUTE, route)
            if method != "_OTHER":
                span.update_name(f"{method} {route}")
    elif match.url_name and method != "_OTHER" and span.is_recording():
        span.update_name(f"{method} {match.url_name}")


def _finish_escaped(call: ServerCall, request: HttpRequest, exc: BaseException) -> None:
    """End the span of a request whose exception escapes Django, named by its route if one
    was resolved."""
    try:
        _name_from_route(call, request)
    except Exception:  # pragma: no cover - never mask the application's exception
        logger.debug("naming the span failed", exc_info=True)
    call.finish(exc)


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

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        telemetry = _active
        if telemetry is None:
            return self.get_response(request)
        call = telemetry.begin(request, False)
        if call is None:
            return self.get_response(request)
        token = _attach(call.context)  # type: ignore[arg-type]
        try:
            if telemetry.commenter is None:
                response = self.get_response(request)
            else:
                with telemetry.commenter.wrap(request):
                    response = self.get_response(request)
        except BaseException as exc:  # only when Django itself lets it escape
            _finish_escaped(call, request, exc)
            raise
        finally:
            _detach(token)
        telemetry.end(call, request, response)
        return response

    async def __acall__(self, request: HttpRequest) -> Any:
        telemetry = _active
        get_response: Callable[[HttpRequest], Awaitable[Any]] = self.get_response
        if telemetry is None:
            return await get_response(request)
        call = telemetry.begin(request, True)
        if call is None:
            return await get_response(request)
        token = _attach(call.context)  # type: ignore[arg-type]
        try:
            if telemetry.commenter is None:
                response = await get_response(request)
            else:
                with telemetry.commenter.wrap(request):
                    response = await get_response(request)
        except BaseException as exc:  # cancellation (client gone) included
            _finish_escaped(call, request, exc)
            raise
        finally:
            _detach(token)
        telemetry.end(call, request, response)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Record the view's exception; Django then renders a response for it (always called
        synchronously: Django's exception middleware has no async mode)."""
        _record_exception(request, exception)
