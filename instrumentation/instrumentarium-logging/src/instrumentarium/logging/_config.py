"""``LoggingConfig``: the options of ``instrument()``, declared once.

``instrument()`` resolves them into a ``LoggingConfig``; the README's options table and the
instrumentor's docstring are generated from this declaration (``scripts/generate``).
"""

from __future__ import annotations

import logging
from typing import Callable, Final, Optional, Union

from opentelemetry.trace import Span, TracerProvider

from instrumentarium.util.config import Config, option

__all__ = [
    "CORRELATION_ENV",
    "DEFAULT_LOGGING_FORMAT",
    "FORMAT_ENV",
    "LEVEL_ENV",
    "LogHook",
    "LoggingConfig",
    "parse_correlation",
    "parse_level",
]

CORRELATION_ENV: Final = "OTEL_PYTHON_LOG_CORRELATION"
FORMAT_ENV: Final = "OTEL_PYTHON_LOG_FORMAT"
LEVEL_ENV: Final = "OTEL_PYTHON_LOG_LEVEL"

# Upstream's default format, field for field.
DEFAULT_LOGGING_FORMAT: Final = (
    "%(asctime)s %(levelname)s [%(name)s] [%(filename)s:%(lineno)d]"
    " [trace_id=%(otelTraceID)s span_id=%(otelSpanID)s"
    " resource.service.name=%(otelServiceName)s trace_sampled=%(otelTraceSampled)s]"
    " - %(message)s"
)

# log_hook(span, record): for each record created while a span context is valid.
LogHook = Callable[[Span, logging.LogRecord], None]


def parse_correlation(text: str) -> bool:
    """``true`` or ``false``, any case (upstream reads only ``true``; anything else is false)."""
    value = text.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueError("use true or false")


def parse_level(text: str) -> int:
    """A standard level name, any case: ``debug``, ``info``, ``warning``, ``error`` (the
    guide's four), also ``warn``, ``critical``, ``fatal``, ``notset``."""
    level = logging.getLevelName(text.strip().upper())
    if not isinstance(level, int):
        raise ValueError("use debug, info, warning or error")
    return level


class LoggingConfig(Config):
    """The resolved options of one ``instrument()`` (upstream's keywords, in its order)."""

    tracer_provider: Optional[TracerProvider] = option(
        None, doc="where ``otelServiceName`` comes from (its resource); None: the global provider"
    )
    set_logging_format: bool = option(
        False,
        env=CORRELATION_ENV,
        parse=parse_correlation,
        doc="True sets ``logging_format`` on the root logger's text handlers and ``log_level`` on"
        " the root logger, now and after every later ``basicConfig``/``dictConfig``/``fileConfig``",
    )
    inject_trace_context: bool = option(
        False,
        doc="upstream's switch for the four ``otel*`` fields; here every record carries them, so"
        " it changes nothing",
    )
    logging_format: Union[str, None] = option(
        None,
        env=FORMAT_ENV,
        parse=str,
        doc="the format ``set_logging_format`` applies; None: upstream's default (``trace_id=``,"
        " ``span_id=``, ``resource.service.name=``, ``trace_sampled=`` before the message)",
    )
    log_level: Union[int, str, None] = option(
        None,
        env=LEVEL_ENV,
        parse=parse_level,
        doc="the root logger's level under ``set_logging_format``; None: ``logging.INFO``",
    )
    log_hook: Optional[LogHook] = option(
        None, doc="``hook(span, record)``: for each record made while a span context is valid"
    )
