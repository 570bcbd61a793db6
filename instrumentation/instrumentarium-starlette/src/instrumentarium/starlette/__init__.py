"""OpenTelemetry instrumentation for Starlette.

Usage::

    from instrumentarium.starlette import StarletteInstrumentor

    StarletteInstrumentor().instrument()            # every app, including ones created earlier
    StarletteInstrumentor.instrument_app(app)       # or one app, with its own options

or with no code at all: ``opentelemetry-instrument uvicorn app:app`` (entry point ``starlette``;
disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=starlette``).

Each request gets the ASGI middleware's telemetry (``instrumentarium.asgi``) with the span named
``"{METHOD} {route}"`` by the route template (the full one through mounts; the method alone
when no route matched, never the raw path) and ``http.route``. Options, environment variables
and attributes are listed in the README.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, Optional, Union

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.asgi import ClientRequestHook, ClientResponseHook, ServerRequestHook
from instrumentarium.util.config import OFF
from instrumentarium.util.safety import logger

from ._config import StarletteConfig
from ._patches import ACTIVE, StarletteTelemetry
from .package import _instruments
from .version import __version__

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["StarletteInstrumentor", "__version__"]


class StarletteInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures Starlette requests.

    Options (generated from StarletteConfig by scripts/generate):
    * ``server_request_hook`` (default ``None``): ``hook(span, scope)``, called once the server span
      has started
    * ``client_request_hook`` (default ``None``): ``hook(span, scope, message)``, called with each
      ``receive`` span
    * ``client_response_hook`` (default ``None``): ``hook(span, scope, message)``, called with each
      ``send`` span, before the send
    * ``meter_provider`` (default ``None``): defaults to the global one
    * ``tracer_provider`` (default ``None``): defaults to the global one
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_STARLETTE_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): comma-separated regexes (or a list) searched in
      ``scheme://host/path``; a match is neither traced nor measured
    * ``http_capture_headers_server_request`` (default ``None``; environment
      ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST``): request headers to capture
      (regexes matching the whole name)
    * ``http_capture_headers_server_response`` (default ``None``; environment
      ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE``): response headers to capture
      (regexes matching the whole name)
    * ``http_capture_headers_sanitize_fields`` (default ``None``; environment
      ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS``): captured headers whose value
      becomes ``[REDACTED]`` (regexes searched in the name)
    * ``exclude_spans`` (default ``None``; environment ``OTEL_PYTHON_STARLETTE_EXCLUDE_SPANS``, then
      ``OTEL_PYTHON_ASGI_EXCLUDE_SPANS``): internal spans not to emit: ``receive``, ``send`` or both
      (``receive,send``)
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(StarletteTelemetry(StarletteConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)

    @staticmethod
    def instrument_app(
        app: Starlette,
        server_request_hook: Optional[ServerRequestHook] = None,
        client_request_hook: Optional[ClientRequestHook] = None,
        client_response_hook: Optional[ClientResponseHook] = None,
        meter_provider: Optional[MeterProvider] = None,
        tracer_provider: Optional[TracerProvider] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
        http_capture_headers_server_request: Optional[list[str]] = None,
        http_capture_headers_server_response: Optional[list[str]] = None,
        http_capture_headers_sanitize_fields: Optional[list[str]] = None,
        exclude_spans: Optional[list[str]] = None,
    ) -> None:
        """Instrument one app with its own options (they win over ``instrument()``'s)."""
        config = StarletteConfig.resolve(locals())
        if isinstance(ACTIVE.own(app), StarletteTelemetry):
            logger.warning("Attempting to instrument Starlette app while already instrumented")
            return
        ACTIVE.set_own(app, StarletteTelemetry(config))
        app._is_instrumented_by_opentelemetry = True  # type: ignore[attr-defined]

    @staticmethod
    def uninstrument_app(app: Starlette) -> None:
        """Stop instrumenting ``app`` (also when ``instrument()`` covers every app)."""
        if ACTIVE.config_for(app) is None:
            logger.warning("Attempting to uninstrument Starlette app while already uninstrumented")
            return
        ACTIVE.set_own(app, OFF)
        app._is_instrumented_by_opentelemetry = False  # type: ignore[attr-defined]
