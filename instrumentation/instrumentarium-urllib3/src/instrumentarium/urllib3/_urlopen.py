"""What runs per request: the patched ``HTTPConnectionPool.urlopen`` and what it emits with.

``HTTPConnectionPool.urlopen``   suppression check; no configuration: the original call as is
  _begin (guarded)               URL built from the pool when given a path, then
                                 ``url_filter``, then the exclusion check; span started
                                 (CLIENT, named by the method, attributes passed to the
                                 sampler); request_hook; traceparent injected into a copy of
                                 the headers (the caller's dict is never mutated)
  original urlopen               span current, HTTP instrumentation suppressed: the retries and
                                 redirects urllib3 makes by calling ``urlopen`` again create no
                                 span, and an outer client (requests) is never doubled
  _finish (guarded)              status rules, response_hook, sizes, span ended once

A failure in ``_begin`` or ``_finish`` is logged once and the request goes on (untraced when the
span could not start); the original ``urlopen`` never runs inside a guard, so its exceptions
propagate unchanged. ``HTTPSConnectionPool`` inherits ``urlopen``, so one patch covers both.
"""

from __future__ import annotations

from typing import Any, Callable, Final, Optional

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.http import (
    HttpClientCall,
    HttpClientTelemetry,
    body_size,
    http_instrumentation_suppressed,
)
from instrumentarium.util.net import DEFAULT_PORTS, split_host_port
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import guard, logger, safe_hook

from ._config import URLLib3Config

__all__ = ["ACTIVE", "RequestInfo", "URLLib3Telemetry"]

_ORIGIN_ATTR: Final = "_instrumentarium_origin"
_BEGIN: Final = guard("starting the urllib3 span")
_FINISH: Final = guard("ending the urllib3 span")


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


class URLLib3Telemetry(HttpClientTelemetry):
    """What ``instrument()`` builds once from a ``URLLib3Config``: the HTTP client telemetry
    (tracer, instruments, exclusions, header capture), the hooks and the URL filter, made safe."""

    __slots__ = ("request_hook", "response_hook", "url_filter")

    def __init__(self, config: URLLib3Config) -> None:
        super().__init__(
            config,
            library="urllib3",
            size_metrics=True,
            default_peer_port=True,
            duration_description="Measures the duration of the outbound HTTP request",
        )
        self.request_hook = safe_hook(config.request_hook, "request_hook")
        self.response_hook = safe_hook(config.response_hook, "response_hook")
        self.url_filter = _safe_filter(config.url_filter)


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


def _origin(pool: Any) -> str:
    """``scheme://host[:port]`` of a pool (the port only when it is not the default).

    A pool made from ``"host:port"`` has that as its host and no port (``http.client`` splits
    it when connecting): it is split here too. A host that still has a colon is an IPv6
    address, written in brackets.
    """
    origin: Optional[str] = pool.__dict__.get(_ORIGIN_ATTR)
    if origin is None:
        scheme = pool.scheme or "http"
        host = pool.host or ""
        port = pool.port
        if ":" in host and not host.startswith("["):
            if port is None:
                host, port = split_host_port(host)
            if ":" in host:
                host = f"[{host}]"
        if port is None or port == DEFAULT_PORTS.get(scheme):
            origin = f"{scheme}://{host}"
        else:
            origin = f"{scheme}://{host}:{port}"
        pool.__dict__[_ORIGIN_ATTR] = origin
    return origin


def _urlopen(
    wrapped: Callable[..., Any], pool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    telemetry = ACTIVE.global_
    if telemetry is None or http_instrumentation_suppressed():
        return wrapped(*args, **kwargs)
    count = len(args)
    method = args[0] if count > 0 else kwargs.get("method")
    url = args[1] if count > 1 else kwargs.get("url")
    if not isinstance(method, str) or not isinstance(url, str):
        return wrapped(*args, **kwargs)  # let urllib3 report the mistake
    body = args[2] if count > 2 else kwargs.get("body")
    given = args[3] if count > 3 else kwargs.get("headers")
    started = _begin(telemetry, pool, method, url, body, given)
    if started is None:  # excluded, or our own failure (logged)
        return wrapped(*args, **kwargs)
    call, headers = started
    if count > 3:
        args = (*args[:3], headers, *args[4:])
    else:
        kwargs["headers"] = headers
    token = call.attach()
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        call.detach(token)
        _finish(telemetry, call, pool, None, method, body, exc)
        raise
    call.detach(token)
    _finish(telemetry, call, pool, response, method, body, None)
    return response


@_BEGIN
def _begin(
    telemetry: URLLib3Telemetry,
    pool: Any,
    method: str,
    url: str,
    body: Any,
    given: Any,
) -> Optional[tuple[HttpClientCall, Any]]:
    """The started call and the copy of the headers to send (its traceparent injected); None
    when the URL is excluded."""
    full_url = _origin(pool) + url if url.startswith("/") else url
    if telemetry.url_filter is not None:
        full_url = telemetry.url_filter(full_url)
    if telemetry.excluded is not None and telemetry.is_excluded(full_url):
        return None
    if given is None:
        given = pool.headers
    headers = given.copy() if hasattr(given, "copy") else dict(given)
    call = telemetry.start(
        method.upper(),
        full_url,
        request_headers=headers.items() if telemetry.headers is not None else None,
    )
    if telemetry.request_hook is not None:
        telemetry.request_hook(call.span, pool, RequestInfo(method, full_url, headers, body))
    call.inject(headers)
    return call, headers


@_FINISH
def _finish(
    telemetry: URLLib3Telemetry,
    call: HttpClientCall,
    pool: Any,
    response: Any,
    method: str,
    body: Any,
    exc: Optional[BaseException],
) -> None:
    """Record the response, its hook and the sizes, and end the call once."""
    request_size = response_size = None
    try:
        request_size = body_size(body)
        if response is not None:
            call.on_response(
                getattr(response, "status", None),
                getattr(response, "version", None),
                response.headers.items() if telemetry.headers is not None else None,
            )
            if telemetry.response_hook is not None:
                telemetry.response_hook(call.span, pool, response)
            response_size = _response_size(response, method)
    finally:
        call.end(exc, request_size=request_size, response_size=response_size)


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


# The configuration in force: instrument()'s (urllib3 has no per-pool instrumentation).
ACTIVE: Final[ActiveConfig[URLLib3Telemetry]] = ActiveConfig(
    "_instrumentarium_urllib3",
    PatchSet([Patch("urllib3.connectionpool", "HTTPConnectionPool.urlopen", _urlopen)]),
)
