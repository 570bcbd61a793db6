"""``scripts/demo-services`` exits non-zero when a trace is broken: the check of
``examples/multi-service/run_demo.py``, fed traces built by hand (no services, no Collector).

One checkout makes this tree across the six processes (what ``tests/test_multi_service.py``
finds in a real run)::

    frontend SERVER ─ checkout ─ frontend CLIENT ─ gateway SERVER ─ gateway CLIENT
      ─ orders SERVER ─┬─ orders CLIENT (gRPC)
                       │   ─ inventory SERVER ─┬─ inventory CLIENT, CLIENT (Redis)
                       │                       └─ inventory PRODUCER ─ fulfilment CONSUMER
                       │                            ─ fulfil order ─ CLIENT
                       └─ orders PRODUCER (Celery) ─ notifier CONSUMER
"""

from __future__ import annotations

import sys
from pathlib import Path

MULTI_SERVICE = Path(__file__).resolve().parent.parent / "examples" / "multi-service"
if str(MULTI_SERVICE) not in sys.path:
    sys.path.insert(0, str(MULTI_SERVICE))

from otlp_json import Span, Telemetry  # noqa: E402
from run_demo import check  # noqa: E402

# (span id, parent id, service, kind, name), parents first
CHECKOUT = (
    ("01", "", "frontend", "SERVER", "GET /checkout"),
    ("02", "01", "frontend", "INTERNAL", "checkout"),
    ("03", "02", "frontend", "CLIENT", "POST"),
    ("04", "03", "gateway", "SERVER", "POST /orders"),
    ("05", "04", "gateway", "CLIENT", "POST"),
    ("06", "05", "orders", "SERVER", "POST orders"),
    ("07", "06", "orders", "CLIENT", "/demo.Inventory/Reserve"),
    ("08", "07", "inventory", "SERVER", "/demo.Inventory/Reserve"),
    ("09", "08", "inventory", "CLIENT", "INCRBY"),
    ("10", "08", "inventory", "CLIENT", "SET"),
    ("11", "08", "inventory", "PRODUCER", "demo-orders send"),
    ("12", "11", "fulfilment", "CONSUMER", "demo-orders receive"),
    ("13", "12", "fulfilment", "INTERNAL", "fulfil order"),
    ("14", "13", "fulfilment", "CLIENT", "SET"),
    ("15", "06", "orders", "PRODUCER", "apply_async/notifier.confirm_order"),
    ("16", "15", "notifier", "CONSUMER", "run/notifier.confirm_order"),
)
GRPC_CLIENT = "07"


def trace(trace_id: str, without: frozenset[str] = frozenset()) -> list[Span]:
    """One checkout's spans in trace ``trace_id``, less the span ids in ``without``."""
    return [
        Span(
            service=service,
            scope="test",
            trace_id=trace_id,
            span_id=trace_id + span_id,
            parent_id=trace_id + parent_id if parent_id else "",
            name=name,
            kind=kind,
            start_ns=index,
            end_ns=100 - index,
            attributes={},
            status_code=0,
        )
        for index, (span_id, parent_id, service, kind, name) in enumerate(CHECKOUT)
        if span_id not in without
    ]


class TestCheck:
    def test_whole_traces_pass(self) -> None:
        """Two checkouts, each one whole trace: no problem, so the demo exits 0."""
        assert check(Telemetry(spans=trace("a") + trace("b")), requests=2) == []

    def test_a_lost_span_in_the_middle_fails(self) -> None:
        """The gRPC client span lost: the trace still reaches every service and has one root,
        but the gRPC server span's parent is missing, and that alone fails the demo."""
        spans = trace("a") + trace("b", without=frozenset({GRPC_CLIENT}))
        problems = check(Telemetry(spans=spans), requests=2)
        assert problems == [
            "trace b: the parent b07 of inventory SERVER '/demo.Inventory/Reserve' was not received"
        ]

    def test_a_second_root_fails(self) -> None:
        """A span with no parent besides the front end's server span: two roots."""
        spans = trace("a")
        spans.append(Span(**{**vars(spans[-1]), "span_id": "a99", "parent_id": ""}))
        assert check(Telemetry(spans=spans), requests=1) == ["trace a has 2 root spans, expected 1"]

    def test_a_lost_root_fails(self) -> None:
        """The root lost: no root at all, and its child's parent is missing."""
        problems = check(Telemetry(spans=trace("a", without=frozenset({"01"}))), requests=1)
        assert problems == [
            "trace a has 0 root spans, expected 1",
            "trace a: the parent a01 of frontend INTERNAL 'checkout' was not received",
        ]

    def test_a_span_id_reported_twice_fails(self) -> None:
        """The same span twice (an exporter retry the Collector kept): reported, not hidden."""
        spans = trace("a")
        spans.append(spans[-1])
        assert check(Telemetry(spans=spans), requests=1) == ["trace a reports a span id twice"]

    def test_a_missing_service_and_a_missing_trace_fail(self) -> None:
        """A trace that never reached the consumer, and one request with no trace at all."""
        spans = trace("a", without=frozenset({"12", "13", "14"}))
        assert check(Telemetry(spans=spans), requests=2) == [
            "expected 2 traces, got 1",
            "trace a has no span from fulfilment",
        ]

    def test_a_run_span_outside_the_trace_fails(self) -> None:
        """The Celery worker's run span in a trace of its own (the context lost on the way
        through the broker): the request's trace lacks the notifier, and the run is a trace
        too many."""
        *spans, run = trace("a")
        spans.append(Span(**{**vars(run), "trace_id": "b", "parent_id": ""}))
        assert check(Telemetry(spans=spans), requests=1) == [
            "expected 1 traces, got 2",
            "trace a has no span from notifier",
            "trace b has no span from frontend, fulfilment, gateway, inventory, orders",
        ]
