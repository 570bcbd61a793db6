"""The getting-started walk-through, automated: ``scripts/demo`` runs this with the dev venv.

It starts ``app.py`` under ``opentelemetry-instrument`` with the console exporters (as the guide
does), sends a few requests, stops the server with SIGINT so that everything is flushed, then
shows what came out: the server span and the app's ``roll`` span under it, a log record carrying
the request's trace id, the HTTP and ``dice.rolls`` metrics, and each trace as a small tree.
Exits 1, saying what is missing, when the expected telemetry is not there.

Usage: ``python examples/dice/demo.py [--stdout]`` (``--stdout`` also prints the raw exporter
output). The interpreter must be the venv's: the ``opentelemetry-instrument`` and ``flask``
commands are taken from its ``bin`` directory.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from console_telemetry import ConsoleTelemetry, Metric, Span, render_trace_trees
from drive import DiceServer, ServerError

REQUESTS = ("/rolldice?player=alice", "/rolldice", "/rolldice?player=bob")
METRICS = ("http.server.duration", "http.server.active_requests", "dice.rolls")


def heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 76 - len(title)))


def show_json(obj: Mapping[str, Any]) -> None:
    """The object as the exporter printed it, minus the resource (the same on every item)."""
    trimmed = {key: value for key, value in obj.items() if key != "resource"}
    print(json.dumps(trimmed, indent=2))


def describe_point(point: Mapping[str, Any]) -> str:
    attributes = json.dumps(point.get("attributes") or {}, sort_keys=True)
    if "count" in point:  # a histogram
        values = f"count={point['count']} sum={point['sum']}"
        if "min" in point:
            values += f" min={point['min']} max={point['max']}"
    else:
        values = f"value={point.get('value')}"
    return f"{values}  {attributes}"


def show_metric(metric: Metric) -> None:
    data = metric.raw.get("data") or {}
    if any("bucket_counts" in point for point in metric.data_points):
        kind = "histogram"
    elif "is_monotonic" in data:
        kind = "counter" if data["is_monotonic"] else "up-down counter"
    else:
        kind = "gauge"
    print(f"{metric.name}  unit={metric.unit or '-'}  scope={metric.scope}  {kind}")
    for point in metric.data_points:
        print(f"    {describe_point(point)}")


def find_server_span(telemetry: ConsoleTelemetry, player: str) -> Optional[Span]:
    servers = [s for s in telemetry.spans_of_kind("SERVER") if s.name == "GET /rolldice"]
    for span in servers:
        if f"player={player}" in str(span.attributes.get("http.target", "")):
            return span
    return servers[0] if servers else None


def run(bin_dir: Path, show_stdout: bool) -> int:
    problems: list[str] = []
    server = DiceServer(bin_dir)
    print("dice demo: the getting-started app under opentelemetry-instrument, no OpenTelemetry")
    print("code in the app except its own `roll` span and `dice.rolls` counter.")
    print(f"\n$ {server.describe()}")
    with server:
        print(f"server answering on {server.base_url}")
        for path in REQUESTS:
            status, body = server.get(path)
            print(f"  GET {path:<24} -> {status} {body!r}")
            if status != 200:
                problems.append(f"GET {path} answered {status}, expected 200")
        finished = server.stop()
    telemetry = ConsoleTelemetry.parse(finished.stdout)
    print(
        f"stopped with SIGINT (exit status {finished.returncode}); stdout held"
        f" {len(telemetry.spans)} spans, {len(telemetry.logs)} log records,"
        f" {len(telemetry.metric_exports)} metrics exports"
    )
    if show_stdout:
        heading("raw stdout")
        print(finished.stdout)

    heading("server span of GET /rolldice?player=alice (by instrumentarium-flask)")
    server_span = find_server_span(telemetry, "alice")
    roll_span: Optional[Span] = None
    if server_span is None:
        problems.append("no SERVER span named 'GET /rolldice' was exported")
        print("(missing)")
    else:
        show_json(server_span.raw)
        heading("its child: the app's own `roll` span")
        rolls = [s for s in telemetry.children(server_span) if s.name == "roll"]
        if not rolls:
            problems.append("no `roll` span has the server span as its parent")
            print("(missing)")
        else:
            roll_span = rolls[0]
            show_json(roll_span.raw)
            print(
                f"\nroll.parent_id {roll_span.parent_id} == server span_id"
                f" {server_span.span_id}: the app's span is a child of the request's span"
            )

    heading("a log record emitted during that request")
    record = None
    if server_span is not None:
        record = next(
            (r for r in telemetry.logs_containing("alice") if r.trace_id == server_span.trace_id),
            None,
        )
    if record is None:
        problems.append("no log record with the request's trace_id was exported")
        print("(missing)")
    else:
        show_json(record.raw)
        owner = telemetry.span(record.span_id)
        owner_name = owner.name if owner is not None else "an unknown span"
        print(
            f"\ntrace_id {record.trace_id} is the request's; span_id {record.span_id} is"
            f" `{owner_name}`, the span that was current when logger.warning() ran"
        )

    heading("metrics (the last export before exit; cumulative)")
    for name in METRICS:
        metric = telemetry.metric(name)
        if metric is None or not metric.data_points:
            problems.append(f"metric {name} was not exported (or has no data points)")
            print(f"{name}: (missing)")
        else:
            show_metric(metric)

    heading("summary: each trace as a tree")
    print(render_trace_trees(telemetry) or "(no spans)")

    if problems:
        print("\ndemo: FAILED, expected telemetry is missing:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("  server stderr:", file=sys.stderr)
        for line in finished.stderr.splitlines()[-20:]:
            print(f"    {line}", file=sys.stderr)
        return 1
    print(
        f"\ndemo: OK: {len(REQUESTS)} requests, {len(telemetry.trace_roots())} traces, server"
        " and app spans linked, logs correlated, metrics exported"
    )
    return 0


def main(argv: list[str]) -> int:
    show_stdout = "--stdout" in argv
    unknown = [arg for arg in argv if arg != "--stdout"]
    if unknown:
        print(f"usage: demo.py [--stdout] (unknown: {' '.join(unknown)})", file=sys.stderr)
        return 2
    bin_dir = Path(sys.executable).parent
    missing = [c for c in ("opentelemetry-instrument", "flask") if not (bin_dir / c).exists()]
    if missing:
        print(
            f"demo: {', '.join(missing)} not found in {bin_dir}; run scripts/setup first",
            file=sys.stderr,
        )
        return 1
    try:
        return run(bin_dir, show_stdout)
    except ServerError as error:
        print(f"demo: FAILED: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
