"""What a Falcon request is traced with, WSGI and ASGI alike: the telemetry built once from a
``FalconConfig``, one request's call, and the steps that read Falcon's own objects.

``FalconTelemetry``        the WSGI server core (``instrumentarium.util.http``) with Falcon's
                           hooks and traced attributes; its ``asgi`` field:
``FalconAsgiTelemetry``    the ASGI core (``instrumentarium.asgi``) with the same options,
                           for ``falcon.asgi.App``: one server span per ``http`` request, named
                           by the method until routed, no ``send`` / ``receive`` spans

``FalconCall`` / ``FalconAsgiCall`` carry one request and Falcon's request object once it
exists; ``CURRENT`` is the call Falcon is serving in this thread (or task), set around the
app's ``__call__`` (``_patches.py``), so that Falcon's methods that are not given the environ
or scope find it. The steps below run under a guard each: when one fails, the failure is
logged once and the request goes on.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Final, Optional, Union

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.asgi._telemetry import AsgiCall, AsgiTelemetry
from instrumentarium.util.config import Config
from instrumentarium.util.http import (
    AsgiRequest,
    ServerCall,
    ServerRequest,
    ServerTelemetry,
    traced_request_attrs,
)
from instrumentarium.util.safety import guard, safe_hook

from ._config import FalconConfig, RequestHook, ResponseHook
from .version import __version__

if TYPE_CHECKING:
    from collections.abc import Iterable

    import falcon

__all__ = [
    "CURRENT",
    "FalconAsgiCall",
    "FalconAsgiTelemetry",
    "FalconCall",
    "FalconTelemetry",
    "handled",
    "made",
    "responding",
    "routed",
]

_SCOPE: Final = "instrumentarium.falcon"
_REQUEST: Final = guard("running the Falcon request hook")
_ROUTING: Final = guard("recording the Falcon route")
_FAILING: Final = guard("recording the Falcon app's exception")
_RESPONDING: Final = guard("recording the Falcon response")


class FalconTelemetry(ServerTelemetry):
    """The WSGI server core built once from a ``FalconConfig``, with its hooks and traced
    attributes, and the ASGI apps' telemetry built from the same options."""

    __slots__ = ("asgi", "request_hook", "response_hook", "traced_attrs")

    request_hook: Optional[RequestHook]
    response_hook: Optional[ResponseHook]
    traced_attrs: tuple[str, ...]

    def __init__(self, config: FalconConfig) -> None:
        super().__init__(_SCOPE, __version__, "FALCON", config)
        self.request_hook = safe_hook(config.request_hook, "request_hook")
        self.response_hook = safe_hook(config.response_hook, "response_hook")
        self.traced_attrs = traced_request_attrs("FALCON", config.traced_request_attributes)
        self.asgi = FalconAsgiTelemetry(config, self)


class _AsgiOptions(Config):
    """A ``FalconConfig`` as the ASGI core reads its options: Falcon's providers and excluded
    URLs; Falcon's own hooks instead of the ASGI ones; headers captured as the environment
    says; no ``send`` / ``receive`` spans (one span per request, as for a WSGI app)."""

    tracer_provider: Optional[TracerProvider]
    meter_provider: Optional[MeterProvider]
    excluded_urls: Union[str, Iterable[str], None]
    server_request_hook: None = None
    client_request_hook: None = None
    client_response_hook: None = None
    http_capture_headers_server_request: None = None
    http_capture_headers_server_response: None = None
    http_capture_headers_sanitize_fields: None = None
    exclude_spans: tuple[str, ...] = ("receive", "send")


def _unrouted(_app: object, _scope: object) -> None:
    """Falcon routes inside the app (request middleware may change the path first): the span
    is named by the method until then (``routed``), never by the raw path."""
    return


class FalconAsgiTelemetry(AsgiTelemetry):
    """The ASGI core for ``falcon.asgi.App``, with the hooks and traced attributes of the
    ``FalconTelemetry`` it belongs to; excluded URLs are searched in the path, as for WSGI."""

    __slots__ = ("request_hook", "response_hook", "traced_attrs")

    def __init__(self, config: FalconConfig, wsgi: FalconTelemetry) -> None:
        options = _AsgiOptions(
            tracer_provider=config.tracer_provider,
            meter_provider=config.meter_provider,
            excluded_urls=config.excluded_urls,
        )
        super().__init__(options, _SCOPE, __version__, "FALCON", route_of=_unrouted)
        self.request_hook = wsgi.request_hook
        self.response_hook = wsgi.response_hook
        self.traced_attrs = wsgi.traced_attrs

    def is_excluded(self, request: ServerRequest) -> bool:
        excluded = self.excluded
        return excluded is not None and excluded.matches(request.path)

    def new_call(self, request: AsgiRequest, measured: bool) -> FalconAsgiCall:
        return FalconAsgiCall(self, request, measured)


class FalconCall(ServerCall):
    """One request to a WSGI app, with Falcon's request object once it exists."""

    __slots__ = ("req",)

    telemetry: FalconTelemetry
    req: Optional[falcon.Request]


class FalconAsgiCall(AsgiCall):
    """One request to an ASGI app, with Falcon's request object once it exists."""

    __slots__ = ("req",)

    telemetry: FalconAsgiTelemetry
    req: Optional[falcon.asgi.Request]

    def __init__(self, telemetry: FalconAsgiTelemetry, request: AsgiRequest, measured: bool):
        super().__init__(telemetry, request, measured)
        self.req = None


Call = Union[FalconCall, FalconAsgiCall]

# The request of this thread (or task) that an app's __call__ is serving.
CURRENT: Final[ContextVar[Optional[Call]]] = ContextVar("instrumentarium.falcon.call", default=None)


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


@_REQUEST
def made(call: Call, req: Any, carrier: object) -> None:
    """The request object of the call in progress (not another one built from another
    environ or scope inside it: ``carrier`` is the one it was built from) exists: keep it, and
    run ``request_hook(span, req)``."""
    if carrier is not call.request.carrier:
        return
    call.req = req
    hook = call.telemetry.request_hook
    if hook is not None:
        hook(call.ensure_span(), req)


@_ROUTING
def routed(call: Call, found: tuple[Any, dict[str, Any], object, Optional[str]]) -> None:
    """Name the span by the matched ``uri_template`` (a 404 keeps the method alone) and record
    the resource's class as ``falcon.resource``, as upstream."""
    _, _, resource, uri_template = found
    if uri_template:
        call.set_route(uri_template)
    span = call.span
    if resource is not None and span is not None and span.is_recording():
        span.set_attribute("falcon.resource", type(resource).__name__)


@_FAILING
def handled(call: Call, resp: falcon.Response, exc: BaseException) -> None:
    """An exception an error handler answered: an ``HTTPError`` / ``HTTPStatus`` is only its
    status; any other one is recorded as an ``exception`` event, and, when the answer is a 5xx
    (Falcon's default: 500), as the span's ERROR status with its description."""
    if not _Falcon.http_errors:
        _Falcon.bind()
    if isinstance(exc, _Falcon.http_errors):
        return
    if _Falcon.status_code(resp.status) >= 500:
        call.record_exception(exc, error_type=False)
    else:
        call.record_exception_event(exc)


@_RESPONDING
def responding(call: Call, resp: falcon.Response) -> None:
    """After the response middleware: the traced request attributes (``uri_template`` is
    known by now) and ``response_hook(span, req, resp)``."""
    req = call.req
    if req is None:
        return
    telemetry = call.telemetry
    span = call.ensure_span()
    if telemetry.traced_attrs and span.is_recording():
        for name in telemetry.traced_attrs:
            value = getattr(req, name, None)
            if value is not None:
                span.set_attribute(name, str(value))
    if telemetry.response_hook is not None:
        telemetry.response_hook(span, req, resp)
