"""The options of ``URLLibInstrumentor``, declared once.

``instrument()`` resolves them into a ``URLLibConfig``; the README's options table and the
instrumentor's docstring are generated from this declaration (``scripts/generate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Callable, Optional, Union

from opentelemetry.trace import Span

from instrumentarium.util.config import option
from instrumentarium.util.http import HttpClientConfig

if TYPE_CHECKING:  # importing this package must not import urllib.request (lazy start-up)
    import http.client
    import urllib.request

__all__ = ["RequestHook", "ResponseHook", "URLLibConfig"]

RequestHook = Callable[[Span, "urllib.request.Request"], None]
# The response is None when the call failed without one; an HTTPError is its own response.
ResponseHook = Callable[
    [Span, "urllib.request.Request", Optional["http.client.HTTPResponse"]], None
]


class URLLibConfig(HttpClientConfig):
    """The options of ``instrument()`` (upstream's keywords): the providers of
    ``HttpClientConfig``, then these."""

    request_hook: Optional[RequestHook] = option(
        None,
        doc="``hook(span, request)`` with the ``urllib.request.Request``, called after the span"
        " starts, before injection and sending (headers it adds are sent)",
    )
    response_hook: Optional[ResponseHook] = option(
        None,
        doc="``hook(span, request, response)``, called before the span ends, also when the"
        " call raised: with the ``HTTPError`` as the response, or None",
    )
    excluded_urls: Union[str, Sequence[str], None] = option(
        None,
        env=("OTEL_PYTHON_URLLIB_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="regexes (a comma string or a list) searched (``re.search``) in the request's"
        " full URL; a match is neither traced, measured nor given a ``traceparent``",
    )
    captured_request_headers: Optional[Sequence[str]] = option(
        None,
        env="OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST",
        doc="request header names (regexes) recorded as ``http.request.header.*``",
    )
    captured_response_headers: Optional[Sequence[str]] = option(
        None,
        env="OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE",
        doc="response header names (regexes) recorded as ``http.response.header.*``",
    )
    sensitive_headers: Optional[Sequence[str]] = option(
        None,
        env="OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS",
        doc="captured headers (regexes) recorded as ``[REDACTED]``",
    )
