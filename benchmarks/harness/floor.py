"""The floor: what the OpenTelemetry SDK alone costs for the telemetry of one call.

``capture`` runs one ``instrumentarium`` call of a workload against a recording SDK and keeps what
it emitted: the span's name, kind and scope, the attributes it was started with, the attributes
set after the start, its status, and every metric data point. ``replay`` turns that into a loop
body that makes only the SDK/API calls an instrumented request needs, with the same values::

    parent = extract(carrier)                        # server kinds; client kinds inject instead
    span = tracer.start_span(name, parent, kind, attributes=<captured>, start_time=...)
    token = attach(set_span_in_context(span, parent))
    up_down_counter.add(+1, <captured>)
    span.set_attribute(...)                          # e.g. the status code
    detach(token); span.end()
    histogram.record(duration, <captured>, context=ctx)
    up_down_counter.add(-1, <captured>)

Each metric is replayed with the kind of instrument the instrumentor created (the capture
records it): a synchronous instrument costs a measurement per call, an observable one only a
callback when the SDK collects, so it costs nothing per call here either. Attribute dicts are
built once: building them is the instrumentor's work, not the SDK's. Because the recipe is
captured from our own output on every run, the floor follows what we emit.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.propagate import extract, inject
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from workloads import Call, Providers, Workload

__all__ = ["EnvironGetter", "MetricRecipe", "Recipe", "capture", "describe", "replay"]

Attributes = dict[str, AttributeValue]


@dataclass(frozen=True)
class MetricRecipe:
    """One instrument and the attribute sets of its data points after one call."""

    name: str
    unit: str
    description: str
    kind: str  # the meter's create_* method without "create_": "histogram", "counter", ...
    points: tuple[Attributes, ...]
    boundaries: Optional[tuple[float, ...]] = None


@dataclass(frozen=True)
class Recipe:
    """Everything one instrumented call handed to the SDK."""

    name: str
    kind: SpanKind
    scope: tuple[str, Optional[str], Optional[str]]  # name, version, schema URL
    start_attributes: Attributes
    later_attributes: tuple[tuple[str, AttributeValue], ...]
    status: Optional[Status]
    metrics: tuple[MetricRecipe, ...]
    # Further spans of the same call (a client and a server in one process), replayed before
    # this one in the order they ended; their metrics are in ``metrics`` above.
    extra: tuple[Recipe, ...] = ()


class _StartRecorder(SpanProcessor):
    """Keeps each span's attributes as they were at start, and the ended spans."""

    def __init__(self) -> None:
        self.started: list[Attributes] = []
        self.started_by_id: dict[int, Attributes] = {}
        self.ended: list[ReadableSpan] = []

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        attributes = dict(span.attributes or {})
        self.started.append(attributes)
        self.started_by_id[span.get_span_context().span_id] = attributes

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


class _RecordingMeter:
    """A meter that notes the kind of every instrument created through it."""

    def __init__(self, meter: Meter, kinds: dict[str, str]) -> None:
        self._meter = meter
        self._kinds = kinds

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._meter, attribute)
        if not attribute.startswith("create_"):
            return value
        kinds = self._kinds

        def create(name: str, *args: Any, **kwargs: Any) -> Any:
            kinds[name] = attribute[len("create_") :]
            return value(name, *args, **kwargs)

        return create


class _RecordingMeterProvider(MeterProvider):
    def __init__(self, reader: InMemoryMetricReader) -> None:
        super().__init__(metric_readers=[reader])
        self.kinds: dict[str, str] = {}

    def get_meter(self, *args: Any, **kwargs: Any) -> Any:
        return _RecordingMeter(super().get_meter(*args, **kwargs), self.kinds)


def capture_isolated(workload: Workload) -> Recipe:
    """``capture`` in a forked child, so this process stays uninstrumented.

    Instrumentors that patch globally (Django's middleware, requests, urllib3, redis) would
    otherwise stay active, and the ``bare`` half of ``bare+floor`` would not be bare.
    """
    if not hasattr(os, "fork"):  # pragma: no cover - not on this project's platforms
        return capture(workload)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: capture, send the recipe, leave without running exit handlers
        os.close(read_end)
        status = 0
        try:
            payload = pickle.dumps(capture(workload))
        except BaseException as exc:
            payload = pickle.dumps(RuntimeError(f"capture failed: {exc!r}"))
            status = 1
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        result = pickle.loads(pipe.read())
    os.waitpid(pid, 0)
    if isinstance(result, BaseException):
        raise result
    return result  # type: ignore[no-any-return]


def capture(workload: Workload) -> Recipe:
    """Run one ``instrumentarium`` call of ``workload`` and record what reached the SDK."""
    recorder = _StartRecorder()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(recorder)
    reader = InMemoryMetricReader()
    meter_provider = _RecordingMeterProvider(reader)
    workload.instrumentarium(Providers(tracer_provider, meter_provider))()
    expected = workload.spans_per_call
    if len(recorder.ended) != expected or len(recorder.started) != expected:
        raise RuntimeError(
            f"the floor needs {expected} span(s) per call; {workload.name} started "
            f"{len(recorder.started)} and ended {len(recorder.ended)}"
        )
    *others, last = recorder.ended
    extra = tuple(
        _span_recipe(span, recorder.started_by_id[span.context.span_id], ()) for span in others
    )
    started = recorder.started_by_id[last.context.span_id]
    return _span_recipe(last, started, _metric_recipes(reader, meter_provider.kinds), extra)


def _span_recipe(
    span: ReadableSpan,
    started: Attributes,
    metrics: tuple[MetricRecipe, ...],
    extra: tuple[Recipe, ...] = (),
) -> Recipe:
    later = tuple(
        (key, value)
        for key, value in (span.attributes or {}).items()
        if key not in started or started[key] != value
    )
    scope = span.instrumentation_scope
    return Recipe(
        name=span.name,
        kind=span.kind,
        scope=(scope.name, scope.version, scope.schema_url) if scope else ("floor", None, None),
        start_attributes=started,
        later_attributes=later,
        status=span.status if span.status.status_code is StatusCode.ERROR else None,
        metrics=metrics,
        extra=extra,
    )


def _metric_recipes(
    reader: InMemoryMetricReader, kinds: dict[str, str]
) -> tuple[MetricRecipe, ...]:
    data = reader.get_metrics_data()
    recipes: list[MetricRecipe] = []
    if data is None:
        return ()
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = tuple(dict(p.attributes or {}) for p in metric.data.data_points)
                boundaries = None
                if isinstance(metric.data, Histogram):
                    boundaries = tuple(metric.data.data_points[0].explicit_bounds)
                    kind = "histogram"
                elif isinstance(metric.data, Sum):
                    kind = "counter" if metric.data.is_monotonic else "up_down_counter"
                else:
                    raise RuntimeError(f"the floor cannot replay {metric.name}: {metric.data!r}")
                # What the instrumentor created, when its meter came from our provider.
                kind = kinds.get(metric.name, kind)
                if kind not in _REPLAYABLE:
                    raise RuntimeError(f"the floor cannot replay a {kind} ({metric.name})")
                recipes.append(
                    MetricRecipe(
                        metric.name,
                        metric.unit or "",
                        metric.description or "",
                        kind,
                        points,
                        boundaries,
                    )
                )
    return tuple(recipes)


class EnvironGetter(Getter[Mapping[str, Any]]):
    """Reads ``traceparent`` and friends from a WSGI environ (``HTTP_TRACEPARENT``)."""

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}

    def get(self, carrier: Mapping[str, Any], key: str) -> Optional[list[str]]:
        environ_key = self._keys.get(key)
        if environ_key is None:
            environ_key = self._keys[key] = "HTTP_" + key.upper().replace("-", "_")
        value = carrier.get(environ_key)
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


_SECONDS_PER_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_OBSERVABLE = ("observable_counter", "observable_up_down_counter", "observable_gauge")
_REPLAYABLE = ("histogram", "counter", "up_down_counter", *_OBSERVABLE)


def _observations(points: tuple[Attributes, ...]) -> Callable[[CallbackOptions], list[Observation]]:
    def observe(options: CallbackOptions) -> list[Observation]:
        return [Observation(0, attrs) for attrs in points]

    return observe


def describe(recipe: Recipe) -> str:
    """One line: the SDK calls the floor makes per call."""
    if recipe.extra:
        return "; then ".join(
            [
                *(describe(extra) for extra in recipe.extra),
                describe(Recipe(**{**recipe.__dict__, "extra": ()})),
            ]
        )
    extracts = recipe.kind in (SpanKind.SERVER, SpanKind.CONSUMER)
    parts = [
        "extract" if extracts else "inject",
        f"start_span({recipe.kind.name}, {len(recipe.start_attributes)} attributes)",
        "attach/detach",
    ]
    if recipe.later_attributes:
        parts.append(f"set_attribute x{len(recipe.later_attributes)}")
    parts.append("end")
    for metric in recipe.metrics:
        calls = {"histogram": "record", "counter": "add", "up_down_counter": "add +1/-1"}
        if metric.kind in calls:
            parts.append(f"{metric.name}.{calls[metric.kind]}")
        else:
            parts.append(f"{metric.name} ({metric.kind}: nothing per call)")
    return ", ".join(parts)


def replay(recipe: Recipe, providers: Providers, carrier: dict[str, Any]) -> Call:
    """A call that makes the SDK/API calls of ``recipe`` against ``providers``."""
    if recipe.extra:
        calls = [replay(extra, providers, carrier) for extra in recipe.extra]
        calls.append(replay(Recipe(**{**recipe.__dict__, "extra": ()}), providers, carrier))

        def several() -> None:
            for call in calls:
                call()

        return several
    name, version, schema_url = recipe.scope
    tracer = providers.tracer_provider.get_tracer(name, version, schema_url=schema_url)
    meter = providers.meter_provider.get_meter(name, version, schema_url=schema_url)
    histograms: list[tuple[Any, Attributes, float]] = []
    counters: list[tuple[Any, Attributes]] = []
    up_down_counters: list[tuple[Any, Attributes]] = []
    for metric in recipe.metrics:
        if metric.kind == "histogram":
            instrument: Any = meter.create_histogram(
                metric.name,
                unit=metric.unit,
                description=metric.description,
                explicit_bucket_boundaries_advisory=list(metric.boundaries or ()),
            )
            # ns per unit: a duration in ms is recorded as elapsed_ns / 1e6.
            divisor = _SECONDS_PER_UNIT.get(metric.unit, 1.0) * 1e9
            histograms.extend((instrument, attrs, divisor) for attrs in metric.points)
        elif metric.kind == "counter":
            instrument = meter.create_counter(metric.name, metric.unit, metric.description)
            counters.extend((instrument, attrs) for attrs in metric.points)
        elif metric.kind == "up_down_counter":
            instrument = meter.create_up_down_counter(metric.name, metric.unit, metric.description)
            up_down_counters.extend((instrument, attrs) for attrs in metric.points)
        else:  # observable: reported by a callback at collection, nothing per call
            create = getattr(meter, f"create_{metric.kind}")
            create(
                metric.name,
                callbacks=[_observations(metric.points)],
                unit=metric.unit,
                description=metric.description,
            )

    span_name = recipe.name
    kind = recipe.kind
    start_attributes = recipe.start_attributes
    later_attributes = recipe.later_attributes
    status = recipe.status
    extracts = kind in (SpanKind.SERVER, SpanKind.CONSUMER)
    injects = kind in (SpanKind.CLIENT, SpanKind.PRODUCER)
    getter = EnvironGetter()
    start_span = tracer.start_span
    set_span_in_context = trace.set_span_in_context
    attach = otel_context.attach
    detach = otel_context.detach
    time_ns = time.time_ns

    def call() -> None:
        start = time_ns()
        parent = extract(carrier, getter=getter) if extracts else None
        span = start_span(
            span_name, parent, kind=kind, attributes=start_attributes, start_time=start
        )
        ctx = set_span_in_context(span, parent)
        token = attach(ctx)
        for counter, attrs in up_down_counters:
            counter.add(1, attrs)
        if injects:
            inject({}, ctx)
        for key, value in later_attributes:
            span.set_attribute(key, value)
        if status is not None:
            span.set_status(status)
        detach(token)
        end = time_ns()
        span.end(end)
        for histogram, attrs, divisor in histograms:
            histogram.record((end - start) / divisor, attrs, context=ctx)
        for counter, attrs in counters:
            counter.add(1, attrs)
        for counter, attrs in up_down_counters:
            counter.add(-1, attrs)

    return call
