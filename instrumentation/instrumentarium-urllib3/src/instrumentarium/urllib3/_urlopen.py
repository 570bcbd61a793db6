"""What runs per request: the patched ``HTTPConnectionPool.urlopen`` and its configuration.

``HTTPConnectionPool.urlopen``   suppression check; URL built from the pool when given a path,
                                 then ``url_filter``, then the exclusion check
  span started                   CLIENT, named by the method, attributes passed to the sampler
  request_hook, inject           into a copy of the headers (the caller's dict is never mutated)
  original urlopen               span current, HTTP instrumentation suppressed: the retries and
                                 redirects urllib3 makes by calling ``urlopen`` again create no
                                 span, and an outer client (requests) is never doubled
  response or exception          status rules, response_hook, sizes, span ended once

``HTTPSConnectionPool`` inherits ``urlopen``, so one patch covers both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Callable, Final, Optional, Union

from opentelemetry import context as otel_context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, TracerProvider

from instrumentarium.util.http import (
    HttpClientCall,
    HttpClientTelemetry,
    body_size,
    http_instrumentation_suppressed,
)
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import logger, safe_hook

from .version import __version__

__all__ = ["RequestInfo", "URLLib3Handler"]

_detach: Final = otel_context.detach
_ORIGIN_ATTR: Final = "_instrumentarium_origin"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class RequestInfo:
    """The arguments of one ``urlopen`` call, given to ``request_hook`` (upstream's type).

    ``headers`` is the copy that will be sent: a hook may add headers to it.
    """

    __slots__ = ("body", "headers", "method", "url")

    def __init__(self, method: str, url: str, headers: Any, body: Any) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return (
            f"RequestInfo(method={self.method!r}, url={self.url!r}, "
            f"headers={self.headers!r}, body={self.body!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestInfo):
            return NotImplemented
        return (self.method, self.url, self.headers, self.body) == (
            other.method,
            other.url,
            other.headers,
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq


class URLLib3Handler:
    """The configuration of ``instrument()``, resolved once."""

    __slots__ = ("request_hook", "response_hook", "telemetry", "url_filter")

    def __init__(
        self,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        request_hook: Optional[Callable[[Span, Any, RequestInfo], None]] = None,
        response_hook: Optional[Callable[[Span, Any, Any], None]] = None,
        url_filter: Optional[Callable[[str], str]] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
        captured_request_headers: Optional[Sequence[str]] = None,
        captured_response_headers: Optional[Sequence[str]] = None,
        sensitive_headers: Optional[Sequence[str]] = None,
    ) -> None:
        self.telemetry = HttpClientTelemetry(
            scope="instrumentarium.urllib3",
            version=__version__,
            library="URLLIB3",
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            excluded_urls=excluded_urls,
            captured_request_headers=captured_request_headers,
            captured_response_headers=captured_response_headers,
            sensitive_headers=sensitive_headers,
            size_metrics=True,
            duration_description="Measures the duration of the outbound HTTP request",
        )
        self.request_hook = safe_hook(request_hook, "request_hook")
        self.response_hook = safe_hook(response_hook, "response_hook")
        self.url_filter = _safe_filter(url_filter)


def _safe_filter(url_filter: object) -> Optional[Callable[[str], str]]:
    """``url_filter`` that falls back to the unfiltered URL when it raises or returns junk."""
    if url_filter is None:
        return None
    if not callable(url_filter):
        logger.warning("url_filter must be callable, got %r; ignoring it", url_filter)
        return None
    user_filter: Callable[[str], object] = url_filter

    def filter_url(url: str) -> str:
        try:
            filtered = user_filter(url)
        except Exception:
            logger.warning("url_filter %r raised; using the URL as is", user_filter, exc_info=True)
            return url
        return filtered if isinstance(filtered, str) else url

    return filter_url


_handler: Optional[URLLib3Handler] = None


def _origin(pool: Any) -> str:
    """``scheme://host[:port]`` of a pool (the port only when it is not the default)."""
    origin: Optional[str] = pool.__dict__.get(_ORIGIN_ATTR)
    if origin is None:
        scheme = pool.scheme or "http"
        host = pool.host or ""
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        port = pool.port
        if port is None or port == _DEFAULT_PORTS.get(scheme):
            origin = f"{scheme}://{host}"
        else:
            origin = f"{scheme}://{host}:{port}"
        pool.__dict__[_ORIGIN_ATTR] = origin
    return origin


def _urlopen(
    wrapped: Callable[..., Any], pool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    handler = _handler
    if handler is None or http_instrumentation_suppressed():
        return wrapped(*args, **kwargs)
    count = len(args)
    method = args[0] if count > 0 else kwargs.get("method")
    url = args[1] if count > 1 else kwargs.get("url")
    if not isinstance(method, str) or not isinstance(url, str):
        return wrapped(*args, **kwargs)  # let urllib3 report the mistake
    full_url = _origin(pool) + url if url.startswith("/") else url
    if handler.url_filter is not None:
        full_url = handler.url_filter(full_url)
    telemetry = handler.telemetry
    if telemetry.excluded is not None and telemetry.is_excluded(full_url):
        return wrapped(*args, **kwargs)
    body = args[2] if count > 2 else kwargs.get("body")
    given = args[3] if count > 3 else kwargs.get("headers")
    if given is None:
        given = pool.headers
    try:
        headers = given.copy() if hasattr(given, "copy") else dict(given)
        call = telemetry.start(
            method.upper(),
            full_url,
            request_headers=headers.items() if telemetry.headers is not None else None,
        )
    except Exception:  # never let telemetry break the request
        logger.debug("starting the urllib3 span failed", exc_info=True)
        return wrapped(*args, **kwargs)
    if count > 3:
        args = (*args[:3], headers, *args[4:])
    else:
        kwargs["headers"] = headers
    if handler.request_hook is not None:
        handler.request_hook(call.span, pool, RequestInfo(method, full_url, headers, body))
    call.inject(headers)
    token = call.attach()
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        _detach(token)  # type: ignore[arg-type]
        call.end(exc, request_size=body_size(body))
        raise
    _detach(token)  # type: ignore[arg-type]
    try:
        _on_response(handler, call, pool, response, method)
        response_size = _response_size(response, method)
    except Exception:  # never let telemetry lose the response
        logger.debug("recording the urllib3 response failed", exc_info=True)
        response_size = None
    call.end(request_size=body_size(body), response_size=response_size)
    return response


def _on_response(
    handler: URLLib3Handler, call: HttpClientCall, pool: Any, response: Any, method: str
) -> None:
    call.on_response(
        getattr(response, "status", None),
        getattr(response, "version", None),
        response.headers.items() if call.telemetry.headers is not None else None,
    )
    if handler.response_hook is not None:
        handler.response_hook(call.span, pool, response)


def _response_size(response: Any, method: str) -> Optional[int]:
    """The response body's size: ``Content-Length``, else the preloaded body's length, else
    unknown (a streamed body of unknown length is not recorded). A HEAD response has no body."""
    if method.upper() == "HEAD":
        return 0
    headers = getattr(response, "headers", None)
    length = headers.get("Content-Length") if headers is not None else None
    if length is not None:
        try:
            return max(int(length), 0)
        except ValueError:
            pass
    body = getattr(response, "_body", None)
    if isinstance(body, bytes):
        return len(body)
    return None


PATCHES: Final = PatchSet([Patch("urllib3.connectionpool", "HTTPConnectionPool.urlopen", _urlopen)])


def set_handler(handler: Optional[URLLib3Handler]) -> None:
    global _handler
    _handler = handler
    if handler is not None:
        PATCHES.apply()
    else:
        PATCHES.remove()
