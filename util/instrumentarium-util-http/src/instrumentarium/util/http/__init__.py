"""Shared HTTP pieces for instrumentarium's server and client instrumentors.

Everything here is configured once (``from_config`` / ``from_env``) and cheap per call:

* ``ExcludedUrls``: ``OTEL_PYTHON_<LIB>_EXCLUDED_URLS`` / ``OTEL_PYTHON_EXCLUDED_URLS``;
* ``traced_request_attrs``: ``OTEL_PYTHON_<LIB>_TRACED_REQUEST_ATTRS``;
* ``UrlRedactor`` / ``redact_url``: userinfo and sensitive query values;
* ``HeaderCapture``: ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*`` and ``..._SANITIZE_FIELDS``;
* ``MethodNormalizer``: known methods and ``_OTHER``;
* ``HttpServerMetrics`` and the attribute names and buckets in ``names``;
* status rules: ``server_status_is_error``, ``client_status_is_error``;
* ``HttpClientConfig`` / ``HttpClientTelemetry`` / ``HttpClientCall``: the common options of the
  client instrumentors (requests, urllib3) and one outgoing request's span and metrics, and
  ``http_instrumentation_suppressed``;
* ``ServerTelemetry`` / ``ServerCall``: one incoming request's span and metrics, for the server
  instrumentors, from a ``ServerRequest`` (``WsgiRequest`` reads a WSGI environ, ``AsgiRequest``
  an ASGI scope).
"""

from __future__ import annotations

import os
from typing import Optional

from instrumentarium.util.config import split_comma_list

from . import _names as names
from ._asgi import ASGIGetter, AsgiRequest, ASGISetter, asgi_getter, asgi_setter, header_value
from ._asgi import Scope as Scope
from ._client import (
    SIZE_BUCKETS_BYTES,
    HttpClientCall,
    HttpClientConfig,
    HttpClientTelemetry,
    body_size,
    header_items,
    header_text,
    http_instrumentation_suppressed,
    http_version,
)
from ._excluded import EXCLUDED_SUPPRESS_ENV, EXCLUDED_URLS_ENV, ExcludedUrls, excluded_urls_env
from ._headers import CAPTURE_HEADERS_ENV, SANITIZE_FIELDS_ENV, HeaderCapture, HeaderPatterns
from ._methods import (
    CAPTURE_ALL_METHODS_ENV,
    DEFAULT_KNOWN_METHODS,
    KNOWN_METHODS_ENV,
    OTHER_METHOD,
    MethodNormalizer,
    sanitize_method,
)
from ._metrics import ActiveRequests, HttpServerMetrics, active_requests, pick
from ._redact import (
    DEFAULT_SENSITIVE_QUERY_PARAMS,
    REDACTED,
    SENSITIVE_QUERY_PARAMS_ENV,
    UrlRedactor,
    redact_query,
    redact_url,
    redacted_exception,
    remove_url_credentials,
)
from ._server import (
    METRIC_HOSTS_KEPT,
    OTHER_HOST,
    ResponseIterable,
    ServerCall,
    ServerOptions,
    ServerRequest,
    ServerTelemetry,
)
from ._status import (
    client_status_is_error,
    parse_status_line,
    protocol_version,
    server_status_is_error,
    synthetic_user_agent_type,
)

# Type aliases for the WSGI fronts: re-exported, but not in __all__ (they are typing objects).
from ._wsgi import Environ as Environ
from ._wsgi import ResponseHook as ResponseHook
from ._wsgi import StartResponse as StartResponse
from ._wsgi import (
    WSGIGetter,
    WsgiRequest,
    request_headers,
    request_url,
    traced_start_response,
    wsgi_getter,
)

__all__ = [
    # excluded URLs and traced attributes
    "EXCLUDED_URLS_ENV",
    "EXCLUDED_SUPPRESS_ENV",
    "ExcludedUrls",
    "excluded_urls_env",
    "get_excluded_urls",
    "traced_request_attrs",
    "traced_request_attrs_env",
    # redaction
    "REDACTED",
    "DEFAULT_SENSITIVE_QUERY_PARAMS",
    "SENSITIVE_QUERY_PARAMS_ENV",
    "UrlRedactor",
    "redact_url",
    "redact_query",
    "remove_url_credentials",
    "redacted_exception",
    # headers
    "CAPTURE_HEADERS_ENV",
    "SANITIZE_FIELDS_ENV",
    "HeaderCapture",
    "HeaderPatterns",
    # methods
    "KNOWN_METHODS_ENV",
    "CAPTURE_ALL_METHODS_ENV",
    "DEFAULT_KNOWN_METHODS",
    "OTHER_METHOD",
    "MethodNormalizer",
    "sanitize_method",
    # status and request facts
    "server_status_is_error",
    "client_status_is_error",
    "parse_status_line",
    "protocol_version",
    "synthetic_user_agent_type",
    # metrics and names
    "ActiveRequests",
    "active_requests",
    "HttpServerMetrics",
    "pick",
    "names",
    # clients
    "HttpClientConfig",
    "HttpClientTelemetry",
    "HttpClientCall",
    "SIZE_BUCKETS_BYTES",
    "body_size",
    "header_items",
    "header_text",
    "http_instrumentation_suppressed",
    "http_version",
    # servers
    "METRIC_HOSTS_KEPT",
    "OTHER_HOST",
    "ServerTelemetry",
    "ServerCall",
    "ServerOptions",
    "ServerRequest",
    "ResponseIterable",
    "WsgiRequest",
    "WSGIGetter",
    "wsgi_getter",
    "request_headers",
    "request_url",
    "traced_start_response",
    "AsgiRequest",
    "ASGIGetter",
    "ASGISetter",
    "asgi_getter",
    "asgi_setter",
    "header_value",
]


def traced_request_attrs_env(library: str) -> str:
    """The variable naming request attributes to copy, e.g.
    ``OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS``."""
    return f"OTEL_PYTHON_{library.upper()}_TRACED_REQUEST_ATTRS"


def traced_request_attrs(library: str, given: Optional[list[str]] = None) -> tuple[str, ...]:
    """Names of request-object attributes to record on the server span (kwarg, else env)."""
    if given is not None:
        return tuple(name.strip() for name in given if name and name.strip())
    return tuple(split_comma_list(os.environ.get(traced_request_attrs_env(library), "")))


def get_excluded_urls(library: str) -> ExcludedUrls:
    """Upstream's helper: the exclusions configured in the environment for ``library``."""
    return ExcludedUrls.from_config(library)
