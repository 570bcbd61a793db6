"""Reading what the Collector's file exporter wrote: OTLP JSON, one export request per line.

    traces.jsonl   {"resourceSpans": [{"resource", "scopeSpans": [{"scope", "spans": […]}]}]}
    metrics.jsonl  {"resourceMetrics": [{"resource", "scopeMetrics": [{"scope", "metrics": […]}]}]}

``Telemetry.load(directory)`` flattens both into ``Span`` and ``Metric`` records that carry their
process's ``service.name``; ``render_traces`` and ``render_metrics`` print them for people:

    trace 5b8efff798038103d269b633813fc60c  (5 services, 11 spans)
    frontend     GET /checkout                    SERVER    14.2 ms
      frontend   checkout                         INTERNAL  12.9 ms
        frontend POST                             CLIENT    12.5 ms
          orders POST orders                      SERVER     9.8 ms
          …
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def attribute_value(value: Mapping[str, Any]) -> Any:
    """An OTLP ``AnyValue`` as a Python value (int64s come as strings in OTLP JSON)."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [attribute_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(pairs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {pair["key"]: attribute_value(pair.get("value", {})) for pair in pairs}


@dataclass(frozen=True)
class Span:
    service: str
    scope: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    status_code: int  # 0 unset, 1 ok, 2 error

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass(frozen=True)
class Metric:
    service: str
    scope: str
    name: str
    unit: str
    kind: str  # sum, gauge, histogram, exponentialHistogram, summary
    monotonic: bool
    points: Sequence[Mapping[str, Any]]  # each with its attributes decoded


@dataclass
class Telemetry:
    spans: list[Span] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)

    @classmethod
    def load(cls, directory: Path) -> Telemetry:
        telemetry = cls()
        for document in _documents(directory / "traces.jsonl"):
            telemetry.spans.extend(_spans(document))
        for document in _documents(directory / "metrics.jsonl"):
            telemetry.metrics.extend(_metrics(document))
        return telemetry

    def traces(self) -> dict[str, list[Span]]:
        """Spans by trace id, each trace in start order, traces in the order they started."""
        by_trace: dict[str, list[Span]] = {}
        for span in sorted(self.spans, key=lambda s: s.start_ns):
            by_trace.setdefault(span.trace_id, []).append(span)
        return by_trace

    def services(self) -> list[str]:
        return sorted({s.service for s in self.spans} | {m.service for m in self.metrics})

    def latest_metrics(self) -> list[Metric]:
        """The last export of each metric of each service (the points are cumulative)."""
        latest: dict[tuple[str, str, str], Metric] = {}
        for metric in self.metrics:
            latest[(metric.service, metric.scope, metric.name)] = metric
        return sorted(latest.values(), key=lambda m: (m.service, m.name))


def _documents(path: Path) -> Iterator[Mapping[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            # The exporter writes whole lines; a line still being written is left for later.
            if line.endswith("\n") and line.strip():
                yield json.loads(line)


def _service_name(resource: Mapping[str, Any]) -> str:
    return str(attributes(resource.get("attributes", [])).get("service.name", "?"))


def _spans(document: Mapping[str, Any]) -> Iterator[Span]:
    for resource_spans in document.get("resourceSpans", []):
        service = _service_name(resource_spans.get("resource", {}))
        for scope_spans in resource_spans.get("scopeSpans", []):
            scope = scope_spans.get("scope", {}).get("name", "")
            for raw in scope_spans.get("spans", []):
                yield Span(
                    service=service,
                    scope=scope,
                    trace_id=raw["traceId"],
                    span_id=raw["spanId"],
                    parent_id=raw.get("parentSpanId", ""),
                    name=raw["name"],
                    kind=KINDS.get(int(raw.get("kind", 0)), "UNSPECIFIED"),
                    start_ns=int(raw["startTimeUnixNano"]),
                    end_ns=int(raw["endTimeUnixNano"]),
                    attributes=attributes(raw.get("attributes", [])),
                    status_code=int(raw.get("status", {}).get("code", 0)),
                )


_METRIC_KINDS = ("sum", "gauge", "histogram", "exponentialHistogram", "summary")


def _metrics(document: Mapping[str, Any]) -> Iterator[Metric]:
    for resource_metrics in document.get("resourceMetrics", []):
        service = _service_name(resource_metrics.get("resource", {}))
        for scope_metrics in resource_metrics.get("scopeMetrics", []):
            scope = scope_metrics.get("scope", {}).get("name", "")
            for raw in scope_metrics.get("metrics", []):
                kind = next((k for k in _METRIC_KINDS if k in raw), "")
                data = raw.get(kind, {})
                points = [
                    {**point, "attributes": attributes(point.get("attributes", []))}
                    for point in data.get("dataPoints", [])
                ]
                yield Metric(
                    service=service,
                    scope=scope,
                    name=raw["name"],
                    unit=raw.get("unit", ""),
                    kind=kind,
                    monotonic=bool(data.get("isMonotonic", False)),
                    points=points,
                )


# -- for people ----------------------------------------------------------------------------


def render_trace(spans: Sequence[Span]) -> str:
    """One trace as an indented tree: service, span name, kind, duration. A span whose parent
    is not in the trace (lost, or from a caller outside) is shown as a root, marked."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = {}
    roots: list[Span] = []
    for span in spans:
        if span.parent_id and span.parent_id in ids:
            children.setdefault(span.parent_id, []).append(span)
        else:
            roots.append(span)
    rows: list[tuple[str, str, str, float, str]] = []

    def walk(span: Span, depth: int) -> None:
        note = "  (parent not received)" if span.parent_id and span.parent_id not in ids else ""
        rows.append(("  " * depth + span.service, span.name, span.kind, span.duration_ms, note))
        for child in children.get(span.span_id, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    services = len({s.service for s in spans})
    head = f"trace {spans[0].trace_id}  ({services} services, {len(spans)} spans)"
    width_service = max(len(r[0]) for r in rows)
    width_name = max(len(r[1]) for r in rows)
    lines = [head]
    for service, name, kind, duration, note in rows:
        service_column = f"{service:<{width_service}}"
        name_column = f"{name:<{width_name}}"
        lines.append(f"  {service_column}  {name_column}  {kind:<8}  {duration:8.2f} ms{note}")
    return "\n".join(lines)


def render_traces(telemetry: Telemetry) -> str:
    return "\n\n".join(render_trace(spans) for spans in telemetry.traces().values())


def describe_point(metric: Metric, point: Mapping[str, Any]) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(point["attributes"].items()))
    if metric.kind in ("histogram", "exponentialHistogram", "summary"):
        count = int(point.get("count", 0))
        total = float(point.get("sum", 0.0))
        values = f"count={count} sum={total:.4g}"
    else:
        raw: Optional[Any] = point.get("asInt", point.get("asDouble"))
        values = f"value={raw}"
    return f"{values}  {{{labels}}}"


def render_metrics(telemetry: Telemetry) -> str:
    lines: list[str] = []
    service = None
    for metric in telemetry.latest_metrics():
        if metric.service != service:
            service = metric.service
            lines.append(f"{service}")
        kind = metric.kind + (" (monotonic)" if metric.kind == "sum" and metric.monotonic else "")
        lines.append(f"  {metric.name}  [{metric.unit or '-'}]  {kind}  scope={metric.scope}")
        lines.extend(f"      {describe_point(metric, point)}" for point in metric.points)
    return "\n".join(lines)
