"""What runs per request of a Falcon app: the patched methods and the configuration they read.

WSGI (``falcon.App``, ``falcon.API``)::

    App.__call__ (the WSGI app)      clock starts, exclusion check (``PATH_INFO``),
                                     active_requests +1; the span starts (named by the method
                                     until routed) and is current while Falcon runs middleware,
                                     responder and error handlers
      Request.__init__               the request object exists: ``request_hook(span, req)``
      App._get_responder             routed: the span is renamed ``"{METHOD} {uri_template}"``,
                                     gets ``http.route`` and ``falcon.resource``
      App._handle_exception          an exception Falcon turns into a response: recorded on
                                     the span (an ``HTTPError``'s status says it all)
      App._get_body                  after the response middleware: traced request
                                     attributes, ``response_hook(span, req, resp)``
      start_response                 status, captured response headers, ``traceresponse``
      body closed by the server      span ends, duration recorded, active_requests -1

ASGI (``falcon.asgi.App``, ``http`` requests; websockets and lifespan run untraced)::

    asgi App.__call__                ``instrumentarium.asgi.serve``: exclusion check (the
                                     path), the span (named by the method until routed),
                                     current while the app runs; the ASGI attributes
      asgi Request.__init__          ``request_hook(span, req)``
      App._get_responder             the same step as WSGI's (the method is inherited)
      asgi App._handle_exception     the same step as WSGI's
      asgi Response._asgi_headers    after the response middleware, before
                                     ``http.response.start``: the same step as ``_get_body``
      send(http.response.start)      status, captured response headers, ``traceresponse``
      send(last body) / return       span ends, metrics recorded, active_requests -1

The patches live on the classes, so every app is traced, including apps created before
``instrument()``. Falcon's own calls never run inside one of our guards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, MutableMapping
from contextvars import Token
from typing import TYPE_CHECKING, Any, Callable, Final, Optional

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from instrumentarium.asgi._telemetry import CALL_KEY, serve
from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.http import Environ, WsgiRequest, traced_start_response
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import guard

from ._telemetry import (
    CURRENT,
    Call,
    FalconAsgiCall,
    FalconCall,
    FalconTelemetry,
    handled,
    made,
    responding,
    routed,
)

if TYPE_CHECKING:
    import falcon
    import falcon.asgi

__all__ = ["ACTIVE", "PATCHES"]

_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_STARTING: Final = guard("starting the Falcon span")

Scope = MutableMapping[str, Any]
Responder = tuple[Any, dict[str, Any], object, Optional[str]]


# --- WSGI -----------------------------------------------------------------------------------


def _app_call(
    wrapped: Callable[..., Iterable[bytes]],
    _app: falcon.App[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Iterable[bytes]:
    telemetry = ACTIVE.global_  # no per-app options (upstream has none; App has __slots__)
    if telemetry is None or kwargs or len(args) != 2:
        return wrapped(*args, **kwargs)
    environ, start_response = args
    started = _start(telemetry, environ)
    if started is None:  # excluded, or our step failed: Falcon runs untraced
        return telemetry.run_declined(WsgiRequest(environ), wrapped, environ, start_response)
    call, token, current = started
    try:
        result = wrapped(environ, traced_start_response(call, start_response))
    except BaseException as exc:
        call.finish(exc)
        raise
    finally:
        CURRENT.reset(current)
        _detach(token)
    return call.wrap_response(result)


@_STARTING
def _start(
    telemetry: FalconTelemetry, environ: Environ
) -> Optional[tuple[FalconCall, Token[Context], Token[Optional[Call]]]]:
    """Start the request's span, make it current and the request in progress; None when its
    path (``PATH_INFO``, as upstream) is excluded."""
    excluded = telemetry.excluded
    if excluded is not None and excluded.matches(environ.get("PATH_INFO") or ""):
        return None
    call = FalconCall(telemetry, WsgiRequest(environ))
    call.req = None
    call.start_span(call.span_name())
    token = _attach(call.context)  # type: ignore[arg-type]  # set by start_span
    return call, token, CURRENT.set(call)


def _request_init(
    wrapped: Callable[..., None],
    req: falcon.Request,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    wrapped(*args, **kwargs)
    call = CURRENT.get()
    if call is not None and call.req is None:
        made(call, req, req.env)


def _handle_exception(
    wrapped: Callable[..., bool],
    _app: falcon.App[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> bool:
    was_handled = wrapped(*args, **kwargs)
    call = CURRENT.get()
    if call is not None and was_handled and len(args) >= 3:
        handled(call, args[1], args[2])
    return was_handled


def _get_body(
    wrapped: Callable[..., Any],
    _app: falcon.App[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    call = CURRENT.get()
    if call is not None and args:
        responding(call, args[0])
    return wrapped(*args, **kwargs)


# --- both: falcon.asgi.App inherits the router's entry ---------------------------------------


def _get_responder(
    wrapped: Callable[..., Responder],
    _app: falcon.App[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Responder:
    found = wrapped(*args, **kwargs)
    call = CURRENT.get()
    if call is not None:
        routed(call, found)
    return found


# --- ASGI -----------------------------------------------------------------------------------


def _asgi_app_call(
    wrapped: Callable[..., Awaitable[None]],
    app: falcon.asgi.App[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Awaitable[None]:
    telemetry = ACTIVE.global_
    if telemetry is None or kwargs or len(args) != 3 or args[0].get("type") != "http":
        return wrapped(*args, **kwargs)

    async def serving(scope: Scope, receive: Any, send: Any) -> None:
        """Falcon's ``__call__`` inside the span, with its call the request in progress."""
        call = scope.get(CALL_KEY)
        if type(call) is not FalconAsgiCall:  # untraced, or another front's call
            await wrapped(scope, receive, send)
            return
        current = CURRENT.set(call)
        try:
            await wrapped(scope, receive, send)
        finally:
            CURRENT.reset(current)

    scope, receive, send = args
    return serve(telemetry.asgi, serving, app, scope, receive, send)


def _asgi_request_init(
    wrapped: Callable[..., None],
    req: falcon.asgi.Request,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    wrapped(*args, **kwargs)
    call = CURRENT.get()
    if call is not None and call.req is None:
        made(call, req, req.scope)


async def _asgi_handle_exception(
    wrapped: Callable[..., Awaitable[bool]],
    _app: falcon.asgi.App[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> bool:
    was_handled = await wrapped(*args, **kwargs)
    call = CURRENT.get()
    if call is not None and was_handled and len(args) >= 3 and args[1] is not None:
        handled(call, args[1], args[2])
    return was_handled


def _asgi_headers(
    wrapped: Callable[..., list[tuple[bytes, bytes]]],
    resp: falcon.asgi.Response,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> list[tuple[bytes, bytes]]:
    call = CURRENT.get()
    if call is not None:
        responding(call, resp)
    return wrapped(*args, **kwargs)


PATCHES: Final = PatchSet(
    [
        Patch("falcon.app", "App.__call__", _app_call),
        Patch("falcon.request", "Request.__init__", _request_init),
        Patch("falcon.app", "App._get_responder", _get_responder),
        Patch("falcon.app", "App._handle_exception", _handle_exception),
        Patch("falcon.app", "App._get_body", _get_body),
        Patch("falcon.asgi.app", "App.__call__", _asgi_app_call),
        Patch("falcon.asgi.request", "Request.__init__", _asgi_request_init),
        Patch("falcon.asgi.app", "App._handle_exception", _asgi_handle_exception),
        Patch("falcon.asgi.response", "Response._asgi_headers", _asgi_headers),
    ]
)

# The FalconTelemetry in force, set by instrument(); the patches are applied while it is set.
ACTIVE: Final = ActiveConfig[FalconTelemetry]("_instrumentarium_falcon_telemetry", PATCHES)
