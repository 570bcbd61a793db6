"""Concurrent requests in threads and asyncio tasks: each record carries its own span's ids,
never another's (the per-span fields are cached, one entry shared by every thread)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Callable

from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.logging import LoggingInstrumentor

from .conftest import Records

Instrument = Callable[..., LoggingInstrumentor]
log = logging.getLogger("test")
REQUESTS = 16
LINES = 50


def expected_ids(records: Records) -> None:
    """Every record names its request; its ids must be that request's span's."""
    assert len(records.records) == REQUESTS * LINES
    for record in records.records:
        trace_id, span_id = record.args  # type: ignore[misc]
        assert (record.otelTraceID, record.otelSpanID) == (trace_id, span_id), record.msg


def test_threads_never_see_each_others_ids(
    instrument: Instrument, records: Records, tracer_provider: TracerProvider
) -> None:
    """Threads, each in its own span, log interleaved lines: every line has its own ids."""
    instrument()
    tracer = tracer_provider.get_tracer("t")
    start = threading.Barrier(REQUESTS)

    def request() -> None:
        start.wait()
        with tracer.start_as_current_span("request") as span:
            context = span.get_span_context()
            ids = (f"{context.trace_id:032x}", f"{context.span_id:016x}")
            for _ in range(LINES):
                log.info("%s %s", *ids)

    threads = [threading.Thread(target=request) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected_ids(records)


def test_asyncio_tasks_never_see_each_others_ids(
    instrument: Instrument, records: Records, tracer_provider: TracerProvider
) -> None:
    """Tasks that yield between lines (so their lines interleave): every line has its own
    task's span ids, and a line after the spans has zeros."""
    instrument()
    tracer = tracer_provider.get_tracer("t")

    async def request() -> None:
        with tracer.start_as_current_span("request") as span:
            context = span.get_span_context()
            ids = (f"{context.trace_id:032x}", f"{context.span_id:016x}")
            for _ in range(LINES):
                log.info("%s %s", *ids)
                await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(request() for _ in range(REQUESTS)))

    asyncio.run(main())
    expected_ids(records)
    span_ids = {record.otelSpanID for record in records.records}
    assert len(span_ids) == REQUESTS
    log.info("%s %s", "0", "0")
    assert records.records[-1].otelSpanID == "0"
