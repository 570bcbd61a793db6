"""The options of ``URLLib3Instrumentor``, declared once.

``instrument()`` resolves them into a ``URLLib3Config``; the README's options table and the
instrumentor's docstring are generated from this declaration (``scripts/generate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from opentelemetry.trace import Span

from instrumentarium.util.config import option
from instrumentarium.util.http import HttpClientConfig

if TYPE_CHECKING:
    import urllib3

__all__ = ["RequestHook", "ResponseHook", "URLFilter", "URLLib3Config"]

# The ``request_info`` argument is a ``RequestInfo`` (method, url, headers, body).
RequestHook = Callable[[Span, "urllib3.connectionpool.HTTPConnectionPool", Any], None]
ResponseHook = Callable[
    [Span, "urllib3.connectionpool.HTTPConnectionPool", "urllib3.response.HTTPResponse"], None
]
URLFilter = Callable[[str], str]


class URLLib3Config(HttpClientConfig):
    """The options of ``instrument()`` (upstream's keywords): the providers of
    ``HttpClientConfig``, then these."""

    request_hook: Optional[RequestHook] = option(
        None,
        doc="``hook(span, pool, request_info)``, called after the span starts, before injection;"
        " ``request_info`` has ``method``, ``url``, ``headers`` (the copy that is sent: headers"
        " added here are sent), ``body``",
    )
    response_hook: Optional[ResponseHook] = option(
        None, doc="``hook(span, pool, response)``, called when a response arrives"
    )
    url_filter: Optional[URLFilter] = option(
        None,
        doc="``url_filter(url) -> url`` rewrites the URL before the exclusion check and before"
        " it is recorded (redaction still follows)",
    )
    excluded_urls: Union[str, Sequence[str], None] = option(
        None,
        env=("OTEL_PYTHON_URLLIB3_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="regexes (a comma string or a list) searched (``re.search``) in the full URL; a"
        " match is neither traced, measured nor given a ``traceparent``",
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
