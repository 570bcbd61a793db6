"""The multi-service demo end to end, read back from a real OpenTelemetry Collector.

One run per semantic-convention mode (module-scoped fixtures): ``examples/multi-service``'s own
launcher (``demo_stack.py``) starts our ocb-built Collector on free loopback ports, then the five
services under ``opentelemetry-instrument``::

    frontend (Flask) ─requests─▶ gateway (FastAPI) ─requests─▶ orders (Django) ─gRPC─▶ inventory
                                                                   │    Redis ◀─┤
                                                                   │    fulfilment (consumer,
                                                                   │      Redis) ◀─ Kafka ◀─┘
                                      notifier (Celery worker) ◀─ Redis (Celery's broker) ◀─┘

sends three checkouts, waits until the consumer has fulfilled them and the Celery worker has
confirmed them, stops every process with
SIGTERM and then the Collector, and parses the OTLP JSON lines the Collector's file exporter
wrote. The tests only read that output.

Skips, saying why, only when the Collector binary was not built (``scripts/services start
collector``) or the Kafka broker does not answer (``scripts/services start kafka``); Redis is
required, as for the rest of the suite.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

MULTI_SERVICE = Path(__file__).resolve().parent.parent / "examples" / "multi-service"
if str(MULTI_SERVICE) not in sys.path:
    sys.path.insert(0, str(MULTI_SERVICE))

from demo_stack import Order, Settings, Stack  # noqa: E402
from otlp_json import Span, Telemetry, render_metrics, render_trace  # noqa: E402

from tests.support.services import KAFKA_BOOTSTRAP, collector_binary, listens  # noqa: E402

pytestmark = [
    pytest.mark.subprocess,
    # One run per mode, shared by the tests of the module: under `--dist loadgroup` they stay on
    # one worker, so each run happens once.
    pytest.mark.xdist_group("multi_service"),
    # The first test of each mode starts everything; in a fresh virtualenv on a busy machine
    # that alone can take a minute (every module compiled on first import).
    pytest.mark.timeout(300),
]

BIN_DIR = Path(sys.executable).parent
REQUESTS = (("dice", 1), ("meeple", 2), ("token", 3))
STABLE = "http,database,rpc,messaging"
SPANS_SERVICES = ("frontend", "gateway", "orders", "inventory", "fulfilment", "notifier")

# What one checkout leaves, process by process: (service, kind) -> how many spans.
SPANS_PER_REQUEST = Counter(
    {
        ("frontend", "SERVER"): 1,  # GET /checkout (instrumentarium-flask)
        ("frontend", "INTERNAL"): 1,  # checkout (the app's one manual span)
        ("frontend", "CLIENT"): 1,  # POST to the gateway (instrumentarium-requests)
        ("gateway", "SERVER"): 1,  # POST /orders (instrumentarium-fastapi; no send spans)
        ("gateway", "CLIENT"): 1,  # POST to orders (instrumentarium-requests)
        ("orders", "SERVER"): 1,  # POST orders (instrumentarium-django)
        ("orders", "CLIENT"): 1,  # Reserve (instrumentarium-grpc, client)
        ("orders", "PRODUCER"): 1,  # apply_async/notifier.confirm_order (instrumentarium-celery)
        ("inventory", "SERVER"): 1,  # Reserve (instrumentarium-grpc, server)
        ("inventory", "CLIENT"): 2,  # INCRBY, SET (instrumentarium-redis)
        ("inventory", "PRODUCER"): 1,  # send (instrumentarium-kafka)
        ("fulfilment", "CONSUMER"): 1,  # receive (instrumentarium-kafka)
        ("fulfilment", "INTERNAL"): 1,  # fulfil order (the worker's one manual span)
        ("fulfilment", "CLIENT"): 1,  # SET (instrumentarium-redis)
        ("notifier", "CONSUMER"): 1,  # run/notifier.confirm_order (instrumentarium-celery)
    }
)


def _skip_unless_available() -> None:
    binary = collector_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip(
            f"no Collector binary at {binary}: build it with `scripts/services start collector`"
        )
    if not listens(KAFKA_BOOTSTRAP):
        pytest.skip(f"no Kafka broker on {KAFKA_BOOTSTRAP}: `scripts/services start kafka`")


@dataclass(frozen=True)
class Run:
    """One whole demo run: the orders as answered, what the Collector wrote, the processes'
    exit statuses and logs."""

    orders: Sequence[Order]
    telemetry: Telemetry
    exit_codes: dict[str, int]
    logs: dict[str, str]
    topic: str

    def trace_of(self, order: Order) -> list[Span]:
        """The spans of the trace the manual ``checkout`` span of ``order`` belongs to."""
        checkouts = [
            s
            for s in self.telemetry.spans
            if s.name == "checkout" and s.attributes.get("demo.order_id") == order.order_id
        ]
        assert len(checkouts) == 1, f"checkout span of {order.order_id}: {checkouts}"
        return self.telemetry.traces()[checkouts[0].trace_id]


def _run(opt_in: Optional[str]) -> Iterator[Run]:
    _skip_unless_available()
    with tempfile.TemporaryDirectory(prefix="instrumentarium-multi-service-") as scratch:
        with Stack(Settings(Path(scratch), BIN_DIR, opt_in)) as stack:
            orders = [stack.checkout(item, quantity) for item, quantity in REQUESTS]
            topic = stack.topic
            telemetry = stack.stop()
            logs = {name: stack.log_of(name) for name in (*SPANS_SERVICES, "collector")}
        yield Run(orders, telemetry, dict(stack.exit_codes), logs, topic)


@pytest.fixture(scope="module")
def default_run() -> Iterator[Run]:
    """No opt-in: every instrumentor's default (upstream's old names)."""
    yield from _run(None)


@pytest.fixture(scope="module")
def stable_run() -> Iterator[Run]:
    """``OTEL_SEMCONV_STABILITY_OPT_IN=http,database,rpc,messaging``: the stable names."""
    yield from _run(STABLE)


@pytest.fixture(params=["default", "stable"])
def run(request: pytest.FixtureRequest) -> Run:
    fixture = "default_run" if request.param == "default" else "stable_run"
    result: Run = request.getfixturevalue(fixture)
    return result


def by_kind(spans: Sequence[Span], service: str, kind: str) -> list[Span]:
    return [s for s in spans if s.service == service and s.kind == kind]


def one(spans: Sequence[Span], service: str, kind: str, name: Optional[str] = None) -> Span:
    found = [s for s in by_kind(spans, service, kind) if name is None or s.name == name]
    assert len(found) == 1, f"expected one {kind} span of {service} named {name}: {found}"
    return found[0]


# -- the run itself ----------------------------------------------------------------------------


class TestRun:
    def test_every_checkout_is_answered_and_fulfilled(self, run: Run) -> None:
        """Each checkout went through all four services (201 with the running reserved total),
        and the run only ended once the consumer had fulfilled every order."""
        assert [(o.status, o.answer["item"], o.answer["quantity"]) for o in run.orders] == [
            (201, item, quantity) for item, quantity in REQUESTS
        ]
        assert all(o.answer["reserved_total"] == o.answer["quantity"] for o in run.orders)
        assert len({o.order_id for o in run.orders}) == len(REQUESTS)

    def test_every_process_exits_cleanly_without_instrumentation_errors(self, run: Run) -> None:
        """SIGTERM ends every service with status 0 (so the SDK flushed on exit), and no
        process logged a failed instrumentor or a failed export."""
        assert run.exit_codes == dict.fromkeys((*SPANS_SERVICES, "collector"), 0), run.logs
        for name in SPANS_SERVICES:
            log = run.logs[name]
            assert "Failed to auto initialize" not in log, log
            assert "Instrumenting of" not in log, log
            assert "Failed to export" not in log, log
            assert "Traceback" not in log, log


# -- traces ------------------------------------------------------------------------------------


class TestOneTracePerRequest:
    def test_one_trace_id_per_request_across_every_process(self, run: Run) -> None:
        """Each request's spans share one trace id, and that trace has spans from all six
        processes, the Celery worker's included; the Collector received exactly one trace per
        request, nothing else (no trace of the exporters' own OTLP calls, no orphan started by
        a lost context, no trace of the broker's own Redis commands)."""
        traces = run.telemetry.traces()
        assert len(traces) == len(REQUESTS), {t: len(s) for t, s in traces.items()}
        seen = set()
        for order in run.orders:
            spans = run.trace_of(order)
            assert {s.service for s in spans} == set(SPANS_SERVICES)
            fulfilled = one(spans, "fulfilment", "INTERNAL", "fulfil order")
            assert fulfilled.attributes["demo.order_id"] == order.order_id
            confirmed = one(spans, "notifier", "CONSUMER", "run/notifier.confirm_order")
            assert confirmed.attributes["celery.state"] == "SUCCESS"
            seen.add(spans[0].trace_id)
        assert len(seen) == len(REQUESTS)

    def test_no_span_lost(self, run: Run) -> None:
        """Every trace holds exactly the spans one checkout makes, process by process; every
        parent id names a span of the same trace, and there is exactly one root."""
        for order in run.orders:
            spans = run.trace_of(order)
            assert Counter((s.service, s.kind) for s in spans) == SPANS_PER_REQUEST
            ids = {s.span_id for s in spans}
            assert len(ids) == len(spans), "a span id was reported twice"
            roots = [s for s in spans if not s.parent_id]
            assert [(r.service, r.kind) for r in roots] == [("frontend", "SERVER")]
            orphans = [s for s in spans if s.parent_id and s.parent_id not in ids]
            assert not orphans, orphans
        assert len(run.telemetry.spans) == len(REQUESTS) * sum(SPANS_PER_REQUEST.values())

    def test_parent_chain_is_unbroken_from_front_end_to_consumer(self, run: Run) -> None:
        """Walking up from the consumer's span: fulfilment CONSUMER → inventory PRODUCER →
        inventory gRPC SERVER → orders gRPC CLIENT → orders SERVER → gateway CLIENT →
        gateway (FastAPI) SERVER → frontend CLIENT →
        frontend ``checkout`` → frontend SERVER, the root; the Redis calls of the inventory
        service are children of its gRPC server span, and the worker's ``fulfil order`` span
        (parented from the record's headers) and its Redis call stay in the chain."""
        for order in run.orders:
            spans = run.trace_of(order)
            by_id = {s.span_id: s for s in spans}
            chain = []
            span: Optional[Span] = one(spans, "fulfilment", "CONSUMER")
            while span is not None:
                chain.append((span.service, span.kind))
                span = by_id.get(span.parent_id)
            assert chain == [
                ("fulfilment", "CONSUMER"),
                ("inventory", "PRODUCER"),
                ("inventory", "SERVER"),
                ("orders", "CLIENT"),
                ("orders", "SERVER"),
                ("gateway", "CLIENT"),
                ("gateway", "SERVER"),
                ("frontend", "CLIENT"),
                ("frontend", "INTERNAL"),
                ("frontend", "SERVER"),
            ]
            grpc_server = one(spans, "inventory", "SERVER")
            assert {s.parent_id for s in by_kind(spans, "inventory", "CLIENT")} == {
                grpc_server.span_id
            }
            assert one(spans, "inventory", "PRODUCER").parent_id == grpc_server.span_id
            fulfil = one(spans, "fulfilment", "INTERNAL")
            assert fulfil.parent_id == one(spans, "inventory", "PRODUCER").span_id
            assert one(spans, "fulfilment", "CLIENT").parent_id == fulfil.span_id

    def test_the_celery_workers_run_is_the_child_of_the_orders_services_send(
        self, run: Run
    ) -> None:
        """Walking up from the Celery worker's span: notifier CONSUMER (``run/<task>``) →
        orders PRODUCER (``apply_async/<task>``) → orders SERVER: the context crossed the
        Redis broker in the task message's headers, and both spans name the same message."""
        for order in run.orders:
            spans = run.trace_of(order)
            by_id = {s.span_id: s for s in spans}
            run_span = one(spans, "notifier", "CONSUMER")
            send = by_id[run_span.parent_id]
            assert (send.service, send.kind) == ("orders", "PRODUCER")
            assert by_id[send.parent_id] == one(spans, "orders", "SERVER")
            assert (
                send.attributes["messaging.message.id"]
                == (run_span.attributes["messaging.message.id"])
            )

    def test_each_span_lies_within_its_parent_on_the_same_process(self, run: Run) -> None:
        """A child started in the same process starts no earlier and ends no later than its
        parent (durations are real, spans ended once, after their work)."""
        for order in run.orders:
            spans = run.trace_of(order)
            by_id = {s.span_id: s for s in spans}
            for span in spans:
                parent = by_id.get(span.parent_id)
                if parent is not None and parent.service == span.service:
                    assert parent.start_ns <= span.start_ns <= span.end_ns <= parent.end_ns


def names_of(run: Run) -> Counter[tuple[str, str, str]]:
    spans = run.trace_of(run.orders[0])
    return Counter((s.service, s.kind, s.name) for s in spans)


class TestNames:
    def test_default_span_names_are_upstreams(self, default_run: Run) -> None:
        """With no opt-in each span has upstream's default name."""
        topic = default_run.topic
        assert names_of(default_run) == Counter(
            {
                ("frontend", "SERVER", "GET /checkout"): 1,
                ("frontend", "INTERNAL", "checkout"): 1,
                ("frontend", "CLIENT", "POST"): 1,
                ("gateway", "SERVER", "POST /orders"): 1,
                ("gateway", "CLIENT", "POST"): 1,
                ("orders", "SERVER", "POST orders"): 1,
                ("orders", "CLIENT", "/demo.Inventory/Reserve"): 1,
                ("inventory", "SERVER", "/demo.Inventory/Reserve"): 1,
                ("inventory", "CLIENT", "INCRBY"): 1,
                ("inventory", "CLIENT", "SET"): 1,
                ("inventory", "PRODUCER", f"{topic} send"): 1,
                ("fulfilment", "CONSUMER", f"{topic} receive"): 1,
                ("fulfilment", "INTERNAL", "fulfil order"): 1,
                ("fulfilment", "CLIENT", "SET"): 1,
                ("orders", "PRODUCER", "apply_async/notifier.confirm_order"): 1,
                ("notifier", "CONSUMER", "run/notifier.confirm_order"): 1,
            }
        )

    def test_stable_span_names(self, stable_run: Run) -> None:
        """With ``http,database,rpc,messaging`` opted in, the spans have the stable names."""
        topic = stable_run.topic
        assert names_of(stable_run) == Counter(
            {
                ("frontend", "SERVER", "GET /checkout"): 1,
                ("frontend", "INTERNAL", "checkout"): 1,
                ("frontend", "CLIENT", "POST"): 1,
                ("gateway", "SERVER", "POST /orders"): 1,
                ("gateway", "CLIENT", "POST"): 1,
                ("orders", "SERVER", "POST orders"): 1,
                ("orders", "CLIENT", "demo.Inventory/Reserve"): 1,
                ("inventory", "SERVER", "demo.Inventory/Reserve"): 1,
                ("inventory", "CLIENT", "INCRBY"): 1,
                ("inventory", "CLIENT", "SET"): 1,
                ("inventory", "PRODUCER", f"send {topic}"): 1,
                ("fulfilment", "CONSUMER", f"receive {topic}"): 1,
                ("fulfilment", "INTERNAL", "fulfil order"): 1,
                ("fulfilment", "CLIENT", "SET"): 1,
                ("orders", "PRODUCER", "apply_async/notifier.confirm_order"): 1,
                ("notifier", "CONSUMER", "run/notifier.confirm_order"): 1,
            }
        )


# Per domain: an attribute only the old conventions have, and its stable counterpart.
DOMAIN_KEYS = {
    "http": ("http.method", "http.request.method"),
    "database": ("db.system", "db.system.name"),
    "rpc": ("rpc.system", "rpc.system.name"),
    "messaging": ("messaging.destination", "messaging.destination.name"),
}


def domain_of(span: Span) -> Optional[str]:
    if span.kind == "INTERNAL":
        return None
    if span.scope.endswith((".flask", ".django", ".requests", ".fastapi")):
        return "http"
    return {
        "instrumentarium.redis": "database",
        "instrumentarium.grpc": "rpc",
        "instrumentarium.kafka": "messaging",
        "instrumentarium.celery": "messaging",
    }.get(span.scope)


class TestAttributes:
    def test_default_spans_have_only_the_old_attribute_names(self, default_run: Run) -> None:
        """With no opt-in, HTTP, Redis, gRPC, Kafka and Celery spans carry the old names
        (``http.method``, ``db.system``, ``rpc.system``, ``messaging.destination``) and not
        their stable counterparts."""
        self._check(default_run, stable=False)

    def test_stable_spans_have_only_the_stable_attribute_names(self, stable_run: Run) -> None:
        """Opted in to all four domains, the same spans carry only the stable names
        (``http.request.method``, ``db.system.name``, ``rpc.system.name``,
        ``messaging.destination.name``)."""
        self._check(stable_run, stable=True)

    @staticmethod
    def _check(run: Run, stable: bool) -> None:
        checked: Counter[str] = Counter()
        for span in run.telemetry.spans:
            domain = domain_of(span)
            if domain is None:
                continue
            old, new = DOMAIN_KEYS[domain]
            present, absent = (new, old) if stable else (old, new)
            assert present in span.attributes, (span.name, span.attributes)
            assert absent not in span.attributes, (span.name, span.attributes)
            checked[domain] += 1
        # HTTP: 5 spans per request, Redis 3, gRPC 2, Kafka 2 and Celery 2.
        assert checked == {
            "http": 5 * len(REQUESTS),
            "database": 3 * len(REQUESTS),
            "rpc": 2 * len(REQUESTS),
            "messaging": 4 * len(REQUESTS),
        }


# -- metrics -----------------------------------------------------------------------------------

DEFAULT_METRICS = {
    "frontend": {"http.server.duration", "http.server.active_requests", "http.client.duration"},
    "gateway": {"http.server.duration", "http.server.active_requests", "http.client.duration"},
    "orders": {
        "http.server.duration",
        "http.server.active_requests",
        "rpc.client.duration",
        "messaging.client.sent.messages",
        "messaging.client.operation.duration",
    },
    "inventory": {
        "rpc.server.duration",
        "db.client.operation.duration",
        "messaging.client.operation.duration",
        "messaging.client.sent.messages",
    },
    "fulfilment": {"db.client.operation.duration", "messaging.client.consumed.messages"},
    "notifier": {"messaging.client.consumed.messages", "messaging.process.duration"},
}
STABLE_METRICS = {
    "frontend": {
        "http.server.request.duration",
        "http.server.active_requests",
        "http.client.request.duration",
    },
    "gateway": {
        "http.server.request.duration",
        "http.server.active_requests",
        "http.client.request.duration",
    },
    "orders": {
        "http.server.request.duration",
        "http.server.active_requests",
        "rpc.client.call.duration",
        "messaging.client.sent.messages",
        "messaging.client.operation.duration",
    },
    "inventory": {
        "rpc.server.call.duration",
        "db.client.operation.duration",
        "messaging.client.operation.duration",
        "messaging.client.sent.messages",
    },
    "fulfilment": {"db.client.operation.duration", "messaging.client.consumed.messages"},
    "notifier": {"messaging.client.consumed.messages", "messaging.process.duration"},
}


class TestMetrics:
    @pytest.mark.parametrize("mode", ["default", "stable"])
    def test_each_service_sent_its_metrics(self, mode: str, request: pytest.FixtureRequest) -> None:
        """Every service's final export reached the Collector with the metrics of its
        instrumentors, named for the mode, each with at least one data point."""
        run: Run = request.getfixturevalue(f"{mode}_run")
        expected = DEFAULT_METRICS if mode == "default" else STABLE_METRICS
        sent: dict[str, set[str]] = {}
        for metric in run.telemetry.latest_metrics():
            assert metric.points, metric
            sent.setdefault(metric.service, set()).add(metric.name)
        for service, names in expected.items():
            assert names <= sent.get(service, set()), (service, sent.get(service))

    def test_request_counts_match_the_requests_sent(self, default_run: Run) -> None:
        """The front end's server histogram counted every checkout, the producer every order
        sent and the consumer every order received, the orders service every task it sent and
        the Celery worker every task it ran: the numbers agree with the traffic."""

        def total(service: str, name: str) -> int:
            metrics = [
                m
                for m in default_run.telemetry.latest_metrics()
                if m.service == service and m.name == name
            ]
            assert len(metrics) == 1, (service, name, metrics)
            return sum(int(p.get("count", p.get("asInt", 0))) for p in metrics[0].points)

        assert total("frontend", "http.server.duration") == len(REQUESTS)
        assert total("gateway", "http.server.duration") == len(REQUESTS)
        assert total("inventory", "messaging.client.sent.messages") == len(REQUESTS)
        assert total("fulfilment", "messaging.client.consumed.messages") == len(REQUESTS)
        assert total("orders", "messaging.client.sent.messages") == len(REQUESTS)
        assert total("notifier", "messaging.client.consumed.messages") == len(REQUESTS)


# -- the printer -------------------------------------------------------------------------------


class TestPrinter:
    def test_trace_tree_indents_each_hop_under_its_caller(self, default_run: Run) -> None:
        """``render_trace`` prints one line per span, the root first and unindented, each
        child one level deeper than its parent, with service, name, kind and duration."""
        spans = default_run.trace_of(default_run.orders[0])
        lines = render_trace(spans).splitlines()
        assert lines[0].startswith(f"trace {spans[0].trace_id}  (6 services, 16 spans)")
        rows = lines[1:]
        assert len(rows) == 16
        assert rows[0].split()[:4] == ["frontend", "GET", "/checkout", "SERVER"]
        depth = {row.split()[0]: len(row) - len(row.lstrip()) for row in rows}
        assert depth["frontend"] < depth["gateway"] < depth["orders"] < depth["inventory"]
        assert depth["inventory"] < depth["fulfilment"]
        assert depth["orders"] < depth["notifier"]
        assert all(row.rstrip().endswith(" ms") for row in rows)

    def test_metrics_listing_groups_by_service(self, default_run: Run) -> None:
        """``render_metrics`` lists each service once, then its metrics with their points."""
        text = render_metrics(default_run.telemetry)
        services = [line for line in text.splitlines() if line and not line.startswith(" ")]
        assert services == sorted(SPANS_SERVICES)
        assert "  http.server.duration  [ms]  histogram  scope=instrumentarium.flask" in text


# One span whose parent is not in the file, with one attribute of each kind.
SPAN_DOCUMENT: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "demo"},
                    "spans": [
                        {
                            "traceId": "ab" * 16,
                            "spanId": "01" * 8,
                            "parentSpanId": "02" * 8,  # not in the file
                            "name": "orphan",
                            "kind": 3,
                            "startTimeUnixNano": "1000000",
                            "endTimeUnixNano": "3500000",
                            "attributes": [
                                {"key": "n", "value": {"intValue": "7"}},
                                {"key": "f", "value": {"doubleValue": 0.5}},
                                {"key": "b", "value": {"boolValue": True}},
                                {
                                    "key": "a",
                                    "value": {
                                        "arrayValue": {
                                            "values": [{"stringValue": "x"}, {"intValue": "1"}]
                                        }
                                    },
                                },
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}


class TestOtlpJsonReader:
    """The reader on hand-written OTLP JSON: no Collector needed."""

    def test_spans_are_read_with_their_service_and_decoded_attributes(self, tmp_path: Path) -> None:
        """Int64 values (strings in OTLP JSON) become ints, arrays lists; the span carries its
        resource's ``service.name``, its kind's name and its duration in ms."""
        (tmp_path / "traces.jsonl").write_text(json.dumps(SPAN_DOCUMENT) + "\n")
        [span] = Telemetry.load(tmp_path).spans
        assert (span.service, span.scope, span.kind, span.name) == (
            "svc",
            "demo",
            "CLIENT",
            "orphan",
        )
        assert span.attributes == {"n": 7, "f": 0.5, "b": True, "a": ["x", 1]}
        assert span.duration_ms == 2.5

    def test_a_line_still_being_written_is_left_for_later(self, tmp_path: Path) -> None:
        """A last line without its newline (the exporter mid-write) is not parsed yet."""
        text = json.dumps(SPAN_DOCUMENT) + "\n" + json.dumps(SPAN_DOCUMENT)[:40]
        (tmp_path / "traces.jsonl").write_text(text)
        assert len(Telemetry.load(tmp_path).spans) == 1

    def test_a_span_whose_parent_was_not_received_is_marked(self, tmp_path: Path) -> None:
        """The tree shows a span with a missing parent as a root, saying so: a lost span is
        visible in the demo's output."""
        (tmp_path / "traces.jsonl").write_text(json.dumps(SPAN_DOCUMENT) + "\n")
        spans = Telemetry.load(tmp_path).spans
        text = render_trace(spans)
        assert text.splitlines()[1].endswith("2.50 ms  (parent not received)")
