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

from . import _urlopen
from ._urlopen import RequestInfo, URLLib3Handler
from .package import _instruments
from .version import __version__

__all__ = ["RequestInfo", "URLLib3Instrumentor", "__version__"]


class URLLib3Instrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures urllib3's ``HTTPConnectionPool.urlopen``.

    ``instrument()`` keyword arguments (upstream's):

    * ``tracer_provider``, ``meter_provider``: default to the global ones;
    * ``request_hook(span, pool, request_info)``: after the span starts, before the headers are
      injected; ``request_info`` has ``method``, ``url``, ``headers`` (the copy that is sent),
      ``body``;
    * ``response_hook(span, pool, response)``: when a response arrives;
    * ``url_filter(url) -> url``: applied to the URL before the exclusion check and before it
      is recorded (redaction follows it);
    * ``excluded_urls``: comma-separated regexes (or a list) searched in the URL; default
      ``OTEL_PYTHON_URLLIB3_EXCLUDED_URLS``, then ``OTEL_PYTHON_EXCLUDED_URLS``;
    * ``captured_request_headers``, ``captured_response_headers``, ``sensitive_headers``: lists
      of regexes; default the ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_*`` and
      ``..._SANITIZE_FIELDS`` variables.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        _urlopen.set_handler(
            URLLib3Handler(
                tracer_provider=kwargs.get("tracer_provider"),
                meter_provider=kwargs.get("meter_provider"),
                request_hook=kwargs.get("request_hook"),
                response_hook=kwargs.get("response_hook"),
                url_filter=kwargs.get("url_filter"),
                excluded_urls=kwargs.get("excluded_urls"),
                captured_request_headers=kwargs.get("captured_request_headers"),
                captured_response_headers=kwargs.get("captured_response_headers"),
                sensitive_headers=kwargs.get("sensitive_headers"),
            )
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        _urlopen.set_handler(None)
