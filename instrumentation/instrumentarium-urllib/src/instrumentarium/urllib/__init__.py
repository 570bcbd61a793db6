"""OpenTelemetry instrumentation for the standard library's HTTP client, ``urllib.request``.

Usage::

    from instrumentarium.urllib import URLLibInstrumentor

    URLLibInstrumentor().instrument()                   # urlopen and every opener
    URLLibInstrumentor().uninstrument_opener(opener)     # every opener but this one

or with no code at all: ``opentelemetry-instrument python app.py`` (entry point ``urllib``;
disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=urllib``).

Each ``urlopen`` / ``OpenerDirector.open`` of an ``http`` or ``https`` URL gets one CLIENT span
named by the method (``GET``; ``HTTP`` for a method outside the known list), the HTTP client
duration and body-size metrics, and the span's context injected into the request's headers.
The redirects urllib follows inside the call belong to its one span, which carries the final
status; an ``HTTPError`` is measured with its status. Options, environment variables and
attributes are listed in the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from instrumentarium.util.config import OFF

from ._config import URLLibConfig
from ._open import ACTIVE, URLLibTelemetry
from .package import _instruments
from .version import __version__

if TYPE_CHECKING:
    import urllib.request

__all__ = ["URLLibInstrumentor", "__version__"]


class URLLibInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures ``urllib.request.OpenerDirector.open`` (so ``urlopen``).

    Options (generated from URLLibConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``request_hook`` (default ``None``): ``hook(span, request)`` with the
      ``urllib.request.Request``, called after the span starts, before injection and sending
      (headers it adds are sent)
    * ``response_hook`` (default ``None``): ``hook(span, request, response)``, called before the
      span ends, also when the call raised: with the ``HTTPError`` as the response, or None
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_URLLIB_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): regexes (a comma string or a list) searched (``re.search``) in
      the request's full URL; a match is neither traced, measured nor given a ``traceparent``
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
        ACTIVE.set_global(URLLibTelemetry(URLLibConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)

    @staticmethod
    def uninstrument_opener(opener: urllib.request.OpenerDirector) -> None:
        """Stop tracing the calls of ``opener``, also while ``instrument()`` covers every
        opener."""
        ACTIVE.set_own(opener, OFF)
