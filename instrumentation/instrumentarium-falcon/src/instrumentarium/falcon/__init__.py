"""OpenTelemetry instrumentation for Falcon apps, WSGI and ASGI.

Usage::

    from instrumentarium.falcon import FalconInstrumentor

    FalconInstrumentor().instrument()   # every falcon.App and falcon.asgi.App, even earlier ones

or with no code at all: ``opentelemetry-instrument gunicorn app:app`` or ``opentelemetry-instrument
uvicorn app:app`` (entry point ``falcon``; disable with
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=falcon``).

Each request gets one SERVER span named ``"{METHOD} {uri_template}"`` (just the method when no
route matched: never the raw path), with ``http.route``, ``falcon.resource`` and the request
attributes (WSGI's, or ASGI's for a ``falcon.asgi`` app), the HTTP server metrics,
context extraction from the request headers, and the span current while middleware, responder
and error handlers run. Options, environment variables and attributes are listed in the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from ._config import FalconConfig
from ._patches import ACTIVE
from ._telemetry import FalconTelemetry
from .package import _instruments
from .version import __version__

__all__ = ["FalconInstrumentor", "__version__"]


class FalconInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures the requests of Falcon apps (``falcon.App`` and ``falcon.asgi.App``).

    Options (generated from FalconConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go (global)
    * ``meter_provider`` (default ``None``): where metrics go (global)
    * ``request_hook`` (default ``None``): ``hook(span, req)``, called when Falcon has made the
      request object
    * ``response_hook`` (default ``None``): ``hook(span, req, resp)``, called after the response
      middleware
    * ``traced_request_attributes`` (default ``None``; environment
      ``OTEL_PYTHON_FALCON_TRACED_REQUEST_ATTRS``): ``falcon.Request`` attributes recorded as span
      attributes (text), once routed
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_FALCON_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): comma-separated regexes (or a list) searched in the path
      (``PATH_INFO``; ASGI: the scope's ``path``)
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(FalconTelemetry(FalconConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)
