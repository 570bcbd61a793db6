"""The client side: one CLIENT span and the HTTP client metrics per ``AsyncHTTPClient.fetch``.

``AsyncHTTPClient.fetch(request | url, raise_error=True, **kwargs)``
                             suppression check; a redirect hop (a request with
                             ``original_request``) belongs to the span of the first fetch
  _begin (guarded)           a URL string becomes an ``HTTPRequest`` (as fetch itself does);
                             span started (named by the method), client_request_hook,
                             ``traceparent`` written into the request's headers
  original fetch             span current, HTTP instrumentation suppressed, while fetch
                             schedules the request; it returns a Future
  _done (guarded)            when the Future is done: the status (an ``HTTPClientError`` with a
                             code is a response, 599 and other exceptions are failures),
                             client_response_hook(span, future), span ended and metrics
                             recorded once

Redirects followed inside one fetch belong to its span, which ends with the final response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Final, Optional

from instrumentarium.util.http import (
    HttpClientCall,
    HttpClientTelemetry,
    body_size,
    http_instrumentation_suppressed,
)
from instrumentarium.util.safety import guard, safe_hook

from ._config import TornadoConfig

if TYPE_CHECKING:
    import tornado.httpclient

__all__ = ["TornadoClientTelemetry", "fetch"]

_BEGIN: Final = guard("starting the Tornado client span")
_DONE: Final = guard("ending the Tornado client span")
_NO_RESPONSE_CODE: Final = 599  # Tornado's code for "no response" (timeout, refused, ...)


class TornadoClientTelemetry(HttpClientTelemetry):
    """The HTTP client core built once from a ``TornadoConfig``, with the client hooks. The
    excluded URLs of ``TornadoConfig`` are the server's: the client excludes nothing."""

    __slots__ = ("request_hook", "response_hook")

    def __init__(self, config: TornadoConfig) -> None:
        super().__init__(
            library="tornado",
            tracer_provider=config.tracer_provider,
            meter_provider=config.meter_provider,
            excluded_urls=(),
            size_metrics=True,
            default_peer_port=True,
        )
        self.request_hook = safe_hook(config.client_request_hook, "client_request_hook")
        self.response_hook = safe_hook(config.client_response_hook, "client_response_hook")


def fetch(
    telemetry: Optional[TornadoClientTelemetry],
    wrapped: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """The patched ``AsyncHTTPClient.fetch``."""
    if telemetry is None or not args or http_instrumentation_suppressed():
        return wrapped(*args, **kwargs)
    begun = _begin(telemetry, args, kwargs)
    if begun is None:  # a redirect hop, or our step failed: fetch as called
        return wrapped(*args, **kwargs)
    call, request, args, kwargs = begun
    token = call.attach()
    try:
        future = wrapped(*args, **kwargs)
    except BaseException as exc:
        call.detach(token)
        call.end(exc)
        raise
    call.detach(token)
    future.add_done_callback(lambda done: _done(telemetry, call, request, done))
    return future


@_BEGIN
def _begin(
    telemetry: TornadoClientTelemetry, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Optional[tuple[HttpClientCall, Any, tuple[Any, ...], dict[str, Any]]]:
    """The started call, the request it sends, and fetch's arguments with that request."""
    request = args[0]
    if isinstance(request, str):
        from tornado.httpclient import HTTPRequest  # noqa: PLC0415 - imported by now

        # fetch(url, raise_error, **kwargs) builds HTTPRequest(url, **kwargs): do it first, so
        # the trace context goes into the headers it sends.
        options = dict(kwargs)
        raise_error = options.pop("raise_error", args[1] if len(args) > 1 else True)
        request = HTTPRequest(request, **options)
        args, kwargs = (request,), {"raise_error": raise_error}
    elif getattr(request, "original_request", None) is not None:
        return None  # a redirect hop that simple_httpclient fetches on the first one's behalf
    headers = request.headers
    call = telemetry.start(
        request.method or "GET",
        request.url,
        request_headers=headers.get_all() if hasattr(headers, "get_all") else headers.items(),
    )
    if telemetry.request_hook is not None:
        telemetry.request_hook(call.span, request)
    call.inject(request.headers)
    return call, request, args, kwargs


@_DONE
def _done(
    telemetry: TornadoClientTelemetry,
    call: HttpClientCall,
    request: tornado.httpclient.HTTPRequest,
    future: Any,
) -> None:
    response: Any = None
    exc: Optional[BaseException] = None
    try:
        if future.cancelled():
            exc = _cancelled()
        else:
            exc = future.exception()
            if exc is None:
                response = future.result()
            else:
                code = getattr(exc, "code", None)
                if isinstance(code, int) and code != _NO_RESPONSE_CODE:
                    response = getattr(exc, "response", None)
                    exc = None  # an HTTP error status: a response, not a failure
                    if response is None:
                        call.on_response(code)
        if response is not None:
            call.on_response(response.code, None, response.headers.get_all())
        if telemetry.response_hook is not None:
            telemetry.response_hook(call.span, future)
    finally:
        call.end(
            exc,
            body_size(request.body),
            _content_length(response) if response is not None else None,
        )


def _cancelled() -> BaseException:
    import asyncio  # noqa: PLC0415

    return asyncio.CancelledError()


def _content_length(response: Any) -> Optional[int]:
    value = response.headers.get("Content-Length")
    if value is not None:
        try:
            return int(value)
        except ValueError:
            return None
    buffer = getattr(response, "buffer", None)
    return len(buffer.getbuffer()) if buffer is not None else None
