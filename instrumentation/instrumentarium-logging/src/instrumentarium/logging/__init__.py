"""OpenTelemetry instrumentation for the standard library's ``logging``: log correlation.

Usage::

    from instrumentarium.logging import LoggingInstrumentor

    LoggingInstrumentor().instrument()                          # the four fields on every record
    LoggingInstrumentor().instrument(set_logging_format=True)   # and a format that prints them

or with no code at all: ``opentelemetry-instrument python app.py`` (entry point ``logging``;
``OTEL_PYTHON_LOG_CORRELATION=true`` for the format; disable with
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=logging``).

Every ``LogRecord`` made while instrumented carries upstream's fields ``otelTraceID`` (32 hex),
``otelSpanID`` (16 hex), ``otelTraceSampled`` and ``otelServiceName``; outside a span they are
``"0"``, ``"0"``, ``False`` and the service name. No span and no metric is emitted. The record
factory (``_records``) chains with any other; the format and level (``_correlation``) hold
whether logging was configured before or after ``instrument()``. Options: ``LoggingConfig``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from ._config import FORMAT_ENV, LoggingConfig
from ._correlation import ACTIVE, Correlation, correlation_format, level_of
from ._records import SERVICE, LoggingTelemetry, install_factory, uninstall_factory
from .package import _instruments
from .version import __version__

__all__ = ["LoggingInstrumentor", "__version__"]


class LoggingInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Puts the trace context on every ``LogRecord`` and, on request, prints it.

    Options (generated from LoggingConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where ``otelServiceName`` comes from (its resource);
      None: the global provider
    * ``set_logging_format`` (default ``False``; environment ``OTEL_PYTHON_LOG_CORRELATION``): True
      sets ``logging_format`` on the root logger's text handlers and ``log_level`` on the root
      logger, now and after every later ``basicConfig``/``dictConfig``/``fileConfig``
    * ``inject_trace_context`` (default ``False``): upstream's switch for the four ``otel*`` fields;
      here every record carries them, so it changes nothing
    * ``logging_format`` (default ``None``; environment ``OTEL_PYTHON_LOG_FORMAT``): the format
      ``set_logging_format`` applies; None: upstream's default (``trace_id=``, ``span_id=``,
      ``resource.service.name=``, ``trace_sampled=`` before the message)
    * ``log_level`` (default ``None``; environment ``OTEL_PYTHON_LOG_LEVEL``): the root logger's
      level under ``set_logging_format``; None: ``logging.INFO``
    * ``log_hook`` (default ``None``): ``hook(span, record)``: for each record made while a span
      context is valid
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        config = LoggingConfig.resolve(kwargs)
        telemetry = LoggingTelemetry(config.tracer_provider, config.log_hook)
        if config.set_logging_format:
            source = FORMAT_ENV if kwargs.get("logging_format") is None else "logging_format"
            telemetry.correlation = Correlation(
                correlation_format(config.logging_format, source),
                level_of(config.log_level),
                lambda: telemetry.no_span[SERVICE],
            )
        ACTIVE.set_global(telemetry)  # patches the logging configuration functions
        install_factory(telemetry)
        if telemetry.correlation is not None:
            telemetry.correlation.apply()

    def _uninstrument(self, **_kwargs: Any) -> None:
        telemetry = ACTIVE.global_
        uninstall_factory()
        if telemetry is not None and telemetry.correlation is not None:
            telemetry.correlation.restore()
        ACTIVE.set_global(None)
