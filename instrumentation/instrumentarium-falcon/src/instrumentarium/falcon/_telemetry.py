"""What runs per request of a Falcon WSGI app: five patched methods and the configuration they
read.

``App.__call__`` (the WSGI app)   clock starts, exclusion check (``PATH_INFO``), active_requests
                                  +1; the span starts (named by the method until routed) and is
                                  current while Falcon runs middleware, responder and handlers
  ``Request.__init__``            the request object exists: ``request_hook(span, req)``
  ``App._get_responder``          routed: the span is renamed ``"{METHOD} {uri_template}"``,
                                  gets ``http.route`` and ``falcon.resource``
  ``App._handle_exception``       an exception Falcon turns into a response: recorded on the
                                  span (an ``HTTPError``'s status says it all: not recorded)
  ``App._get_body``               after the response middleware: traced request attributes,
                                  ``response_hook(span, req, resp)``
  ``start_response``              status, captured response headers, ``traceresponse``
  body closed by the server       span ends, duration recorded, active_requests -1

The patches live on the classes, so every app is traced, including apps created before
``instrument()``. ``falcon.asgi.App`` has its own ``__call__``: it is not traced here. The
request in progress is found through a context variable set around ``App.__call__``. Each step
of ours runs under a guard: when it fails, the failure is logged once and the request goes on;
Falcon's own calls never run inside one.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Callable, Final, Optional

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.http import (
    Environ,
    ServerCall,
    ServerTelemetry,
    WsgiRequest,
    traced_request_attrs,
    traced_start_response,
)
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import guard, safe_hook

from ._config import FalconConfig
from .version import __version__

if TYPE_CHECKING:
    import falcon

__all__ = ["ACTIVE", "PATCHES", "FalconTelemetry"]

_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_STARTING: Final = guard("starting the Falcon span")
_REQUEST: Final = guard("running the Falcon request hook")
_ROUTING: Final = guard("recording the Falcon route")
_FAILING: Final = guard("recording the Falcon app's exception")
_RESPONDING: Final = guard("recording the Falcon response")


class FalconTelemetry(ServerTelemetry):
    """The server core built once from a ``FalconConfig``, with its hooks and traced
    attributes."""

    __slots__ = ("request_hook", "response_hook", "traced_attrs")

    def __init__(self, config: FalconConfig) -> None:
        super().__init__("instrumentarium.falcon", __version__, "FALCON", config)
        self.request_hook = safe_hook(config.request_hook, "request_hook")
        self.response_hook = safe_hook(config.response_hook, "response_hook")
        self.traced_attrs = traced_request_attrs("FALCON", config.traced_request_attributes)


class FalconCall(ServerCall):
    """One request, with Falcon's request object once it exists."""

    __slots__ = ("req",)

    req: Optional[falcon.Request]


# The request of this thread (or task) that App.__call__ is serving: the patched methods that
# are not given the environ find it here.
_CURRENT: Final[ContextVar[Optional[FalconCall]]] = ContextVar(
    "instrumentarium.falcon.call", default=None
)


class _Falcon:
    """What the per-request code needs from Falcon, imported on first use: importing this
    package must not import Falcon (``opentelemetry-instrument`` patches on Falcon's import)."""

    http_errors: tuple[type[BaseException], ...] = ()
    status_code: Callable[[Any], int] = int

    @classmethod
    def bind(cls) -> None:
        import falcon  # noqa: PLC0415 - see the class docstring
        from falcon.util.misc import http_status_to_code  # noqa: PLC0415

        cls.http_errors = (falcon.HTTPError, falcon.HTTPStatus)
        cls.status_code = http_status_to_code


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
        return wrapped(environ, start_response)
    call, token, current = started
    try:
        result = wrapped(environ, traced_start_response(call, start_response))
    except BaseException as exc:
        call.finish(exc)
        raise
    finally:
        _CURRENT.reset(current)
        _detach(token)
    return call.wrap_response(result)


@_STARTING
def _start(
    telemetry: FalconTelemetry, environ: Environ
) -> Optional[tuple[FalconCall, Token[Context], Token[Optional[FalconCall]]]]:
    """Start the request's span, make it current and the request in progress; None when its
    path (``PATH_INFO``, as upstream) is excluded."""
    excluded = telemetry.excluded
    if excluded is not None and excluded.matches(environ.get("PATH_INFO") or ""):
        return None
    if not _Falcon.http_errors:
        _Falcon.bind()
    call = FalconCall(telemetry, WsgiRequest(environ))
    call.req = None
    call.start_span(call.span_name())
    token = _attach(call.context)  # type: ignore[arg-type]  # set by start_span
    return call, token, _CURRENT.set(call)


def _request_init(
    wrapped: Callable[..., None],
    req: falcon.Request,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    wrapped(*args, **kwargs)
    call = _CURRENT.get()
    if call is not None and call.req is None:
        _made(call, req)


@_REQUEST
def _made(call: FalconCall, req: falcon.Request) -> None:
    """The request object of the call in progress (not another one built from another
    environ inside it) exists: keep it, and run ``request_hook(span, req)``."""
    if req.env is not call.request.carrier:
        return
    call.req = req
    hook = call.telemetry.request_hook  # type: ignore[attr-defined]
    if hook is not None:
        hook(call.ensure_span(), req)


def _get_responder(
    wrapped: Callable[..., tuple[Any, dict[str, Any], object, Optional[str]]],
    _app: falcon.App[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Any, dict[str, Any], object, Optional[str]]:
    found = wrapped(*args, **kwargs)
    call = _CURRENT.get()
    if call is not None:
        _routed(call, found)
    return found


@_ROUTING
def _routed(call: FalconCall, found: tuple[Any, dict[str, Any], object, Optional[str]]) -> None:
    """Name the span by the matched ``uri_template`` (a 404 keeps the method alone) and record
    the resource's class as ``falcon.resource``, as upstream."""
    _, _, resource, uri_template = found
    if uri_template:
        call.set_route(uri_template)
    span = call.span
    if resource is not None and span is not None and span.is_recording():
        span.set_attribute("falcon.resource", type(resource).__name__)


def _handle_exception(
    wrapped: Callable[..., bool],
    _app: falcon.App[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> bool:
    handled = wrapped(*args, **kwargs)
    call = _CURRENT.get()
    if call is not None and handled and len(args) >= 3:
        _handled(call, args[1], args[2])
    return handled


@_FAILING
def _handled(call: FalconCall, resp: falcon.Response, exc: BaseException) -> None:
    """An exception an error handler answered: an ``HTTPError`` / ``HTTPStatus`` is only its
    status; any other one is recorded as an ``exception`` event, and, when the answer is a 5xx
    (Falcon's default: 500), as the span's ERROR status with its description."""
    if isinstance(exc, _Falcon.http_errors):
        return
    if _Falcon.status_code(resp.status) >= 500:
        call.record_exception(exc, error_type=False)
    else:
        call.record_exception_event(exc)


def _get_body(
    wrapped: Callable[..., Any],
    _app: falcon.App[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    call = _CURRENT.get()
    if call is not None and args:
        _respond(call, args[0])
    return wrapped(*args, **kwargs)


@_RESPONDING
def _respond(call: FalconCall, resp: falcon.Response) -> None:
    """After the response middleware: the traced request attributes (``uri_template`` is
    known by now) and ``response_hook(span, req, resp)``."""
    req = call.req
    if req is None:
        return
    telemetry: FalconTelemetry = call.telemetry  # type: ignore[assignment]
    span = call.ensure_span()
    if telemetry.traced_attrs and span.is_recording():
        for name in telemetry.traced_attrs:
            value = getattr(req, name, None)
            if value is not None:
                span.set_attribute(name, str(value))
    if telemetry.response_hook is not None:
        telemetry.response_hook(span, req, resp)


PATCHES: Final = PatchSet(
    [
        Patch("falcon.app", "App.__call__", _app_call),
        Patch("falcon.request", "Request.__init__", _request_init),
        Patch("falcon.app", "App._get_responder", _get_responder),
        Patch("falcon.app", "App._handle_exception", _handle_exception),
        Patch("falcon.app", "App._get_body", _get_body),
    ]
)

# The FalconTelemetry in force, set by instrument(); the patches are applied while it is set.
ACTIVE: Final = ActiveConfig[FalconTelemetry]("_instrumentarium_falcon_telemetry", PATCHES)
