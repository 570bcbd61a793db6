"""OpenTelemetry instrumentation for Tornado: its web server and its ``AsyncHTTPClient``.

Usage::

    from instrumentarium.tornado import TornadoInstrumentor

    TornadoInstrumentor().instrument()   # every handler, app and client, also earlier ones

or with no code at all: ``opentelemetry-instrument python app.py`` (entry point ``tornado``;
disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=tornado``).

Each request a ``RequestHandler`` serves gets one SERVER span named ``"{METHOD} {route}"`` (the
matched rule as a template, ``/users/{uid}``; the method alone for a 404), current while
``prepare``, the handler method, ``flush`` and ``on_finish`` run, ended when ``finish()`` has
returned, and the HTTP server metrics. Each ``AsyncHTTPClient.fetch`` gets one CLIENT span named
by the method, the trace context injected into its headers, and the HTTP client metrics.
Options, environment variables and attributes are listed in the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from ._config import TornadoConfig
from ._patches import ACTIVE, TornadoTelemetry
from .package import _instruments
from .version import __version__

__all__ = ["TornadoInstrumentor", "__version__"]


class TornadoInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures Tornado's server (``RequestHandler``) and client
    (``AsyncHTTPClient.fetch``).

    Options (generated from TornadoConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``server_request_hook`` (default ``None``): ``hook(span, handler)``, called when the server
      span starts, before ``prepare()``
    * ``client_request_hook`` (default ``None``): ``hook(span, request)``, called when the client
      span starts, before the trace context is injected (headers it adds are sent)
    * ``client_response_hook`` (default ``None``): ``hook(span, future)``, called with the finished
      ``fetch`` future before the client span ends
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_TORNADO_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): regexes (a comma string or a list) searched (``re.search``) in
      the request URI (path and query); a match is neither traced nor measured (server side only)
    * ``traced_request_attributes`` (default ``None``; environment
      ``OTEL_PYTHON_TORNADO_TRACED_REQUEST_ATTRS``): ``HTTPServerRequest`` attributes
      (``uri,query``) copied onto the server span as text
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(TornadoTelemetry(TornadoConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)
