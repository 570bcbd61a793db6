"""OpenTelemetry instrumentation for FastAPI.

Usage::

    from instrumentarium.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor().instrument()            # every app, including ones created earlier
    FastAPIInstrumentor.instrument_app(app)       # or one app, with its own options

or with no code at all: ``opentelemetry-instrument uvicorn app:app`` (entry point ``fastapi``;
disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=fastapi``).

Each request gets the ASGI middleware's telemetry (``instrumentarium.asgi``) with the span named
``"{METHOD} {route}"`` by the full route template (routers' prefixes and mounts included; the
method alone when no route matched) and ``http.route``; FastAPI's own built-in tracing is turned
off for the requests it traces, so there is one server span, never two. Background tasks get an
INTERNAL span each. Options, environment variables and attributes are listed in the README.
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

from ._config import FastAPIConfig
from ._patches import ACTIVE, FastAPITelemetry, _Last
from .package import _instruments
from .version import __version__

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["FastAPIInstrumentor", "__version__"]


class FastAPIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures FastAPI requests.

    Options (generated from FastAPIConfig by scripts/generate):
    * ``server_request_hook`` (default ``None``): ``hook(span, scope)``, called once the server span
      has started
    * ``client_request_hook`` (default ``None``): ``hook(span, scope, message)``, called with each
      ``receive`` span
    * ``client_response_hook`` (default ``None``): ``hook(span, scope, message)``, called with each
      ``send`` span, before the send
    * ``tracer_provider`` (default ``None``): defaults to the global one
    * ``meter_provider`` (default ``None``): defaults to the global one
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``, then
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
    * ``exclude_spans`` (default ``None``; environment ``OTEL_PYTHON_FASTAPI_EXCLUDE_SPANS``, then
      ``OTEL_PYTHON_ASGI_EXCLUDE_SPANS``): internal spans not to emit: ``receive``, ``send`` or both
      (``receive,send``)
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(FastAPITelemetry(FastAPIConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)

    @staticmethod
    def instrument_app(
        app: FastAPI,
        server_request_hook: Optional[ServerRequestHook] = None,
        client_request_hook: Optional[ClientRequestHook] = None,
        client_response_hook: Optional[ClientResponseHook] = None,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
        http_capture_headers_server_request: Optional[list[str]] = None,
        http_capture_headers_server_response: Optional[list[str]] = None,
        http_capture_headers_sanitize_fields: Optional[list[str]] = None,
        exclude_spans: Optional[list[str]] = None,
    ) -> None:
        """Instrument one app with its own options (they win over ``instrument()``'s)."""
        config = FastAPIConfig.resolve(locals())
        if isinstance(ACTIVE.own(app), FastAPITelemetry):
            logger.warning("Attempting to instrument FastAPI app while already instrumented")
            return
        telemetry = FastAPITelemetry(config)
        ACTIVE.set_own(app, telemetry)
        _Last.telemetry = telemetry
        app._is_instrumented_by_opentelemetry = True  # type: ignore[attr-defined]

    @staticmethod
    def uninstrument_app(app: FastAPI) -> None:
        """Stop instrumenting ``app`` (also when ``instrument()`` covers every app)."""
        if ACTIVE.config_for(app) is None:
            logger.warning("Attempting to uninstrument FastAPI app while already uninstrumented")
            return
        ACTIVE.set_own(app, OFF)
        app._is_instrumented_by_opentelemetry = False  # type: ignore[attr-defined]
