"""The per-record path: our layer of the ``LogRecord`` factory chain.

::

    logging.Logger.makeRecord
      our factory                    installed by instrument(), on top of the factory found then
        previous factory             the standard one, or another library's (called as is)
        LoggingTelemetry.inject      the four otel* fields (guarded), then log_hook in a span
      record                         back to logging

Outside any span a record gets one prepared dict of the four fields (zeros, the service name);
inside one the fields are built once per span context and reused for its next records.

**Chaining.** ``instrument()`` installs one layer on top of whatever factory is set. While a
later factory of another library wraps ours, ``uninstrument()`` cannot take ours out of the
chain: it turns it into a pass-through instead (nothing injected) and the next
``instrument()`` adds a fresh layer. When ours is still the factory, ``uninstrument()`` puts
the previous one back: the very object found at ``instrument()``.

**Never raising.** A failure of ours is logged once (WARNING, then DEBUG) and the record goes
back to logging. The report itself makes a record that passes through this factory again: a
thread-local flag stops a failure from reporting itself in a loop. The previous factory's
exceptions are not ours and propagate unchanged.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Final, Optional

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Span, SpanContext, TracerProvider

from instrumentarium.util.safety import guard

from ._config import LogHook

__all__ = [
    "FIELDS",
    "LoggingTelemetry",
    "install_factory",
    "installed_factory",
    "uninstall_factory",
]

# The LogRecord attributes every record gets, upstream's names.
TRACE_ID: Final = "otelTraceID"
SPAN_ID: Final = "otelSpanID"
SAMPLED: Final = "otelTraceSampled"
SERVICE: Final = "otelServiceName"
FIELDS: Final = (TRACE_ID, SPAN_ID, SAMPLED, SERVICE)

_INJECT: Final = guard("adding trace context to a log record")
_HOOK: Final = guard("log_hook")
_reporting = threading.local()  # .active: a failure is being logged on this thread

RecordFactory = Callable[..., logging.LogRecord]


def _report(site: Any, exc: BaseException) -> None:
    """Log ``exc`` through ``site`` unless this thread is logging a failure already."""
    if getattr(_reporting, "active", False):
        return
    _reporting.active = True
    try:
        site.report(exc)
    finally:
        _reporting.active = False


class LoggingTelemetry:
    """What ``instrument()`` builds once: the fields of records made outside a span, the
    service name, the hook and the correlation format (``_correlation``), if any."""

    __slots__ = ("_last", "_pending_provider", "correlation", "log_hook", "no_span")

    def __init__(
        self,
        tracer_provider: Optional[TracerProvider],
        log_hook: Optional[LogHook],
        correlation: Any = None,
    ) -> None:
        self.log_hook = log_hook if callable(log_hook) else None
        self.correlation = correlation
        service, self._pending_provider = _service_name(tracer_provider)
        self.no_span: dict[str, object] = {
            TRACE_ID: "0",
            SPAN_ID: "0",
            SAMPLED: False,
            SERVICE: service,
        }
        # (span context, its fields): the last span context seen, on any thread. A tuple is
        # read and replaced whole, so threads never see one's context with another's fields.
        self._last: tuple[Optional[SpanContext], dict[str, object]] = (None, self.no_span)

    def inject(self, record: logging.LogRecord, span: Span) -> None:
        """Give ``record`` the fields of ``span``'s context (a valid one), then run the hook."""
        context = span.get_span_context()
        if not context.is_valid:
            record.__dict__.update(self.no_span)
            return
        last = self._last
        if last[0] is context:
            fields = last[1]
        else:
            if self._pending_provider:
                self._resolve_service()
            fields = {
                TRACE_ID: format(context.trace_id, "032x"),
                SPAN_ID: format(context.span_id, "016x"),
                SAMPLED: context.trace_flags.sampled,
                SERVICE: self.no_span[SERVICE],
            }
            self._last = (context, fields)
        record.__dict__.update(fields)
        if self.log_hook is not None:
            try:
                self.log_hook(span, record)
            except Exception as exc:
                _report(_HOOK, exc)

    def _resolve_service(self) -> None:
        """No provider had a resource at ``instrument()`` (the global one was not set yet): look
        again, now that a span is being recorded."""
        service, self._pending_provider = _service_name(None)
        if service:
            self.no_span = {**self.no_span, SERVICE: service}


def _service_name(provider: Optional[TracerProvider]) -> tuple[str, bool]:
    """``service.name`` of the provider's resource (``""`` when it has none), and whether to
    look again later: the global provider is still the API's proxy, with no resource."""
    if provider is None:
        provider = trace.get_tracer_provider()
    resource = getattr(provider, "resource", None)
    if resource is None:
        return "", provider is None or isinstance(provider, trace.ProxyTracerProvider)
    name = resource.attributes.get("service.name")
    return (str(name) if name else ""), False


class _Layer:
    """Which telemetry one installed factory injects; None: a pass-through."""

    __slots__ = ("factory", "previous", "telemetry")

    def __init__(self, previous: RecordFactory, telemetry: LoggingTelemetry) -> None:
        self.previous = previous
        self.telemetry: Optional[LoggingTelemetry] = telemetry
        self.factory = _make_factory(previous, self)


# The context key under which the API keeps the current span, found through the public API
# (the one key of a context holding a span): reading it is one step cheaper per record than
# trace.get_current_span(), which looks it up the same way and returns INVALID_SPAN for None.
(_SPAN_KEY,) = trace.set_span_in_context(INVALID_SPAN, Context()).keys()


def _make_factory(previous: RecordFactory, layer: _Layer) -> RecordFactory:
    get_current = context.get_current
    span_key = _SPAN_KEY

    def record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        telemetry = layer.telemetry
        if telemetry is not None:
            try:
                span: Optional[Span] = get_current().get(span_key)  # type: ignore[assignment]
                if span is None:
                    record.__dict__.update(telemetry.no_span)
                else:
                    telemetry.inject(record, span)
            except Exception as exc:
                _report(_INJECT, exc)
        return record

    record_factory.__qualname__ = "instrumentarium.logging.record_factory"
    return record_factory


_layer: Optional[_Layer] = None  # the layer instrument() installed last
_lock = threading.Lock()


def install_factory(telemetry: LoggingTelemetry) -> None:
    """Make records carry ``telemetry``'s fields: our layer is (or goes) on top of the factory
    in place, which it calls first."""
    global _layer
    with _lock:
        current = logging.getLogRecordFactory()
        if _layer is not None:
            if current is _layer.factory:
                _layer.telemetry = telemetry
                return
            _layer.telemetry = None  # wrapped or replaced since: a pass-through from now on
        _layer = _Layer(current, telemetry)
        logging.setLogRecordFactory(_layer.factory)


def uninstall_factory() -> None:
    """Stop injecting; put the previous factory back when ours is still the one in place."""
    global _layer
    with _lock:
        if _layer is None:
            return
        _layer.telemetry = None
        if logging.getLogRecordFactory() is _layer.factory:
            logging.setLogRecordFactory(_layer.previous)
            _layer = None


def installed_factory() -> Optional[RecordFactory]:
    """Our layer's factory while it is in place (tests, the start-up summary)."""
    return _layer.factory if _layer is not None else None
