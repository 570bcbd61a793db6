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

from . import _settings
from ._config import DjangoConfig
from ._middleware import ACTIVE, DjangoTelemetry, OpenTelemetryMiddleware, listen_for_exceptions
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

    ``instrument()`` takes upstream's keyword arguments.

    Options (generated from DjangoConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_DJANGO_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): regexes (a comma string or a list) searched (``re.search``) in
      the absolute URL without its query (``http://host/path/``, as upstream); a match is neither
      traced nor measured
    * ``request_hook`` (default ``None``): ``hook(span, request)``, called when the span starts
    * ``response_hook`` (default ``None``): ``hook(span, request, response)``, called before the
      span ends
    * ``is_sql_commentor_enabled`` (default ``False``): append a sqlcommenter comment to every query
      a request runs
    * ``commenter_options`` (default ``None``): tags ``framework``, ``controller``, ``route``,
      ``app_name``, ``opentelemetry``, ``db_driver``; ``False`` drops one (default: Django's
      ``SQLCOMMENTER_WITH_*`` settings, else all)
    * ``middleware_position`` (default ``None``; environment
      ``OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION``): index in ``MIDDLEWARE`` (0); the keyword wins
      over the variable; out of range or not an integer: 0, with a warning
    * ``traced_request_attributes`` (default ``None``; environment
      ``OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS``): ``HttpRequest`` attributes recorded as ``name =
      str(value)`` (e.g. ``path_info,content_type``); under ASGI also request headers of those names

    """

    _placement: Optional[_settings.Placement] = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        if not env_flag(INSTRUMENT_ENV, True):
            return
        config = DjangoConfig.resolve(kwargs)
        telemetry = DjangoTelemetry(config)
        ACTIVE.set_global(telemetry)

        def on_first(settings: Any) -> None:
            listen_for_exceptions(True)
            if config.is_sql_commentor_enabled:
                from ._sqlcommenter import SqlCommenter  # noqa: PLC0415 - imports django.db lazily

                telemetry.commenter = SqlCommenter(config.commenter_options, settings)

        # Placed now when the settings can be read, else when Django first loads a middleware
        # chain (opentelemetry-instrument starts before the app: Django not imported yet, or
        # DJANGO_SETTINGS_MODULE not set yet), and again into any settings swapped in later.
        self._placement = _settings.Placement(config.middleware_position, on_first)
        self._placement.start()

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)
        listen_for_exceptions(False)
        placement, self._placement = self._placement, None
        if placement is not None:
            placement.stop()
