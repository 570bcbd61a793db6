"""Helpers of the instrumentarium-celery tests (a module name no other package's tests use)."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

TIMEOUT = 20  # seconds a test waits for a result or a span at most


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[Any]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def wait_for_spans(
    exporter: InMemorySpanExporter, count: int, name: str = "", trace_id: int = 0
) -> list[Any]:
    """The finished spans (named ``name`` and in trace ``trace_id``, if given) once there are
    ``count`` of them, or what there is after ``TIMEOUT``."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        spans = [
            s
            for s in exporter.get_finished_spans()
            if (not name or s.name == name) and (not trace_id or s.context.trace_id == trace_id)
        ]
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.02)


def describe_spans(exporter: InMemorySpanExporter) -> str:
    """Every finished span as ``name trace-id/span-id <- parent-id``, for assertion messages."""
    return "; ".join(
        f"{s.name} {s.context.trace_id:032x}/{s.context.span_id:016x} <- {s.parent.span_id:016x}"
        if s.parent
        else f"{s.name} {s.context.trace_id:032x}/{s.context.span_id:016x}"
        for s in exporter.get_finished_spans()
    )
