"""What runs per request: the patched ``requests.Session.send`` and its configurations.

One wrapper sits on the class, so every session is covered, including those created before
``instrument()`` and the throw-away ones of ``requests.get``. Each call looks up the session's own
configuration (``instrument_session``), a session switched off (``uninstrument_session``), or the
global one (``instrument()``): a session is never traced twice, whatever is combined.

``Session.send``             exclusion and suppression checks (nothing allocated when skipped)
  span started               CLIENT, named by the method, attributes passed to the sampler
  request_hook, inject       traceparent written into the PreparedRequest's headers
  original send              span current, HTTP instrumentation suppressed: urllib3 and
                             http.client underneath create no second span
  response or exception      status rules, response_hook, span ended and duration recorded once
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Callable, Final, Optional, Union

from opentelemetry import context as otel_context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, TracerProvider

from instrumentarium.util.http import (
    HttpClientTelemetry,
    http_instrumentation_suppressed,
)
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import logger, safe_hook
from instrumentarium.util.semconv import opt_in_mode

from .version import __version__

if TYPE_CHECKING:
    import requests

_SESSION_ATTR: Final = "_instrumentarium_requests"
_OFF: Final = "off"  # uninstrument_session: this session is not traced even under instrument()
_detach: Final = otel_context.detach


class RequestsHandler:
    """The configuration of ``instrument()`` or of one session, resolved once."""

    __slots__ = ("request_hook", "response_hook", "telemetry")

    def __init__(
        self,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        request_hook: Optional[Callable[[Span, Any], None]] = None,
        response_hook: Optional[Callable[[Span, Any, Any], None]] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
        duration_histogram_boundaries: Optional[Sequence[float]] = None,
    ) -> None:
        mode = opt_in_mode("http")
        buckets_ms, buckets_s = _duration_buckets(duration_histogram_boundaries, mode.old)
        self.telemetry = HttpClientTelemetry(
            scope="instrumentarium.requests",
            version=__version__,
            library="REQUESTS",
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            excluded_urls=excluded_urls,
            duration_buckets_ms=buckets_ms,
            duration_buckets_s=buckets_s,
            user_agent=True,
            mode=mode,
        )
        self.request_hook = safe_hook(request_hook, "request_hook")
        self.response_hook = safe_hook(response_hook, "response_hook")


def _duration_buckets(
    boundaries: Optional[Sequence[float]], old: bool
) -> tuple[Optional[Sequence[float]], Optional[Sequence[float]]]:
    """``duration_histogram_boundaries`` for the ms and the s histogram.

    Upstream gives the same list to both, so one of the two is always off by a factor of 1000.
    Here the list is in the unit of the histogram the user sees by default: milliseconds when the
    old conventions are emitted (default and ``http/dup``; the seconds histogram then gets the
    same boundaries divided by 1000), seconds in the stable-only mode (``http``), where an
    upstream user's list was necessarily written in seconds.
    """
    if boundaries is None:
        return None, None
    values = tuple(float(b) for b in boundaries)
    if old:
        return values, tuple(b / 1000 for b in values)
    return None, values


_global_handler: Optional[RequestsHandler] = None
_sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()


def _handler_for(session: requests.Session) -> Optional[RequestsHandler]:
    own = session.__dict__.get(_SESSION_ATTR)
    if own is None:
        return _global_handler
    return None if own is _OFF else own


def _send(
    wrapped: Callable[..., requests.Response],
    session: requests.Session,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> requests.Response:
    handler = _handler_for(session)
    if handler is None or not args or http_instrumentation_suppressed():
        return wrapped(*args, **kwargs)
    request = args[0]
    if _Requests.response_type is None:
        _Requests.bind()
    telemetry = handler.telemetry
    url = request.url
    if not isinstance(url, str) or (telemetry.excluded is not None and telemetry.is_excluded(url)):
        return wrapped(*args, **kwargs)
    try:
        headers = request.headers
        call = telemetry.start(
            request.method or "",
            url,
            request_headers=headers.items() if headers is not None else None,
            user_agent=headers.get("User-Agent") if headers is not None else None,
        )
    except Exception:  # never let telemetry break the request
        logger.debug("starting the requests span failed", exc_info=True)
        return wrapped(*args, **kwargs)
    if handler.request_hook is not None:
        handler.request_hook(call.span, request)
    if request.headers is None:
        request.headers = _Requests.headers_type()
    call.inject(request.headers)
    token = call.attach()
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        _detach(token)  # type: ignore[arg-type]
        try:
            failed = getattr(exc, "response", None)
            if isinstance(failed, _Requests.response_type):
                _on_response(handler, call, request, failed)
        finally:
            call.end(exc)
        raise
    _detach(token)  # type: ignore[arg-type]
    try:
        if isinstance(response, _Requests.response_type):
            _on_response(handler, call, request, response)
    except Exception:  # never let telemetry lose the response
        logger.debug("recording the requests response failed", exc_info=True)
    call.end()
    return response


def _on_response(handler: RequestsHandler, call: Any, request: Any, response: Any) -> None:
    raw = response.raw
    call.on_response(
        response.status_code,
        getattr(raw, "version", None),
        response.headers.items() if call.telemetry.headers is not None else None,
    )
    if handler.response_hook is not None:
        handler.response_hook(call.span, request, response)


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


PATCHES: Final = PatchSet([Patch("requests.sessions", "Session.send", _send)])


def _sync_patches() -> None:
    if _global_handler is not None or len(_sessions):
        PATCHES.apply()
    else:
        PATCHES.remove()


def set_global_handler(handler: Optional[RequestsHandler]) -> None:
    global _global_handler
    _global_handler = handler
    _sync_patches()


def set_session_handler(session: requests.Session, handler: Optional[RequestsHandler]) -> None:
    """Give ``session`` its own configuration (None: switch the session off)."""
    session.__dict__[_SESSION_ATTR] = handler if handler is not None else _OFF
    if handler is not None:
        _sessions.add(session)
    else:
        _sessions.discard(session)
    _sync_patches()


def session_handler(session: requests.Session) -> Optional[RequestsHandler]:
    own = session.__dict__.get(_SESSION_ATTR)
    return None if own is None or own is _OFF else own


def forget_session(session: requests.Session) -> None:
    session.__dict__.pop(_SESSION_ATTR, None)
    _sessions.discard(session)
    _sync_patches()
