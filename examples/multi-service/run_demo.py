"""What ``scripts/demo-services`` runs: the whole multi-service demo, then what the Collector got.

Starts a Collector and the six services (``demo_stack.py``), sends a few checkouts through the
front end, waits for the Kafka consumer to fulfil them and the Celery worker to confirm them,
stops everything, and prints from the Collector's file output each trace as a tree across
services, then the metrics each service sent. Exits 1, saying what is wrong, when a trace is
broken: it does not reach every service, has more or less than one root, or holds a span whose
parent was not received.

Usage: python examples/multi-service/run_demo.py [--requests N] [--semconv VALUE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from demo_stack import SERVICE_NAMES, Settings, Stack, StackError
from otlp_json import Telemetry, render_metrics, render_trace

ITEMS = ("dice", "meeple", "token", "card")


def heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 76 - len(title)))


def run(settings: Settings, requests: int, keep: bool = False) -> int:
    print("multi-service demo: frontend (Flask) -> gateway (FastAPI) -> orders (Django) ->")
    print("inventory (gRPC: Redis, Kafka producer) -> fulfilment (Kafka consumer), and orders ->")
    print("notifier (a Celery task through Redis), all under opentelemetry-instrument,")
    print(f"exporting OTLP to an ocb-built Collector; work dir {settings.work_dir}")
    if settings.semconv_opt_in:
        print(f"OTEL_SEMCONV_STABILITY_OPT_IN={settings.semconv_opt_in}")
    with Stack(settings) as stack:
        assert stack.collector is not None
        print(
            f"collector: OTLP/gRPC 127.0.0.1:{stack.collector.grpc_port},"
            f" OTLP/HTTP 127.0.0.1:{stack.collector.http_port}"
        )
        print(f"frontend: {stack.frontend_url}")
        for number in range(requests):
            item = ITEMS[number % len(ITEMS)]
            order = stack.checkout(item, number + 1)
            print(f"  GET /checkout?item={item}&qty={number + 1} -> {order.status} {order.answer}")
        telemetry = stack.stop()
    problems = check(telemetry, requests)

    heading(f"traces ({len(telemetry.traces())}), as the Collector received them")
    for spans in telemetry.traces().values():
        print(render_trace(spans))
        print()
    heading("metrics, by service (the last export of each)")
    print(render_metrics(telemetry))
    if keep:
        print(f"\nCollector output: {settings.work_dir / 'collector'}; logs: {settings.work_dir}")
    if problems:
        print("\ndemo: FAILED", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"\ndemo: OK: {requests} requests, one trace each across {', '.join(SERVICE_NAMES)}")
    return 0


def check(telemetry: Telemetry, requests: int) -> list[str]:
    """What is wrong with the traces the Collector received, one line per problem (none: every
    request made one whole trace). A trace is whole when it reaches every service, has exactly
    one root, and every other span's parent is a span of the same trace: a lost span (say the
    gRPC client's) leaves its children pointing at a parent that is not there."""
    problems = []
    traces = telemetry.traces()
    if len(traces) != requests:
        problems.append(f"expected {requests} traces, got {len(traces)}")
    for trace_id, spans in traces.items():
        missing = set(SERVICE_NAMES) - {s.service for s in spans}
        if missing:
            problems.append(f"trace {trace_id} has no span from {', '.join(sorted(missing))}")
        roots = [s for s in spans if not s.parent_id]
        if len(roots) != 1:
            problems.append(f"trace {trace_id} has {len(roots)} root spans, expected 1")
        ids = {s.span_id for s in spans}
        if len(ids) != len(spans):
            problems.append(f"trace {trace_id} reports a span id twice")
        problems.extend(
            f"trace {trace_id}: the parent {s.parent_id} of {s.service} {s.kind} {s.name!r}"
            " was not received"
            for s in spans
            if s.parent_id and s.parent_id not in ids
        )
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--semconv", default=None, help="OTEL_SEMCONV_STABILITY_OPT_IN")
    parser.add_argument("--keep", type=Path, default=None, help="work dir to keep (logs, output)")
    args = parser.parse_args(argv)
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "opentelemetry-instrument").exists():
        print(f"demo: no opentelemetry-instrument in {bin_dir}; run scripts/setup", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="instrumentarium-demo-") as scratch:
        work_dir = args.keep or Path(scratch)
        try:
            return run(
                Settings(work_dir, bin_dir, args.semconv), args.requests, args.keep is not None
            )
        except StackError as error:
            print(f"demo: FAILED: {error}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
