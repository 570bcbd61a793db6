"""OpenTelemetry instrumentation for Django.

Usage::

    from instrumentarium.django import DjangoInstrumentor

    DjangoInstrumentor().instrument()   # before Django loads its middleware (wsgi.py / asgi.py)

or with no code at all: ``opentelemetry-instrument gunicorn mysite.wsgi`` (entry point
``django``; disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=django``).

``instrument()`` puts ``OpenTelemetryMiddleware`` into ``settings.MIDDLEWARE`` (first, or at
``middleware_position``) unless it is already listed, so you may place it yourself. One
middleware class serves WSGI and ASGI: each request gets one SERVER span named
``"{METHOD} {route}"`` from Django's resolved URL pattern (the method alone when nothing
matched), ``http.route``, the WSGI request attributes and the HTTP server metrics. Options,
environment variables and attributes are listed in the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final, Optional

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from instrumentarium.util.config import env_flag

from . import _middleware, _settings
from ._middleware import DjangoTelemetry, OpenTelemetryMiddleware
from .package import _instruments
from .version import __version__

__all__ = [
    "DjangoInstrumentor",
    "OpenTelemetryMiddleware",
    "MIDDLEWARE_PATH",
    "INSTRUMENT_ENV",
    "MIDDLEWARE_POSITION_ENV",
    "__version__",
]

MIDDLEWARE_PATH: Final = _settings.MIDDLEWARE_PATH
INSTRUMENT_ENV: Final = "OTEL_PYTHON_DJANGO_INSTRUMENT"
MIDDLEWARE_POSITION_ENV: Final = _settings.MIDDLEWARE_POSITION_ENV


class DjangoInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures Django requests.

    ``instrument()`` keyword arguments (upstream's):

    * ``tracer_provider``, ``meter_provider``: default to the global ones;
    * ``excluded_urls``: comma-separated regexes (or a list) searched in the absolute URL
      without its query; default ``OTEL_PYTHON_DJANGO_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``;
    * ``request_hook(span, request)``: after the span starts;
    * ``response_hook(span, request, response)``: before the span ends;
    * ``is_sql_commentor_enabled`` (default False), ``commenter_options``: tag SQL queries;
    * ``middleware_position``: index in ``MIDDLEWARE`` (default 0, or
      ``OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION``);
    * ``traced_request_attributes``: request attribute names recorded as span attributes
      (default ``OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS``).
    """

    _placement: Optional[_settings.Placement] = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        if not env_flag(INSTRUMENT_ENV, True):
            return
        telemetry = DjangoTelemetry(
            tracer_provider=kwargs.get("tracer_provider"),
            meter_provider=kwargs.get("meter_provider"),
            excluded_urls=kwargs.get("excluded_urls"),
            request_hook=kwargs.get("request_hook"),
            response_hook=kwargs.get("response_hook"),
            traced_request_attributes=kwargs.get("traced_request_attributes"),
        )
        _middleware.activate(telemetry)

        def on_first(settings: Any) -> None:
            _middleware.listen_for_exceptions(True)
            if kwargs.get("is_sql_commentor_enabled", False):
                from ._sqlcommenter import SqlCommenter  # noqa: PLC0415 - imports django.db lazily

                telemetry.commenter = SqlCommenter(kwargs.get("commenter_options"), settings)

        # Placed now when the settings can be read, else when Django first loads a middleware
        # chain (opentelemetry-instrument starts before the app: Django not imported yet, or
        # DJANGO_SETTINGS_MODULE not set yet), and again into any settings swapped in later.
        self._placement = _settings.Placement(kwargs.get("middleware_position"), on_first)
        self._placement.start()

    def _uninstrument(self, **kwargs: Any) -> None:
        _middleware.activate(None)
        _middleware.listen_for_exceptions(False)
        placement, self._placement = self._placement, None
        if placement is not None:
            placement.stop()
