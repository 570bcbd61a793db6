"""The four fields never reach exported log records: the SDK's ``LoggingHandler`` exports every
non-standard record attribute, and the record carries the trace context as its own ids."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs import export as log_export
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.logging import LoggingInstrumentor

FIELDS = {"otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName"}
Instrument = Callable[..., LoggingInstrumentor]
log = logging.getLogger("exported")
# Renamed in SDK 1.39 (the old name warns); the oldest SDK we support has only the old one.
InMemoryLogExporter: Any = getattr(
    log_export, "InMemoryLogRecordExporter", getattr(log_export, "InMemoryLogExporter", None)
)


@pytest.fixture
def exporter() -> Iterator[Any]:
    """The SDK's handler on the logger ``exported``, into an in-memory exporter."""
    exporter = InMemoryLogExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    log.addHandler(handler)
    log.propagate = False
    yield exporter
    log.removeHandler(handler)
    log.propagate = True
    provider.shutdown()


def exported(exporter: Any) -> list[Any]:
    return [data.log_record for data in exporter.get_finished_logs()]


def test_fields_are_not_exported_attributes(
    instrument: Instrument, exporter: Any, tracer_provider: TracerProvider
) -> None:
    """Inside a span: the exported record has the span's ids as its own trace and span ids,
    the application's ``extra=`` attribute, and none of the four fields."""
    instrument()
    with tracer_provider.get_tracer("t").start_as_current_span("s") as span:
        log.warning("inside", extra={"order": 7})
    log.warning("outside")
    inside, outside = exported(exporter)
    assert inside.span_id == span.get_span_context().span_id
    assert inside.trace_id == span.get_span_context().trace_id
    assert inside.attributes["order"] == 7
    assert not FIELDS & set(inside.attributes)
    assert not FIELDS & set(outside.attributes)


def test_a_log_hook_attribute_is_still_exported(
    instrument: Instrument, exporter: Any, tracer_provider: TracerProvider
) -> None:
    """Only our four fields are dropped: what ``log_hook`` adds is exported as upstream."""

    def hook(span: Any, record: logging.LogRecord) -> None:
        record.tenant = "acme"

    instrument(log_hook=hook)
    with tracer_provider.get_tracer("t").start_as_current_span("s"):
        log.warning("inside")
    (record,) = exported(exporter)
    assert record.attributes["tenant"] == "acme"


def test_the_handler_is_patched_even_when_imported_first(
    instrumentor: LoggingInstrumentor, exporter: Any
) -> None:
    """The SDK module imported before ``instrument()`` (here: by this test module) is patched
    at once; ``uninstrument()`` restores the original method."""
    original = LoggingHandler.__dict__["_get_attributes"]
    instrumentor.instrument()
    assert LoggingHandler.__dict__["_get_attributes"] is not original
    instrumentor.uninstrument()
    assert LoggingHandler.__dict__["_get_attributes"] is original
