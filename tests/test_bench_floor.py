"""The benchmark floor's pure pieces: the captured recipe, the generated replay, the
decomposition maths (``benchmarks/harness/floor.py`` and ``decomposition.py``). No timing is
asserted: only what is called, in which order, and how numbers are combined."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))

from harness import decomposition  # noqa: E402
from harness.floor import (  # noqa: E402
    Instrument,
    Op,
    Recipe,
    SpanStart,
    capture_isolated,
    compile_replay,
    decompose,
    describe,
    empty_intervals,
    replay,
    step_counts,
)
from workloads import Providers, Workload  # noqa: E402

SCOPE = ("bench.test", "1.0", None)
ATTRIBUTES = {"db.system": "redis", "db.statement": "GET ?"}
POINT = {"db.system": "redis"}


def _client_recipe() -> Recipe:
    """What a client instrumentor that never injects hands the SDK: start, attach, record,
    end, detach."""
    return Recipe(
        spans=(SpanStart("GET", SpanKind.CLIENT, SCOPE, ATTRIBUTES),),
        instruments=(
            Instrument("db.client.operation.duration", "histogram", "s", "", None, SCOPE),
        ),
        ops=(
            Op("start_span", span=0),
            Op("attach", target=("span", 0)),
            Op("measure", ref=0, args=(0.0002, POINT)),
            Op("end", span=0),
            Op("detach", ref=1),
        ),
    )


def _server_recipe() -> Recipe:
    return Recipe(
        spans=(
            SpanStart("GET /x", SpanKind.SERVER, SCOPE, {"http.method": "GET"}, ("extracted", 0)),
        ),
        instruments=(
            Instrument("http.server.duration", "histogram", "ms", "", (1.0, 5.0), SCOPE),
            Instrument(
                "http.server.active_requests",
                "observable_up_down_counter",
                scope=SCOPE,
                points=({"http.method": "GET"},),
            ),
            Instrument("unobserved", "observable_counter", scope=SCOPE),
        ),
        ops=(
            Op("extract", ref=0),
            Op("start_span", span=0),
            Op("attach", target=("span", 0)),
            Op("set_attribute", span=0, args=("http.status_code", 200)),
            Op("set_attribute", span=0, args=("http.route", "/x")),
            Op("detach", ref=2),
            Op("end", span=0),
            Op("measure", target=("span", 0), ref=0, args=(0.4, {"http.method": "GET"})),
        ),
    )


class _Sdk:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.providers = Providers(tracer_provider, MeterProvider(metric_readers=[self.reader]))

    def points(self) -> dict[str, list[dict[str, Any]]]:
        data = self.reader.get_metrics_data()
        found: dict[str, list[dict[str, Any]]] = {}
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                if scope_metrics.scope.name == "opentelemetry-sdk":
                    continue  # the SDK's own metrics, which some releases emit
                for metric in scope_metrics.metrics:
                    found[metric.name] = [dict(p.attributes or {}) for p in metric.data.data_points]
        return found


class TestGeneratedReplay:
    def test_client_replay_makes_no_inject_when_none_was_captured(self) -> None:
        """A captured client call without inject replays without inject (the Redis case)."""
        source = compile_replay(_client_recipe(), {})
        assert "inject" not in source
        assert source.splitlines()[1:] == [
            "    s0 = tracer0.start_span(name1, None, kind=kind2, attributes=attrs3)",
            "    c0 = set_span_in_context(s0, None)",
            "    k1 = attach(c0)",
            "    m0.record(v4, a5)",
            "    s0.end()",
            "    detach(k1)",
        ]

    def test_server_replay_extracts_and_passes_the_captured_context_to_record(self) -> None:
        """The span starts from the extracted parent, the record gets the span's context."""
        source = compile_replay(_server_recipe(), {"HTTP_TRACEPARENT": "x"})
        lines = [line.strip() for line in source.splitlines()[1:]]
        assert lines[0] == "p0 = extract(carrier, getter=getter)"
        assert lines[1].startswith("s0 = tracer")
        assert ", p0, kind=" in lines[1]
        assert lines[-1].startswith("m0.record(")
        assert lines[-1].endswith("context=c0)")

    def test_replay_emits_the_captured_span_and_metric(self) -> None:
        """Run against a real SDK, the replay exports one span with the captured name, kind and
        attributes, and one histogram point with the captured attributes."""
        sdk = _Sdk()
        call = replay(_client_recipe(), sdk.providers, {})
        before = context.get_current()
        call()
        assert context.get_current() is before  # attach and detach paired
        (span,) = sdk.exporter.get_finished_spans()
        assert (span.name, span.kind, dict(span.attributes or {})) == (
            "GET",
            SpanKind.CLIENT,
            ATTRIBUTES,
        )
        assert sdk.points() == {"db.client.operation.duration": [POINT]}

    def test_server_replay_sets_later_attributes_and_reports_observable_points(self) -> None:
        sdk = _Sdk()
        replay(_server_recipe(), sdk.providers, {"HTTP_HOST": "h"})()
        (span,) = sdk.exporter.get_finished_spans()
        assert span.attributes is not None
        assert span.attributes["http.status_code"] == 200
        # an observable whose callback reported nothing in the capture reports nothing here
        assert sdk.points()["http.server.active_requests"] == [{"http.method": "GET"}]
        assert set(sdk.points()) == {"http.server.duration", "http.server.active_requests"}

    def test_timed_replay_has_one_interval_per_call_in_its_step_slot(self) -> None:
        """Each timed call adds to its step's slot; set_span_in_context counts with the step
        that first needs the context (here attach/detach)."""
        recipe = _client_recipe()
        source = compile_replay(recipe, {}, timed=True)
        steps = list(step_counts(recipe))
        assert steps == [
            "start_span",
            "attach/detach",
            "db.client.operation.duration.record",
            "end",
        ]
        slots = [
            int(line.split("[")[1].split("]")[0]) for line in source.splitlines() if "_acc[" in line
        ]
        assert slots == [0, 1, 1, 2, 3, 1]

    def test_empty_intervals_fill_the_same_slots(self) -> None:
        """The timer-cost function touches exactly the given slots, once per interval."""
        acc = [0, 0, 0]
        call = empty_intervals([0, 2, 2])
        call(acc)
        assert acc[1] == 0
        assert acc[0] >= 0
        assert acc[2] >= 0

    def test_describe_lists_the_calls_in_order_and_the_observable_instrument(self) -> None:
        text = describe(_server_recipe())
        assert text.startswith(
            "extract, start_span(SERVER, 1 attributes), attach, set_attribute x2"
        )
        assert text.endswith(
            "http.server.active_requests (observable: nothing per call), "
            "unobserved (observable: nothing per call)"
        )


def _workload(setup: Any, **options: Any) -> Workload:
    """A workload whose every variant is ``setup`` (the capture runs only ours)."""
    return Workload(
        name="t",
        description="",
        bare=setup,
        instrumentarium=setup,
        upstream=setup,
        carrier=dict,
        expect=b"ok",
        packages=(),
        upstream_packages=(),
        **options,
    )


def _instrumented(providers: Providers) -> Any:
    """A tiny 'instrumentor': a client span made current, two attributes, a histogram record."""
    tracer = providers.tracer_provider.get_tracer("bench.test")
    histogram = providers.meter_provider.get_meter("bench.test").create_histogram("d", unit="s")

    def call() -> bytes:
        with tracer.start_as_current_span("op", kind=SpanKind.CLIENT, attributes={"a": 1}) as span:
            span.set_attribute("b", 2)
            span.set_attributes({"c": 3, "d": 4})
            histogram.record(0.1, {"a": 1})
        return b"ok"

    return call


class TestCapture:
    def test_capture_records_the_calls_made_not_the_ones_assumed(self) -> None:
        """start_as_current_span counts as one start plus attach/detach; set_attribute is not
        counted twice (the SDK's set_attribute calls set_attributes); nothing is injected."""
        propagate.set_global_textmap(propagate.get_global_textmap())
        workload = _workload(_instrumented)
        recipe = capture_isolated(workload)
        assert [op.call for op in recipe.ops] == [
            "start_span",
            "attach",
            "set_attribute",
            "set_attributes",
            "measure",
            "detach",  # use_span detaches before it ends the span
            "end",
        ]
        assert recipe.spans[0].attributes == {"a": 1}
        assert recipe.ops[1].target == ("span", 0)
        assert recipe.ops[5].ref == 1  # the detach pairs with the attach
        assert trace.get_current_span() is trace.INVALID_SPAN  # this process stayed clean

    def test_a_sampled_out_call_starts_a_span_that_records_no_end(self) -> None:
        """A request whose caller sampled the trace out: the span is started (the sampler
        drops it), never recorded as ended, and the metric is still measured."""
        propagate.set_global_textmap(propagate.get_global_textmap())
        workload = _workload(_instrumented_unsampled, sampled=False)
        assert workload.emitted_per_call("instrumentarium") == 0
        recipe = capture_isolated(workload)
        assert [op.call for op in recipe.ops] == ["extract", "start_span", "measure"]
        assert recipe.spans[0].parent == ("extracted", 0)


class TestDecompositionMaths:
    def test_decompose_subtracts_the_timer_and_divides_by_calls(self) -> None:
        assert decompose(["a", "b"], [5000, 1000], [1000, 3000], 2) == {"a": 2.0, "b": 0.0}

    def test_decompose_refuses_zero_calls(self) -> None:
        with pytest.raises(ValueError, match="no calls"):
            decompose(["a"], [1], [0], 0)

    def test_summary_takes_medians_and_shares_in_count_order(self) -> None:
        summary = decomposition.summarize(
            {"start_span": 1, "end": 1},
            tight=[
                {"start_span": 3.0, "end": 1.0},
                {"start_span": 5.0, "end": 1.0},
                {"start_span": 4.0, "end": 2.0},
            ],
            in_app=[{"start_span": 6.0, "end": 2.0}],
            floor_us=6.0,
            floor_in_app_us=9.0,
        )
        rows = summary["rows"]
        assert [row["call"] for row in rows] == ["start_span", "end"]
        assert rows[0]["tight_us"] == 4.0
        assert rows[1]["tight_us"] == 1.0
        assert rows[0]["share"] == pytest.approx(0.8)
        assert rows[0]["share_in_app"] == pytest.approx(0.75)
        assert summary["sum_tight_us"] == 5.0
        assert summary["sum_in_app_us"] == 8.0

    def test_summary_without_batches_has_no_shares(self) -> None:
        summary = decomposition.summarize({"end": 1}, tight=[], in_app=[])
        assert summary["rows"][0]["tight_us"] is None
        assert summary["rows"][0]["share"] is None
        table = decomposition.markdown_table(summary)
        assert "| end | 1 | n/a | n/a | n/a / n/a |" in table


_UNSAMPLED = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}


def _instrumented_unsampled(providers: Providers) -> Any:
    """A server 'instrumentor' whose caller sampled the trace out: extract, a span the default
    sampler drops, ended anyway, and a histogram record."""
    tracer = providers.tracer_provider.get_tracer("bench.test")
    histogram = providers.meter_provider.get_meter("bench.test").create_histogram("d", unit="s")

    def call() -> bytes:
        parent = propagate.extract(_UNSAMPLED)
        span = tracer.start_span("op", parent, kind=SpanKind.SERVER)
        assert not span.is_recording()
        span.end()
        histogram.record(0.1, {"a": 1})
        return b"ok"

    return call
