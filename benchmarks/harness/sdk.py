"""The SDK set-up every variant shares, and what a worker reads back from it to check it.

A ``TracerProvider`` with a ``BatchSpanProcessor`` in front of a no-op exporter (it counts the spans
it is given and keeps the last one), a ``MeterProvider`` with an ``InMemoryMetricReader``, default
(always-on) sampling, and the default global propagator: W3C trace context plus baggage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from workloads import Providers

__all__ = ["BenchSdk", "CountingExporter", "set_default_propagator", "span_summary"]


def set_default_propagator() -> None:
    """What ``OTEL_PROPAGATORS`` defaults to (``tracecontext,baggage``), set the same way in
    every variant rather than left to entry-point loading."""
    set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )


class CountingExporter(SpanExporter):
    """Exports nowhere; counts the spans and keeps the last one so the worker can check them."""

    def __init__(self) -> None:
        self.exported = 0
        self.last: Optional[ReadableSpan] = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if spans:
            self.exported += len(spans)
            self.last = spans[-1]
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class BenchSdk:
    """The providers of one worker and the means to inspect what they received."""

    def __init__(self) -> None:
        self.exporter = CountingExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(BatchSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.providers = Providers(self.tracer_provider, self.meter_provider)

    def flush(self) -> None:
        """Hand every ended span to the exporter now (outside the timed loop)."""
        self.tracer_provider.force_flush()

    def metric_points(self) -> dict[str, list[dict[str, Any]]]:
        """Each metric's name and the attributes of its data points."""
        data = self.reader.get_metrics_data()
        points: dict[str, list[dict[str, Any]]] = {}
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    points.setdefault(metric.name, []).extend(
                        _jsonable(point.attributes or {}) for point in metric.data.data_points
                    )
        return points


def span_summary(span: ReadableSpan) -> dict[str, Any]:
    """What the report compares between variants: name, kind, status, attributes."""
    return {
        "name": span.name,
        "kind": span.kind.name,
        "status": span.status.status_code.name,
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
        "attributes": _jsonable(span.attributes or {}),
        "ended": span.end_time is not None,
    }


def _jsonable(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in sorted(attributes.items())
    }
