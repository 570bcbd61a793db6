"""What the middleware builds once from its ``WsgiConfig``.

``OpenTelemetryMiddleware.__call__`` (``__init__.py``)::

    call = telemetry.start(environ)          # guarded: None when excluded (or our step failed)
    token = attach(call.context)             # the span is current while the app runs
    result = app(environ, traced_start_response(call, start_response, telemetry.response_hook))
    detach(token)
    return call.wrap_response(result)        # ends when the server closes the body
"""

from __future__ import annotations

from typing import Callable, Final, Optional

from instrumentarium.util.http import (
    Environ,
    ResponseHook,
    ServerCall,
    ServerTelemetry,
    WsgiRequest,
)
from instrumentarium.util.safety import guard, safe_hook

from ._config import WsgiConfig
from .version import __version__

__all__ = ["WsgiTelemetry", "span_name"]

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
        span = call.start_span(span_name(call.method, environ))
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


def span_name(method: str, environ: Environ) -> str:
    """``"{METHOD} {PATH_INFO}"`` (upstream's WSGI span name), ``"HTTP"`` for ``_OTHER``."""
    if method == "_OTHER":
        return "HTTP"
    path = (environ.get("PATH_INFO") or "").strip()
    return f"{method} {path}" if path else method
