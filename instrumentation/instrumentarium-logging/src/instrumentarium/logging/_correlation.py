"""``OTEL_PYTHON_LOG_CORRELATION=true``: the format and level, whenever logging is configured.

Upstream calls ``logging.basicConfig(format, level)`` once, which does nothing when the root
logger has a handler already (the application, gunicorn or ``dictConfig`` configured logging
first): the trace ids then never show. Here ``Correlation.apply()`` runs at ``instrument()``
and again after every ``logging.basicConfig``, ``logging.config.dictConfig`` and
``logging.config.fileConfig`` (patched while instrumented), and does what ``basicConfig`` means:

* the root logger's *text* handlers (formatter unset or a plain ``logging.Formatter``) get the
  correlation format; a handler with a formatter class of its own (JSON, colours) keeps it,
  and OpenTelemetry's exporting handlers are left alone (their formatter would become the
  exported body);
* a root logger with no handler but OpenTelemetry's gets a ``StreamHandler`` (stderr), as
  ``basicConfig`` would add;
* the root logger gets the level.

``restore()`` (``uninstrument()``) gives back each formatter and the level that are still ours
and removes the handler we added.

The same module keeps the four ``otel*`` fields out of exported log records: the SDK's
``LoggingHandler`` turns every non-standard ``LogRecord`` attribute into a log attribute, and
the record already carries the trace context as its own ids.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from typing import Any, Callable, Final, Optional, Union

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.patching import Patch, PatchSet, inspect_attr
from instrumentarium.util.safety import guard, warn_once

from ._config import DEFAULT_LOGGING_FORMAT
from ._records import FIELDS, SERVICE, LoggingTelemetry

__all__ = ["ACTIVE", "Correlation", "CorrelationFormatter", "correlation_format"]

_APPLY: Final = guard("applying the log correlation format")
_FILTER: Final = guard("dropping the otel* fields from an exported log record")

# The guide's example spells the fields span_id=%(span_id)s; upstream's names are otel*.
ALIASES: Final = {
    "trace_id": "otelTraceID",
    "span_id": "otelSpanID",
    "trace_sampled": "otelTraceSampled",
    "service_name": "otelServiceName",
}
_KEY: Final = re.compile(r"%\((\w+)\)")
_RECORD_KEYS: Final = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None))) | {
    "message",
    "asctime",
    *FIELDS,
}
_NO_SPAN_DEFAULTS: Final = {"otelTraceID": "0", "otelSpanID": "0", "otelTraceSampled": False}


def correlation_format(fmt: Optional[str], source: str) -> str:
    """The format to apply: ``fmt`` (the guide's ``%(span_id)s`` & co. read as upstream's
    ``otel*`` fields) or, when it is empty or not a valid ``%``-style format, the default."""
    if not fmt:
        return DEFAULT_LOGGING_FORMAT
    fmt = _KEY.sub(lambda m: f"%({ALIASES.get(m.group(1), m.group(1))})", fmt)
    try:
        logging.Formatter(fmt, validate=True)
    except (ValueError, TypeError) as exc:
        warn_once(
            ("log-format", source, fmt),
            "%s=%r is not a %%-style logging format (%s); using the default",
            source,
            fmt,
            exc,
        )
        return DEFAULT_LOGGING_FORMAT
    unknown = sorted(set(_KEY.findall(fmt)) - _RECORD_KEYS)
    if unknown:
        warn_once(
            ("log-format-key", source, fmt),
            "%s: %s is not a LogRecord attribute; records without it (no extra=) fail to format",
            source,
            ", ".join(f"%({key})s" for key in unknown),
        )
    return fmt


class CorrelationFormatter(logging.Formatter):
    """The correlation format. A record made without our factory (``makeLogRecord``, one made
    before ``instrument()``) is formatted with the fields of "no span" instead of failing."""

    def __init__(self, fmt: str, service: Callable[[], object]) -> None:
        super().__init__(fmt)
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        if SERVICE not in record.__dict__:
            for name, value in _NO_SPAN_DEFAULTS.items():
                record.__dict__.setdefault(name, value)
            record.__dict__[SERVICE] = self._service()
        return super().format(record)


def _is_opentelemetry(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("opentelemetry.")


class Correlation:
    """The format and level ``set_logging_format`` applies to the root logger."""

    __slots__ = ("_added", "_formatters", "_lock", "_old_level", "formatter", "level")

    def __init__(self, fmt: str, level: int, service: Callable[[], object]) -> None:
        self.formatter = CorrelationFormatter(fmt, service)
        self.level = level
        self._formatters: weakref.WeakKeyDictionary[
            logging.Handler, Optional[logging.Formatter]
        ] = weakref.WeakKeyDictionary()
        self._added: Optional[logging.Handler] = None
        self._old_level: Optional[int] = None
        self._lock = threading.RLock()

    def apply(self) -> None:
        """Format the root logger's text handlers (adding one if it has none) and set its level."""
        root = logging.getLogger()
        with self._lock:
            handlers = [h for h in root.handlers if not _is_opentelemetry(h)]
            if not handlers:
                self._added = logging.StreamHandler()
                handlers = [self._added]
                root.addHandler(self._added)
            for handler in handlers:
                current = handler.formatter
                if current is self.formatter:
                    continue
                if current is None or type(current) is logging.Formatter:
                    self._formatters.setdefault(handler, current)
                    handler.setFormatter(self.formatter)
            if self._old_level is None:
                self._old_level = root.level
            root.setLevel(self.level)

    def restore(self) -> None:
        """Undo what ``apply`` did and is still in place."""
        root = logging.getLogger()
        with self._lock:
            for handler, formatter in list(self._formatters.items()):
                if handler.formatter is self.formatter:
                    handler.setFormatter(formatter)
            self._formatters.clear()
            if self._added is not None:
                root.removeHandler(self._added)
                self._added = None
            if self._old_level is not None and root.level == self.level:
                root.setLevel(self._old_level)
            self._old_level = None


def level_of(value: Union[int, str, None]) -> int:
    """``log_level`` as a number: a level, a name, or None/0 (``INFO``, as upstream)."""
    if isinstance(value, str):
        number = logging.getLevelName(value.strip().upper())
        if isinstance(number, int):
            return number
        warn_once(("log-level", value), "log_level=%r is not a level name; using INFO", value)
        return logging.INFO
    return value or logging.INFO


# -- patches: re-apply after the application configures logging; filter exported fields ------


def _after_config(
    wrapped: Callable[..., Any], _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        telemetry = ACTIVE.global_
        if telemetry is not None and telemetry.correlation is not None:
            with _APPLY:
                telemetry.correlation.apply()


def _without_our_fields(
    wrapped: Callable[..., Any], _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    attributes = wrapped(*args, **kwargs)
    with _FILTER:
        if isinstance(attributes, dict):
            for name in FIELDS:
                attributes.pop(name, None)
    return attributes


class _OptionalPatch(Patch):
    """A patch whose target may be missing from some versions (the SDK's handler): then it is
    skipped instead of failing the import that applies it."""

    __slots__ = ()

    def apply(self) -> None:
        try:
            owner, name = self._owner()
            inspect_attr(owner, name)
        except (AttributeError, KeyError):
            return
        super().apply()

    def remove(self) -> None:
        try:
            self._owner()
        except (AttributeError, KeyError):
            return
        super().remove()


ACTIVE: Final[ActiveConfig[LoggingTelemetry]] = ActiveConfig(
    "_instrumentarium_logging",
    PatchSet(
        [
            Patch("logging", "basicConfig", _after_config),
            Patch("logging.config", "dictConfig", _after_config),
            Patch("logging.config", "fileConfig", _after_config),
            _OptionalPatch(
                "opentelemetry.sdk._logs._internal",
                "LoggingHandler._get_attributes",
                _without_our_fields,
            ),
        ]
    ),
)
