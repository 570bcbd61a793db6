"""What runs per request: the patched ``requests.Session.send`` and what it emits with.

One wrapper sits on the class, so every session is covered, including those created before
``instrument()`` and the throw-away ones of ``requests.get``. Each call asks ``ACTIVE`` for the
session's own configuration (``instrument_session``), a session switched off
(``uninstrument_session``), or the global one (``instrument()``): a session is never traced twice,
whatever is combined.

``Session.send``             suppression check; no configuration: the original call as is
  _begin (guarded)           exclusion check, span started (CLIENT, named by the method,
                             attributes passed to the sampler), request_hook, traceparent
                             written into the PreparedRequest's headers
  original send              span current, HTTP instrumentation suppressed: urllib3 and
                             http.client underneath create no second span
  _finish (guarded)          status rules, response_hook, span ended and duration recorded once

A failure in ``_begin`` or ``_finish`` is logged once and the request goes on (untraced when the
span could not start); the original ``send`` never runs inside a guard, so its exceptions
propagate unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Final, Optional

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.http import (
    HttpClientCall,
    HttpClientTelemetry,
    http_instrumentation_suppressed,
)
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import guard, safe_hook

from ._config import RequestsConfig

if TYPE_CHECKING:
    import requests

__all__ = ["ACTIVE", "RequestsTelemetry", "forget_session"]

_BEGIN: Final = guard("starting the requests span")
_FINISH: Final = guard("ending the requests span")


class RequestsTelemetry(HttpClientTelemetry):
    """What ``instrument()`` or ``instrument_session()`` builds once from a ``RequestsConfig``:
    the HTTP client telemetry (tracer, instruments, exclusions) and the hooks, made safe."""

    __slots__ = ("request_hook", "response_hook")

    def __init__(self, config: RequestsConfig) -> None:
        super().__init__(config, library="requests", user_agent=True)
        self.request_hook = safe_hook(config.request_hook, "request_hook")
        self.response_hook = safe_hook(config.response_hook, "response_hook")


def _send(
    wrapped: Callable[..., requests.Response],
    session: requests.Session,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> requests.Response:
    telemetry = ACTIVE.config_for(session)
    if telemetry is None or not args or http_instrumentation_suppressed():
        return wrapped(*args, **kwargs)
    request = args[0]
    call = _begin(telemetry, request)
    if call is None:  # excluded, not a request we can read, or our own failure (logged)
        return wrapped(*args, **kwargs)
    token = call.attach()
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        call.detach(token)
        _finish(telemetry, call, request, None, exc)
        raise
    call.detach(token)
    _finish(telemetry, call, request, response, None)
    return response


@_BEGIN
def _begin(telemetry: RequestsTelemetry, request: Any) -> Optional[HttpClientCall]:
    """The started call of ``request``, its traceparent injected; None when it is excluded."""
    url = request.url
    if not isinstance(url, str) or (telemetry.excluded is not None and telemetry.is_excluded(url)):
        return None
    if _Requests.response_type is None:
        _Requests.bind()
    headers = request.headers
    call = telemetry.start(
        request.method or "",
        url,
        request_headers=headers.items() if headers is not None else None,
        user_agent=headers.get("User-Agent") if headers is not None else None,
    )
    if telemetry.request_hook is not None:
        telemetry.request_hook(call.span, request)
    if request.headers is None:
        request.headers = _Requests.headers_type()
    call.inject(request.headers)
    return call


@_FINISH
def _finish(
    telemetry: RequestsTelemetry,
    call: HttpClientCall,
    request: Any,
    response: Any,
    exc: Optional[BaseException],
) -> None:
    """Record the response (also the one a failed ``send`` carries) and end the call once."""
    try:
        if exc is not None:
            response = getattr(exc, "response", None)
        if isinstance(response, _Requests.response_type):
            call.on_response(
                response.status_code,
                getattr(response.raw, "version", None),
                response.headers.items() if telemetry.headers is not None else None,
            )
            if telemetry.response_hook is not None:
                telemetry.response_hook(call.span, request, response)
    finally:
        call.end(exc)


class _Requests:
    """Types from requests, bound on the first traced call: importing this package must not
    import requests (``opentelemetry-instrument`` patches it on its import)."""

    response_type: Any = None
    headers_type: Any = dict

    @classmethod
    def bind(cls) -> None:
        import requests  # noqa: PLC0415 - see the class docstring
        from requests.structures import CaseInsensitiveDict  # noqa: PLC0415

        cls.response_type = requests.Response
        cls.headers_type = CaseInsensitiveDict


# The configuration in force: instrument()'s, and each session's own (or OFF) in its __dict__.
ACTIVE: Final[ActiveConfig[RequestsTelemetry]] = ActiveConfig(
    "_instrumentarium_requests", PatchSet([Patch("requests.sessions", "Session.send", _send)])
)


def forget_session(session: requests.Session) -> None:
    """Drop ``session``'s own configuration or ``OFF``: it follows ``instrument()`` again."""
    ACTIVE.set_own(session, None)
