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

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from instrumentarium.util.safety import logger

from . import _handler
from ._handler import FlaskHandler
from .package import _instruments
from .version import __version__

__all__ = ["FlaskInstrumentor", "__version__"]


class FlaskInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures Flask requests.

    ``instrument()`` / ``instrument_app()`` keyword arguments (upstream's):

    * ``request_hook(span, environ)``: after the span starts;
    * ``response_hook(span, status, response_headers)``: in ``start_response``;
    * ``tracer_provider``, ``meter_provider``: default to the global ones;
    * ``excluded_urls``: comma-separated regexes (or a list) searched in the full request URL;
      default ``OTEL_PYTHON_FLASK_EXCLUDED_URLS``, then ``OTEL_PYTHON_EXCLUDED_URLS``;
    * ``enable_commenter`` (default True), ``commenter_options``: the SQL commenter tags
      (``framework``, ``controller``, ``route``) that database instrumentations add to queries.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        _handler.set_global_handler(
            FlaskHandler(
                request_hook=kwargs.get("request_hook"),
                response_hook=kwargs.get("response_hook"),
                tracer_provider=kwargs.get("tracer_provider"),
                excluded_urls=kwargs.get("excluded_urls"),
                enable_commenter=kwargs.get("enable_commenter", True),
                commenter_options=kwargs.get("commenter_options"),
                meter_provider=kwargs.get("meter_provider"),
            )
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        _handler.set_global_handler(None)

    @staticmethod
    def instrument_app(
        app: Any,
        request_hook: Any = None,
        response_hook: Any = None,
        tracer_provider: Any = None,
        excluded_urls: Any = None,
        enable_commenter: bool = True,
        commenter_options: Any = None,
        meter_provider: Any = None,
    ) -> None:
        """Instrument one app with its own options (they win over ``instrument()``'s)."""
        if _handler.app_is_instrumented(app):
            logger.warning("Attempting to instrument Flask app while already instrumented")
            return
        _handler.set_app_handler(
            app,
            FlaskHandler(
                request_hook=request_hook,
                response_hook=response_hook,
                tracer_provider=tracer_provider,
                excluded_urls=excluded_urls,
                enable_commenter=enable_commenter,
                commenter_options=commenter_options,
                meter_provider=meter_provider,
            ),
        )
        app._is_instrumented_by_opentelemetry = True

    @staticmethod
    def uninstrument_app(app: Any) -> None:
        """Stop instrumenting ``app`` (also when ``instrument()`` covers every app)."""
        if not _handler.app_is_instrumented(app) and _handler.handler_for(app) is None:
            logger.warning("Attempting to uninstrument Flask app while already uninstrumented")
            return
        _handler.set_app_handler(app, None)
        app._is_instrumented_by_opentelemetry = False
