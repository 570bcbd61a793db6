"""What the middleware builds once from its ``WsgiConfig``, and upstream's module helpers.

``OpenTelemetryMiddleware.__call__`` (``__init__.py``)::

    call = telemetry.start(environ)          # guarded: None when excluded (or our step failed)
    token = attach(call.context)             # the span is current while the app runs
    result = app(environ, traced_start_response(call, start_response, telemetry.response_hook))
    detach(token)
    return call.wrap_response(result)        # ends when the server closes the body
"""

from __future__ import annotations

from typing import Callable, Final, Optional

from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.http import (
    Environ,
    MethodNormalizer,
    ResponseHook,
    ServerCall,
    ServerTelemetry,
    WsgiRequest,
)
from instrumentarium.util.safety import guard, safe_hook
from instrumentarium.util.semconv import SemconvMode, opt_in_mode

from ._config import WsgiConfig
from .version import __version__

__all__ = ["WsgiTelemetry", "collect_request_attributes", "get_default_span_name"]

_STARTING: Final = guard("starting the WSGI request's span")


class WsgiTelemetry(ServerTelemetry):
    """The server core with the middleware's hooks."""

    __slots__ = ("request_hook", "response_hook")

    def __init__(self, config: WsgiConfig) -> None:
        super().__init__("instrumentarium.wsgi", __version__, "WSGI", config)
        self.request_hook = safe_hook(config.request_hook, "request_hook")
        self.response_hook = _with_environ(safe_hook(config.response_hook, "response_hook"))

    @_STARTING
    def start(self, environ: Environ) -> Optional[ServerCall]:
        """The request's call with its span started; None when its URL is excluded."""
        request = WsgiRequest(environ)
        if self.excluded is not None and self.is_excluded(request):
            return None
        call = ServerCall(self, request)
        span = call.start_span(_span_name(call.method, environ))
        if self.request_hook is not None:
            self.request_hook(span, environ)
        return call


def _with_environ(hook: Optional[Callable[..., None]]) -> Optional[ResponseHook]:
    """The user's ``hook(span, environ, status, headers)`` as the core calls it."""
    if hook is None:
        return None

    def response_hook(call: ServerCall, status: str, headers: list[tuple[str, str]]) -> None:
        hook(call.ensure_span(), call.request.carrier, status, headers)

    return response_hook


def get_default_span_name(environ: Environ) -> str:
    """Upstream's WSGI span name: ``"{METHOD} {PATH_INFO}"``, ``"HTTP"`` for unknown methods.

    Reads the method variables on each call; the middleware resolves them once instead.
    """
    method, _ = MethodNormalizer.from_env().normalize(environ.get("REQUEST_METHOD") or "")
    return _span_name(method, environ)


def _span_name(method: str, environ: Environ) -> str:
    if method == "_OTHER":
        return "HTTP"
    path = (environ.get("PATH_INFO") or "").strip()
    return f"{method} {path}" if path else method


def collect_request_attributes(
    environ: Environ, mode: Optional[SemconvMode] = None
) -> dict[str, AttributeValue]:
    """Upstream's helper: the span attributes of a request (no metrics, no span)."""
    builder = _attribute_builder(mode if mode is not None else opt_in_mode("http"))
    # Read the method variables on each call, as upstream's sanitize_method does.
    method, original = MethodNormalizer.from_env().normalize(environ.get("REQUEST_METHOD") or "")
    return builder.request_attributes(WsgiRequest(environ), method, original)


_builders: dict[str, ServerTelemetry] = {}


def _attribute_builder(mode: SemconvMode) -> ServerTelemetry:
    builder = _builders.get(mode.name)
    if builder is None:
        options = WsgiConfig(
            tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
        )
        builder = _builders[mode.name] = ServerTelemetry(
            "instrumentarium.wsgi", "", "WSGI", options, mode
        )
    return builder
