"""What runs per request: two patched methods of Pyramid's ``Router`` and the configuration
they read.

``Router.__call__`` (the WSGI app)  clock starts, exclusion check, active_requests +1; the span
                                    starts (named by the method until the route is known) and is
                                    current while Pyramid runs: tweens, routing, view, exception
                                    views
  ``Router.invoke_request``         the tweens have answered: the matched route renames the span
                                    ``"{METHOD} {pattern}"`` and becomes ``http.route``; an
                                    exception that an exception view turned into a 5xx is
                                    recorded on the span
  ``start_response``                status, captured response headers, ``traceresponse``
  body closed by the server         span ends, duration recorded, active_requests -1

Both patches live on the class, so every app is traced, including routers made before
``instrument()``, whatever their ``pyramid.tweens`` list says. Each request asks for its
registry's own ``PyramidTelemetry`` (``instrument_config``), else the global one. Each step of
ours runs under a guard: when it fails, the failure is logged once and the request goes on
untraced; Pyramid's own calls never run inside one.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import Token
from typing import TYPE_CHECKING, Any, Callable, Final, Optional

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.http import (
    Environ,
    ServerCall,
    ServerTelemetry,
    WsgiRequest,
    names,
    traced_start_response,
)
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import guard

from ._config import PyramidConfig
from .version import __version__

if TYPE_CHECKING:
    from pyramid.registry import Registry
    from pyramid.request import Request
    from pyramid.response import Response
    from pyramid.router import Router

__all__ = ["ACTIVE", "PATCHES", "PyramidTelemetry", "registry_mark", "trace_tween_factory"]

_CALL_KEY: Final = "instrumentarium.pyramid.call"
_MARK_KEY: Final = "_instrumentarium_pyramid_mark"
_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_STARTING: Final = guard("starting the Pyramid span")
_ROUTING: Final = guard("recording the Pyramid route")
_FAILING: Final = guard("recording the Pyramid app's exception")


class PyramidTelemetry(ServerTelemetry):
    """The server core built once from a ``PyramidConfig``."""

    __slots__ = ()

    def __init__(self, config: PyramidConfig) -> None:
        super().__init__("instrumentarium.pyramid", __version__, "PYRAMID", config)


class RegistryMark:
    """What ``ACTIVE`` keeps a configurator's own telemetry on: Pyramid's ``Registry`` is a
    ``dict``, hence unhashable, so it holds this mark instead (in its ``__dict__``)."""


def registry_mark(registry: Registry) -> RegistryMark:
    """The registry's mark, made on first use."""
    mark: Optional[RegistryMark] = registry.__dict__.get(_MARK_KEY)
    if mark is None:
        mark = registry.__dict__[_MARK_KEY] = RegistryMark()
    return mark


def trace_tween_factory(
    handler: Callable[[Request], Response],
    registry: Registry,  # noqa: ARG001 - the tween factory signature Pyramid calls
) -> Any:
    """The tween an explicit ``pyramid.tweens`` list names (upstream's ``trace_tween_factory``):
    it adds nothing, because the router itself is traced; naming it keeps such a list valid."""
    return handler


def _router_call(
    wrapped: Callable[..., Iterable[bytes]],
    router: Router,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Iterable[bytes]:
    mark = router.registry.__dict__.get(_MARK_KEY)
    telemetry = ACTIVE.global_ if mark is None else ACTIVE.config_for(mark)
    if telemetry is None or kwargs or len(args) != 2:
        return wrapped(*args, **kwargs)
    environ, start_response = args
    started = _start(telemetry, environ)
    if started is None:  # excluded, or our step failed: Pyramid runs untraced
        return telemetry.run_declined(WsgiRequest(environ), wrapped, environ, start_response)
    call, token = started
    try:
        result = wrapped(environ, traced_start_response(call, start_response))
    except Exception as exc:
        if _unhandled(call, exc) is None:
            call.finish(exc)
        raise
    except BaseException as exc:
        call.finish(exc)
        raise
    finally:
        _detach(token)
    return call.wrap_response(result)


@_STARTING
def _start(
    telemetry: PyramidTelemetry, environ: Environ
) -> Optional[tuple[ServerCall, Token[Context]]]:
    """Start the request's span and make it current: ``(call, token)``; None when its URL (full,
    query included, as upstream's ``request.url``) is excluded."""
    request = WsgiRequest(environ)
    if telemetry.excluded is not None and telemetry.is_excluded(request):
        return None
    call = ServerCall(telemetry, request)
    # Upstream's Pyramid spans carry the full URL too, redacted: http.url (old), url.full (new).
    url = telemetry.redactor.redact_url(request.url())
    if telemetry.old:
        call.attributes[names.HTTP_URL] = url
    if telemetry.new:
        call.attributes[names.URL_FULL] = url
    call.start_span(call.span_name())
    environ[_CALL_KEY] = call
    return call, _attach(call.context)  # type: ignore[arg-type]  # set by start_span


@_FAILING
def _unhandled(call: ServerCall, exc: Exception) -> bool:
    """An exception no exception view handled: the server answers 500. The span gets the
    exception (event, ERROR, ``error.type`` its class) and the 500, as upstream's does."""
    call.record_exception(exc, error_type=True)
    error_type = call.attributes.get(names.ERROR_TYPE)
    call.on_response(500)
    if error_type is not None:  # the exception's class, not "500"
        call.attributes[names.ERROR_TYPE] = error_type
        if call.span is not None and call.span.is_recording():
            call.span.set_attribute(names.ERROR_TYPE, error_type)
    call.finish()
    return True


def _invoke_request(
    wrapped: Callable[..., Response],
    _router: Router,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Response:
    request = args[0] if args else kwargs.get("request")
    environ = getattr(request, "environ", None)
    call = environ.get(_CALL_KEY) if environ is not None else None
    # Only the request Router.__call__ began: a subrequest (or a copy's environ) is not it.
    if call is None or call.request.carrier is not environ:
        return wrapped(*args, **kwargs)
    try:
        response = wrapped(*args, **kwargs)
    except BaseException:
        _routed(call, request, None)
        raise
    _routed(call, request, response)
    return response


@_ROUTING
def _routed(call: ServerCall, request: Request, response: Optional[Response]) -> None:
    """The route Pyramid matched names the span; an exception an exception view answered with
    a 5xx is recorded (a 3xx or 4xx one, e.g. ``HTTPFound``, is not an error)."""
    route = getattr(request, "matched_route", None)
    if route is not None:
        call.set_route(route.pattern)
    exception = getattr(request, "exception", None)
    if exception is not None and response is not None and getattr(response, "status_int", 0) >= 500:
        call.record_exception(exception, error_type=False)


PATCHES: Final = PatchSet(
    [
        Patch("pyramid.router", "Router.__call__", _router_call),
        Patch("pyramid.router", "Router.invoke_request", _invoke_request),
    ]
)

# The PyramidTelemetry in force: instrument() sets the global one, instrument_config() a
# registry's own (or OFF); the patches are applied while any is set.
ACTIVE: Final = ActiveConfig[PyramidTelemetry]("_instrumentarium_pyramid_telemetry", PATCHES)
