"""What runs per call: the patched ``urllib.request.OpenerDirector.open`` and what it emits with.

``urlopen`` and every opener (``build_opener``, ``install_opener``) end in
``OpenerDirector.open``, so one wrapper on the class covers them all, including openers created
before ``instrument()``. Each call asks ``ACTIVE`` for the opener's own setting
(``uninstrument_opener`` switches one off) or the global configuration.

``OpenerDirector.open``      suppression check; no configuration: the original call as is
  _begin (guarded)           a ``Request`` made from a string URL (once: the original uses it
                             instead of making its own); only http and https are traced; the
                             exclusion check on the full URL; span started (CLIENT, named by
                             the method, attributes passed to the sampler); request_hook;
                             traceparent written into the request's headers
  original open              span current, HTTP instrumentation suppressed: the redirects
                             urllib follows by calling ``open`` again belong to this span, and
                             an ``http.client``-level instrumentation underneath makes none
  _finish (guarded)          status of the response, or of the ``HTTPError`` that carries one;
                             response_hook; sizes; span ended and metrics recorded once

A failure in ``_begin`` or ``_finish`` is logged once and the request goes on (untraced when the
span could not start); the original ``open`` never runs inside a guard, so its exceptions
(``HTTPError``, ``URLError``, timeouts) propagate unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Final, Optional

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.http import (
    HttpClientCall,
    HttpClientTelemetry,
    body_size,
    http_instrumentation_suppressed,
)
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import guard, safe_hook

from ._config import URLLibConfig

if TYPE_CHECKING:
    import urllib.request

__all__ = ["ACTIVE", "URLLibTelemetry"]

_BEGIN: Final = guard("starting the urllib span")
_FINISH: Final = guard("ending the urllib span")
_TRACED_SCHEMES: Final = frozenset({"http", "https"})


class URLLibTelemetry(HttpClientTelemetry):
    """What ``instrument()`` builds once from a ``URLLibConfig``: the HTTP client telemetry
    (tracer, duration and body-size instruments, exclusions, header capture) and the hooks,
    made safe."""

    __slots__ = ("request_hook", "response_hook")

    def __init__(self, config: URLLibConfig) -> None:
        super().__init__(
            config,
            library="urllib",
            size_metrics=True,
            duration_description="Measures the duration of the outbound HTTP request",
        )
        self.request_hook = safe_hook(config.request_hook, "request_hook")
        self.response_hook = safe_hook(config.response_hook, "response_hook")


def _open(
    wrapped: Callable[..., Any],
    opener: urllib.request.OpenerDirector,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    telemetry = ACTIVE.config_for(opener)
    if telemetry is None or http_instrumentation_suppressed():
        return wrapped(*args, **kwargs)
    count = len(args)
    fullurl = args[0] if count > 0 else kwargs.get("fullurl")
    data = args[1] if count > 1 else kwargs.get("data")
    started = _begin(telemetry, fullurl, data)
    if started is None:  # not HTTP, excluded, a URL urllib rejects, or our own failure (logged)
        return wrapped(*args, **kwargs)
    call, request = started
    if count > 0:
        args = (request, *args[1:])
    else:
        kwargs["fullurl"] = request
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


class _Urllib:
    """Types of ``urllib``, bound on the first traced call: importing this package must not
    import ``urllib.request`` (the patch waits for its import)."""

    request_type: Any = None
    http_error: Any = None

    @classmethod
    def bind(cls) -> None:
        import urllib.error  # noqa: PLC0415 - see the class docstring
        import urllib.request  # noqa: PLC0415

        cls.http_error = urllib.error.HTTPError
        cls.request_type = urllib.request.Request


@_BEGIN
def _begin(
    telemetry: URLLibTelemetry, fullurl: Any, data: Any
) -> Optional[tuple[HttpClientCall, urllib.request.Request]]:
    """The started call and the ``Request`` to send (its traceparent injected); None when the
    call is not traced."""
    if _Urllib.request_type is None:
        _Urllib.bind()
    if isinstance(fullurl, str):
        try:
            request = _Urllib.request_type(fullurl)
        except ValueError:  # "unknown url type": the original raises it, untraced
            return None
    elif isinstance(fullurl, _Urllib.request_type):
        request = fullurl
    else:
        return None
    if request.type not in _TRACED_SCHEMES:  # file:, data:, ftp: are not HTTP requests
        return None
    url = request.full_url
    if telemetry.excluded is not None and telemetry.is_excluded(url):
        return None
    method = getattr(request, "method", None)  # as Request.get_method(), with open()'s data
    if not method:
        method = "GET" if data is None and request.data is None else "POST"
    call = telemetry.start(
        method.upper(),
        url,
        request_headers=request.header_items() if telemetry.headers is not None else None,
    )
    if telemetry.request_hook is not None:
        telemetry.request_hook(call.span, request)
    call.inject(request.headers)
    return call, request


@_FINISH
def _finish(
    telemetry: URLLibTelemetry,
    call: HttpClientCall,
    request: urllib.request.Request,
    response: Any,
    exc: Optional[BaseException],
) -> None:
    """Record the response (an ``HTTPError`` is one), its hook and the sizes; end the call
    once."""
    request_size = response_size = None
    try:
        request_size = body_size(request.data)
        if exc is not None and isinstance(exc, _Urllib.http_error):
            response = exc
        if response is not None:
            status = getattr(response, "status", None)
            if status is None:
                status = getattr(response, "code", None)
            headers = getattr(response, "headers", None)
            if status is not None:
                call.on_response(
                    status,
                    getattr(response, "version", None),  # an HTTPError reads its response's
                    headers.items() if headers is not None and telemetry.headers else None,
                )
            response_size = _response_size(headers, request)
        if telemetry.response_hook is not None:
            telemetry.response_hook(call.span, request, response)
    finally:
        call.end(exc, request_size=request_size, response_size=response_size)


def _response_size(headers: Any, request: urllib.request.Request) -> Optional[int]:
    """The response body's size: ``Content-Length`` (0 for HEAD); unknown (not recorded)
    without one."""
    if request.get_method() == "HEAD":
        return 0
    length = headers.get("Content-Length") if headers is not None else None
    if length is not None:
        try:
            return max(int(length), 0)
        except ValueError:
            pass
    return None


# The configuration in force: instrument()'s, and an opener's own OFF (uninstrument_opener).
ACTIVE: Final[ActiveConfig[URLLibTelemetry]] = ActiveConfig(
    "_instrumentarium_urllib",
    PatchSet([Patch("urllib.request", "OpenerDirector.open", _open)]),
)
