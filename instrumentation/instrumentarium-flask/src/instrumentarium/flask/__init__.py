"""OpenTelemetry instrumentation for Flask.

Usage::

    from instrumentarium.flask import FlaskInstrumentor

    FlaskInstrumentor().instrument()            # every app, including ones created earlier
    FlaskInstrumentor.instrument_app(app)       # or one app, with its own options

or with no code at all: ``opentelemetry-instrument flask run`` (entry point ``flask``; disable
with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=flask``).

Each request gets one SERVER span named ``"{METHOD} {url_rule}"`` (just the method when no rule
matched: never the raw path), with ``http.route`` and the WSGI request attributes, the HTTP server
metrics, context extraction from the request headers, and the span current while the view runs.
The span ends when the server closes the response, so streamed responses are timed to the end.
Options, environment variables and attributes are listed in the README.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.util.config import OFF
from instrumentarium.util.safety import logger

from ._config import FlaskConfig, RequestHook, ResponseHook
from ._telemetry import ACTIVE, FlaskTelemetry, get_default_span_name
from .package import _instruments
from .version import __version__

if TYPE_CHECKING:
    import flask

__all__ = ["FlaskInstrumentor", "get_default_span_name", "__version__"]


class FlaskInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures Flask requests.

    ``instrument()`` and ``instrument_app()`` take upstream's keyword arguments.

    Options (generated from FlaskConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``request_hook`` (default ``None``): ``hook(span, environ)``, called when the span starts
    * ``response_hook`` (default ``None``): ``hook(span, status, response_headers)``, called in
      ``start_response``
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_FLASK_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): regexes (a comma string or a list) searched (``re.search``) in
      the full request URL, query included; a match is neither traced nor measured
    * ``enable_commenter`` (default ``True``): expose ``framework``, ``controller``, ``route`` to
      SQL commenters
    * ``commenter_options`` (default ``None``): which commenter tags to expose: ``{"framework":
      False}`` drops that one (default: all)

    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(FlaskTelemetry(FlaskConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)

    @staticmethod
    def instrument_app(
        app: flask.Flask,
        request_hook: Optional[RequestHook] = None,
        response_hook: Optional[ResponseHook] = None,
        tracer_provider: Optional[TracerProvider] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
        enable_commenter: bool = True,
        commenter_options: Optional[Mapping[str, bool]] = None,
        meter_provider: Optional[MeterProvider] = None,
    ) -> None:
        """Instrument one app with its own options (they win over ``instrument()``'s)."""
        config = FlaskConfig.resolve(locals())
        if isinstance(ACTIVE.own(app), FlaskTelemetry):
            logger.warning("Attempting to instrument Flask app while already instrumented")
            return
        ACTIVE.set_own(app, FlaskTelemetry(config))
        app._is_instrumented_by_opentelemetry = True  # type: ignore[attr-defined]

    @staticmethod
    def uninstrument_app(app: flask.Flask) -> None:
        """Stop instrumenting ``app`` (also when ``instrument()`` covers every app)."""
        if ACTIVE.config_for(app) is None:
            logger.warning("Attempting to uninstrument Flask app while already uninstrumented")
            return
        ACTIVE.set_own(app, OFF)
        app._is_instrumented_by_opentelemetry = False  # type: ignore[attr-defined]
