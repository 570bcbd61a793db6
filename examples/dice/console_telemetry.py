"""Reading what the SDK's console exporters print, and drawing it as trace trees.

``opentelemetry-instrument --traces_exporter console --metrics_exporter console --logs_exporter
console`` writes pretty-printed JSON objects one after the other on stdout, from several threads,
in whatever order the batch processors flush them::

    {"name": "roll", "context": {...}, "kind": "SpanKind.INTERNAL", ...}      a span
    {"body": "alice is rolling the dice: 4", "trace_id": "0x...", ...}     a log record
    {"resource_metrics": [{"scope_metrics": [{"metrics": [...]}]}]}       one metrics export

Flask's banner (`` * Serving Flask app ...``) lands on the same stream as plain text lines.
``ConsoleTelemetry.parse(stdout)`` sorts all of it; the query methods answer the questions the
demo and the tests ask. Standard library only, Python 3.9+.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

__all__ = [
    "ConsoleTelemetry",
    "LogRecord",
    "Metric",
    "Span",
    "render_trace_trees",
    "short_id",
]

_NO_TRACE = "0x" + "0" * 32
_NO_SPAN = "0x" + "0" * 16


def _parse_time(value: str) -> datetime:
    """The console exporter's timestamps: ``2025-07-31T14:06:12.732153Z`` (UTC)."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def short_id(hex_id: Optional[str], length: int = 8) -> str:
    """``4bf92f35…`` from ``0x4bf92f3577b34da6...``: enough to tell ids apart on screen."""
    if not hex_id:
        return "-"
    digits = hex_id[2:] if hex_id.startswith("0x") else hex_id
    return digits[:length] + "…"


@dataclass(frozen=True)
class Span:
    """One exported span; ids are the exporter's ``0x``-prefixed hex strings."""

    name: str
    trace_id: str
    span_id: str
    parent_id: Optional[str]
    kind: str  # "SERVER", "INTERNAL", ... (the exporter writes "SpanKind.SERVER")
    start: datetime
    end: datetime
    status_code: str
    attributes: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Span:
        context = obj["context"]
        return cls(
            name=obj["name"],
            trace_id=context["trace_id"],
            span_id=context["span_id"],
            parent_id=obj.get("parent_id"),
            kind=str(obj.get("kind", "")).rpartition(".")[2],
            start=_parse_time(obj["start_time"]),
            end=_parse_time(obj["end_time"]),
            status_code=obj.get("status", {}).get("status_code", "UNSET"),
            attributes=obj.get("attributes") or {},
            raw=obj,
        )

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000.0

    @property
    def http_status(self) -> Optional[int]:
        """The response status, whichever semantic conventions the span follows."""
        status = self.attributes.get("http.response.status_code")
        if status is None:
            status = self.attributes.get("http.status_code")
        return status


@dataclass(frozen=True)
class LogRecord:
    """One exported log record; ``trace_id``/``span_id`` are all zeros outside a span."""

    body: Any
    severity_text: str
    trace_id: str
    span_id: str
    attributes: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> LogRecord:
        return cls(
            body=obj.get("body"),
            severity_text=obj.get("severity_text") or "",
            trace_id=obj.get("trace_id") or _NO_TRACE,
            span_id=obj.get("span_id") or _NO_SPAN,
            attributes=obj.get("attributes") or {},
            raw=obj,
        )

    @property
    def in_span(self) -> bool:
        return self.span_id != _NO_SPAN


@dataclass(frozen=True)
class Metric:
    """One instrument as it stood in one metrics export (cumulative by default)."""

    name: str
    unit: str
    description: str
    scope: str
    data_points: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any] = field(repr=False)

    def points_where(self, **attributes: Any) -> list[Mapping[str, Any]]:
        """Data points whose attributes include these (dots spelled ``__``: ``http__route``)."""
        wanted = {key.replace("__", "."): value for key, value in attributes.items()}
        return [
            point
            for point in self.data_points
            if all(point.get("attributes", {}).get(k) == v for k, v in wanted.items())
        ]


@dataclass
class ConsoleTelemetry:
    """Everything one process printed: spans, log records, metrics exports, and other text."""

    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    metric_exports: list[Mapping[str, Any]] = field(default_factory=list)
    unknown_objects: list[Mapping[str, Any]] = field(default_factory=list)
    text_lines: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, stdout: str) -> ConsoleTelemetry:
        """Split ``stdout`` into its JSON objects (``raw_decode`` in a loop) and text lines.

        A JSON object starts with ``{`` at the beginning of a line; anything else, or an object
        cut short (a process killed mid-write), is kept as text.
        """
        telemetry = cls()
        decoder = json.JSONDecoder()
        pos, end = 0, len(stdout)
        while pos < end:
            if stdout[pos].isspace():
                pos += 1
                continue
            if stdout[pos] == "{":
                try:
                    obj, pos = decoder.raw_decode(stdout, pos)
                except json.JSONDecodeError:
                    pass
                else:
                    telemetry._add(obj)
                    continue
            line_end = stdout.find("\n", pos)
            line_end = end if line_end == -1 else line_end
            telemetry.text_lines.append(stdout[pos:line_end])
            pos = line_end + 1
        return telemetry

    def _add(self, obj: Any) -> None:
        if isinstance(obj, dict) and "resource_metrics" in obj:
            self.metric_exports.append(obj)
        elif isinstance(obj, dict) and "context" in obj and "kind" in obj:
            self.spans.append(Span.from_json(obj))
        elif isinstance(obj, dict) and "body" in obj and "severity_text" in obj:
            self.logs.append(LogRecord.from_json(obj))
        else:
            self.unknown_objects.append(obj)

    # -- spans -------------------------------------------------------------------------------

    def spans_named(self, name: str) -> list[Span]:
        return [span for span in self.spans if span.name == name]

    def spans_of_kind(self, kind: str) -> list[Span]:
        return [span for span in self.spans if span.kind == kind]

    def span(self, span_id: Optional[str]) -> Optional[Span]:
        return next((span for span in self.spans if span.span_id == span_id), None)

    def children(self, parent: Span) -> list[Span]:
        return sorted(
            (
                s
                for s in self.spans
                if s.parent_id == parent.span_id and s.trace_id == parent.trace_id
            ),
            key=lambda s: s.start,
        )

    def trace_roots(self) -> list[Span]:
        """The top span of each trace seen here: no parent, or a parent from another process."""
        known = {(span.trace_id, span.span_id) for span in self.spans}
        roots = [
            s for s in self.spans if s.parent_id is None or (s.trace_id, s.parent_id) not in known
        ]
        return sorted(roots, key=lambda s: s.start)

    # -- logs --------------------------------------------------------------------------------

    def logs_in_span(self, span: Span) -> list[LogRecord]:
        return [r for r in self.logs if r.trace_id == span.trace_id and r.span_id == span.span_id]

    def logs_containing(self, text: str) -> list[LogRecord]:
        return [r for r in self.logs if text in str(r.body)]

    # -- metrics -----------------------------------------------------------------------------

    def _metrics_in(self, export: Mapping[str, Any]) -> Iterator[Metric]:
        for resource_metrics in export.get("resource_metrics") or ():
            for scope_metrics in resource_metrics.get("scope_metrics") or ():
                scope = (scope_metrics.get("scope") or {}).get("name", "")
                for metric in scope_metrics.get("metrics") or ():
                    yield Metric(
                        name=metric["name"],
                        unit=metric.get("unit") or "",
                        description=metric.get("description") or "",
                        scope=scope,
                        data_points=tuple((metric.get("data") or {}).get("data_points") or ()),
                        raw=metric,
                    )

    def metric(self, name: str) -> Optional[Metric]:
        """The instrument ``name`` as of the last export that has it (with the default
        cumulative temporality, that export holds the totals)."""
        for export in reversed(self.metric_exports):
            for metric in self._metrics_in(export):
                if metric.name == name:
                    return metric
        return None

    def metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for export in self.metric_exports:
            for metric in self._metrics_in(export):
                names[metric.name] = None
        return list(names)


def _span_label(span: Span) -> str:
    label = f"{span.name}  {span.duration_ms:.1f} ms"
    if span.kind == "SERVER" or span.http_status is not None:
        status = f" {span.http_status}" if span.http_status is not None else ""
        label += f"  [{span.kind}{status}]"
    else:
        shown = ", ".join(f"{key}={value}" for key, value in span.attributes.items())
        if shown:
            label += f"  {shown}"
    if span.status_code == "ERROR":
        label += "  ERROR"
    return label


def render_trace_trees(telemetry: ConsoleTelemetry, roots: Optional[Iterable[Span]] = None) -> str:
    """Each trace as an indented tree with durations, and the log lines emitted in each span::

    trace 4bf92f35…  GET /rolldice  1.9 ms  [SERVER 200]
      └─ roll  0.1 ms  roll.value=4
         log: "alice is rolling the dice: 4"
    """
    lines: list[str] = []

    def logs_under(span: Span, indent: str) -> None:
        lines.extend(f'{indent}log: "{record.body}"' for record in telemetry.logs_in_span(span))

    def walk(span: Span, prefix: str) -> None:
        children = telemetry.children(span)
        for index, child in enumerate(children):
            last = index == len(children) - 1
            lines.append(f"{prefix}{'└─' if last else '├─'} {_span_label(child)}")
            child_prefix = prefix + ("   " if last else "│  ")
            logs_under(child, child_prefix)
            walk(child, child_prefix)

    for root in roots if roots is not None else telemetry.trace_roots():
        header = f"trace {short_id(root.trace_id)}  {_span_label(root)}"
        if root.parent_id is not None:
            header += f"  (parent {short_id(root.parent_id)} from the caller)"
        lines.append(header)
        logs_under(root, "  ")
        walk(root, "  ")
    return "\n".join(lines)
