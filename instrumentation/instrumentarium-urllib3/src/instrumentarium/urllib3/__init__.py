"""OpenTelemetry instrumentation for urllib3 (1.26 and 2.x).

Usage::

    from instrumentarium.urllib3 import URLLib3Instrumentor

    URLLib3Instrumentor().instrument()

or with no code at all: ``opentelemetry-instrument python app.py`` (entry point ``urllib3``;
disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=urllib3``).

Each ``HTTPConnectionPool.urlopen`` call gets one CLIENT span named by the method (``GET``;
``HTTP`` for a method outside the known list), the HTTP client duration and body-size metrics,
and the span's context injected into a copy of the outgoing headers. The retries and same-host
redirects urllib3 performs inside that call are part of its one span; a client layer above
(requests) that already traces the request suppresses this one. Options, environment variables
and attributes are listed in the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from ._config import URLLib3Config
from ._urlopen import ACTIVE, RequestInfo, URLLib3Telemetry
from .package import _instruments
from .version import __version__

__all__ = ["RequestInfo", "URLLib3Instrumentor", "__version__"]


class URLLib3Instrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures urllib3's ``HTTPConnectionPool.urlopen``.

    Options (generated from URLLib3Config by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``request_hook`` (default ``None``): ``hook(span, pool, request_info)``, called after the span
      starts, before injection; ``request_info`` has ``method``, ``url``, ``headers`` (the copy that
      is sent: headers added here are sent), ``body``
    * ``response_hook`` (default ``None``): ``hook(span, pool, response)``, called when a response
      arrives
    * ``url_filter`` (default ``None``): ``url_filter(url) -> url`` rewrites the URL before the
      exclusion check and before it is recorded (redaction still follows)
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_URLLIB3_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): regexes (a comma string or a list) searched (``re.search``) in
      the full URL; a match is neither traced, measured nor given a ``traceparent``
    * ``captured_request_headers`` (default ``None``; environment
      ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST``): request header names (regexes)
      recorded as ``http.request.header.*``
    * ``captured_response_headers`` (default ``None``; environment
      ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE``): response header names
      (regexes) recorded as ``http.response.header.*``
    * ``sensitive_headers`` (default ``None``; environment
      ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS``): captured headers (regexes)
      recorded as ``[REDACTED]``
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(URLLib3Telemetry(URLLib3Config.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)
