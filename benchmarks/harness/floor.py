"""The floor: what the OpenTelemetry SDK alone costs for the telemetry of one call.

``capture`` runs a workload's ``instrumentarium`` call against a recording SDK, twice (the first
call warms caches and creates lazy instruments), and records every SDK/API call the second one
made, in order, with its arguments: the span starts (name, kind, scope, attributes, parent),
``context.attach``/``detach``, ``set_attribute(s)``, ``set_status``, ``update_name``, ``end``,
each instrument's ``record``/``add`` (with the ``context`` it was given) and the propagator's
``inject``/``extract``. Nothing is assumed: a Redis call that never injects replays no inject.

``compile_replay`` turns that recipe into straight-line Python source (no interpreter loop over
a list of steps, so the floor carries no dispatch cost of its own), for example::

    p0 = extract(carrier, getter=getter)
    s0 = start_span(name0, p0, kind=kind0, attributes=attrs0, start_time=time_ns())
    c0 = set_span_in_context(s0, p0)
    t0 = attach(c0)
    s0.set_attribute(key0, value0)
    detach(t0)
    s0.end()
    m0.record(v0, a0, context=c0)

Metric values are the ones captured (a duration lands in the same bucket); attribute dicts are
built once, since building them is the instrumentor's work, not the SDK's. Each thread's calls
(a gRPC server handler runs in its own) are replayed as one block, the blocks in the order of
their last call. An observable instrument costs nothing per call (the SDK calls it back at
collection).

With ``timed=True`` the same source also times each call with ``perf_counter_ns`` into one slot
per *step* (``Step``: "start_span", "attach/detach", "http.server.duration.record", ...): the
decomposition of the floor. ``decompose`` subtracts the cost of an empty timed interval.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.propagate import extract, inject
from opentelemetry.propagators.textmap import Getter, TextMapPropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import Span, Tracer, TracerProvider
from opentelemetry.trace import SpanKind, Status
from opentelemetry.util.types import AttributeValue
from workloads import Call, Providers, Workload

__all__ = [
    "EnvironGetter",
    "Instrument",
    "Op",
    "Recipe",
    "SpanStart",
    "capture",
    "capture_isolated",
    "compile_replay",
    "decompose",
    "empty_intervals",
    "describe",
    "replay",
    "step_counts",
    "timed_replay",
]

Attributes = dict[str, AttributeValue]

# The instrument kinds a recipe can hold; observable ones cost nothing per call.
_SYNC = ("histogram", "counter", "up_down_counter", "gauge")
_OBSERVABLE = ("observable_counter", "observable_up_down_counter", "observable_gauge")
_METHOD = {"histogram": "record", "counter": "add", "up_down_counter": "add", "gauge": "set"}


@dataclass(frozen=True)
class SpanStart:
    """One ``start_span`` call: what the span was started with, and from which parent.

    ``parent`` is ``("extracted", i)`` (the context the i-th extract returned), ``("span", j)``
    (a context holding span j), or ``("current",)`` (no context given: the current one).
    """

    name: str
    kind: SpanKind
    scope: tuple[str, Optional[str], Optional[str]]  # name, version, schema URL
    attributes: Attributes
    parent: tuple[Any, ...] = ("current",)
    start_time: bool = False  # the instrumentor passed its own start time


@dataclass(frozen=True)
class Instrument:
    """One instrument the instrumentor created (its meter's ``create_<kind>``)."""

    name: str
    kind: str
    unit: str = ""
    description: str = ""
    boundaries: Optional[tuple[float, ...]] = None
    scope: tuple[str, Optional[str], Optional[str]] = ("floor", None, None)
    points: tuple[Attributes, ...] = ()  # observable: the attribute sets its callback reports


@dataclass(frozen=True)
class Op:
    """One SDK/API call, in the order made.

    ``call`` is one of: extract, inject, start_span, attach, detach, set_attribute,
    set_attributes, set_status, update_name, add_event, end, measure. ``span`` is the index of the
    span it concerns (start_span: the span it started); ``target`` the context it was given:
    ``("span", j)``, ``("extracted", i)``, ``("current",)`` or ``("other",)``; ``ref`` the op
    it pairs with (detach: its attach) or the instrument index (measure); ``args`` the values.
    """

    call: str
    span: int = -1
    target: tuple[Any, ...] = ("current",)
    ref: int = -1
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Recipe:
    """Everything one instrumented call handed to the SDK, in order."""

    spans: tuple[SpanStart, ...]
    instruments: tuple[Instrument, ...]
    ops: tuple[Op, ...]


# --- capture ------------------------------------------------------------------------------------


class _Recorder:
    """Notes every SDK/API call made while ``active``, from any thread."""

    def __init__(self) -> None:
        self.active = False
        self.events: list[tuple[int, Op]] = []  # (thread id, op)
        self.spans: list[SpanStart] = []
        # id(span object) -> index, and the objects: by identity, not span id (a gRPC server's
        # remote parent carries the client span's id, but it is not the client span)
        self.span_ids: dict[int, int] = {}
        self.span_objects: list[object] = []
        self.ended: set[int] = set()
        self.instruments: list[Instrument] = []
        # Keyed by id(): the objects are kept too, so that no id is reused while capturing.
        self.extracted: dict[int, tuple[int, Context]] = {}  # id -> extract number, context
        self.tokens: dict[int, tuple[int, object]] = {}  # id -> index of its attach, token
        self._local = threading.local()
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget the calls of an earlier capture attempt (the instruments stay)."""
        self.events.clear()
        self.spans.clear()
        self.span_ids.clear()
        self.span_objects.clear()
        self.ended.clear()
        self.extracted.clear()
        self.tokens.clear()

    def events_only(self) -> list[Op]:
        return [op for _, op in self.events]

    def outermost(self) -> bool:
        """True for a call made by the instrumentor, not by the SDK inside another noted call
        (``set_attribute`` calls ``set_attributes``, ``start_as_current_span`` calls
        ``start_span``...)."""
        return self.active and not getattr(self._local, "depth", 0)

    def enter(self) -> None:
        self._local.depth = getattr(self._local, "depth", 0) + 1

    def leave(self) -> None:
        self._local.depth -= 1

    def add(self, op: Op) -> int:
        with self._lock:
            self.events.append((threading.get_ident(), op))
            return len(self.events) - 1

    def span_index(self, span: object) -> int:
        return self.span_ids.get(id(span), -1)

    def target(self, ctx: Optional[Context]) -> tuple[Any, ...]:
        """What a context argument was, in replayable terms."""
        if ctx is None:
            return ("current",)
        index = self.span_index(trace.get_current_span(ctx))
        if index >= 0:
            return ("span", index)
        if id(ctx) in self.extracted:
            return ("extracted", self.extracted[id(ctx)][0])
        return ("other",)


def _noting(recorder: _Recorder, method: Callable[..., Any], note: Callable[..., Any]) -> Any:
    """``method`` wrapped so that an outermost call is noted by ``note(result, *args)``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not recorder.outermost():
            return method(*args, **kwargs)
        recorder.enter()
        try:
            result = method(*args, **kwargs)
            note(result, *args, **kwargs)
        finally:
            recorder.leave()
        return result

    return wrapper


def _scope(span: Any) -> tuple[str, Optional[str], Optional[str]]:
    scope = getattr(span, "instrumentation_scope", None)
    return (scope.name, scope.version, scope.schema_url) if scope else ("floor", None, None)


def _patch_tracing(recorder: _Recorder) -> None:
    """Note span calls on the SDK's classes (this runs in a forked child, never in a worker)."""

    def started(
        span: Any,
        tracer: Any,
        name: str,
        context: Optional[Context] = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Optional[Mapping[str, Any]] = None,
        links: Any = None,
        start_time: Optional[int] = None,
        *_: Any,
        **__: Any,
    ) -> None:
        index = len(recorder.spans)
        parent = recorder.target(context) if context is not None else ("current",)
        recorder.spans.append(
            SpanStart(
                name, kind, _scope(span), dict(attributes or {}), parent, start_time is not None
            )
        )
        recorder.span_ids[id(span)] = index
        recorder.span_objects.append(span)
        recorder.add(Op("start_span", span=index))

    Tracer.start_span = _noting(recorder, Tracer.start_span, started)  # type: ignore[method-assign]

    def span_call(call: str) -> Callable[..., None]:
        def note(result: Any, span: Any, *args: Any, **kwargs: Any) -> None:
            index = recorder.span_index(span)
            if index < 0:
                return
            if call == "end":
                recorder.ended.add(index)
                args = ()
            elif call == "set_attributes":
                args = (dict(args[0] if args else kwargs.get("attributes", {})),)
            elif call == "set_status" and not isinstance(args[0], Status):
                args = (Status(args[0], *args[1:]),)
            elif call == "add_event":
                args = (args[0] if args else kwargs["name"], dict(kwargs.get("attributes") or {}))
            recorder.add(Op(call, span=index, args=tuple(args)))

        return note

    for call in (
        "set_attribute",
        "set_attributes",
        "set_status",
        "update_name",
        "add_event",
        "end",
    ):
        setattr(Span, call, _noting(recorder, getattr(Span, call), span_call(call)))

    runtime = otel_context._RUNTIME_CONTEXT  # what context.attach/detach delegate to

    def attached(token: Any, ctx: Context) -> None:
        index = recorder.add(Op("attach", target=recorder.target(ctx)))
        recorder.tokens[id(token)] = (index, token)

    def detached(result: Any, token: Any) -> None:
        recorder.add(Op("detach", ref=recorder.tokens.get(id(token), (-1, None))[0]))

    runtime.attach = _noting(recorder, runtime.attach, attached)  # type: ignore[method-assign]
    runtime.detach = _noting(recorder, runtime.detach, detached)  # type: ignore[method-assign]


class _RecordingPropagator(TextMapPropagator):
    """The global propagator, with each inject and extract noted."""

    def __init__(self, inner: TextMapPropagator, recorder: _Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def extract(self, carrier: Any, context: Optional[Context] = None, getter: Any = None) -> Any:
        kwargs = {} if getter is None else {"getter": getter}
        result = self._inner.extract(carrier, context, **kwargs)
        if self._recorder.outermost():
            number = sum(1 for _, op in self._recorder.events if op.call == "extract")
            self._recorder.extracted[id(result)] = (number, result)
            self._recorder.add(Op("extract", ref=number))
        return result

    def inject(self, carrier: Any, context: Optional[Context] = None, setter: Any = None) -> None:
        kwargs = {} if setter is None else {"setter": setter}
        if self._recorder.outermost():
            self._recorder.add(Op("inject", target=self._recorder.target(context)))
        self._inner.inject(carrier, context, **kwargs)

    @property
    def fields(self) -> set[str]:
        return self._inner.fields


class _RecordingInstrument:
    """A synchronous instrument whose measurements are noted (record, add, set)."""

    def __init__(self, inner: Any, index: int, recorder: _Recorder) -> None:
        self._inner = inner
        self._index = index
        self._recorder = recorder

    def _measure(
        self, method: str, amount: Any, attributes: Any = None, context: Any = None
    ) -> Any:
        recorder = self._recorder
        if recorder.outermost():
            target = recorder.target(context) if context is not None else ("current",)
            recorder.add(
                Op("measure", target=target, ref=self._index, args=(amount, dict(attributes or {})))
            )
        kwargs = {} if context is None else {"context": context}
        return getattr(self._inner, method)(amount, attributes, **kwargs)

    def record(self, amount: Any, attributes: Any = None, context: Any = None) -> Any:
        return self._measure("record", amount, attributes, context)

    def add(self, amount: Any, attributes: Any = None, context: Any = None) -> Any:
        return self._measure("add", amount, attributes, context)

    def set(self, amount: Any, attributes: Any = None, context: Any = None) -> Any:
        return self._measure("set", amount, attributes, context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _RecordingMeter:
    """A meter that notes every instrument created through it and wraps the synchronous ones."""

    def __init__(self, meter: Any, recorder: _Recorder) -> None:
        self._meter = meter
        self._recorder = recorder

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._meter, attribute)
        if not attribute.startswith("create_"):
            return value
        kind = attribute[len("create_") :]
        recorder = self._recorder
        scope_info = getattr(self._meter, "_instrumentation_scope", None)
        scope = (
            (scope_info.name, scope_info.version, scope_info.schema_url)
            if scope_info
            else ("floor", None, None)
        )

        def create(name: str, *args: Any, **kwargs: Any) -> Any:
            instrument = value(name, *args, **kwargs)
            unit = kwargs.get("unit", args[0] if args and kind in _SYNC else "") or ""
            description = kwargs.get("description", args[1] if len(args) > 1 else "") or ""
            if kind in _OBSERVABLE:
                unit = kwargs.get("unit", "") or ""
                description = kwargs.get("description", "") or ""
            advisory = kwargs.get("explicit_bucket_boundaries_advisory")
            boundaries = tuple(advisory) if advisory is not None else None
            recorder.instruments.append(
                Instrument(name, kind, unit, description, boundaries, scope)
            )
            if kind not in _SYNC:
                return instrument
            return _RecordingInstrument(instrument, len(recorder.instruments) - 1, recorder)

        return create


class _RecordingMeterProvider(MeterProvider):
    def __init__(self, reader: InMemoryMetricReader, recorder: _Recorder) -> None:
        # Set first: some SDK releases ask get_meter from __init__ (their own metrics).
        self._recorder = recorder
        super().__init__(metric_readers=[reader])

    def get_meter(self, *args: Any, **kwargs: Any) -> Any:
        return _RecordingMeter(super().get_meter(*args, **kwargs), self._recorder)


def capture_isolated(workload: Workload) -> Recipe:
    """``capture`` in a forked child, so this process stays uninstrumented and unpatched.

    Instrumentors that patch globally (Django's middleware, requests, urllib3, redis) would
    otherwise stay active, and the ``bare`` half of ``bare+floor`` would not be bare.
    """
    if not hasattr(os, "fork"):  # pragma: no cover - not on this project's platforms
        raise RuntimeError("the floor needs os.fork")
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
    """Make two ``instrumentarium`` calls of ``workload`` and record what the second one handed
    to the SDK. Patches the SDK's classes: call it in a process of its own."""
    recorder = _Recorder()
    _patch_tracing(recorder)
    propagate.set_global_textmap(_RecordingPropagator(propagate.get_global_textmap(), recorder))
    tracer_provider = TracerProvider()
    reader = InMemoryMetricReader()
    meter_provider = _RecordingMeterProvider(reader, recorder)
    call = workload.instrumentarium(Providers(tracer_provider, meter_provider))
    call()  # warm-up: lazy instruments and caches
    problem = unusual = ""
    for _ in range(_ATTEMPTS):
        recorder.reset()
        recorder.active = True
        call()
        recorder.active = False
        ended = workload.spans_per_call if workload.sampled else 0  # a dropped span records no end
        problem = _wrong_spans(recorder, workload.spans_per_call, ended)
        unusual = _unmeasured(recorder, reader)
        if not problem and not unusual:
            break
        print(f"floor: {workload.name}: capturing again: {problem or unusual}", file=sys.stderr)
    if problem:
        raise RuntimeError(f"{workload.name}: {problem}")
    if unusual:  # every call looks so: the instrument is measured now and then, not per call
        print(f"floor: {workload.name}: {unusual}; the floor has none either", file=sys.stderr)
    instruments = _with_observed_points(recorder.instruments, reader)
    return Recipe(tuple(recorder.spans), instruments, _by_thread(recorder.events))


# A call whose capture looks incomplete (a span or a measurement missing, e.g. when a background
# thread of the library interferes) is captured again, this many times at most.
_ATTEMPTS = 3


def _wrong_spans(recorder: _Recorder, spans: int, ended: int) -> str:
    """Why the capture of one call cannot be the floor, or "": it needs ``spans`` spans
    started and ``ended`` of them ended (a span the sampler dropped records no end)."""
    if len(recorder.spans) != spans or len(recorder.ended) != ended:
        return (
            f"the floor needs {spans} span(s) started and {ended} ended per call; one call "
            f"started {len(recorder.spans)} and ended {len(recorder.ended)}"
        )
    return ""


def _unmeasured(recorder: _Recorder, reader: InMemoryMetricReader) -> str:
    """The synchronous instruments that have data (an earlier call measured them) but no
    measurement in the captured call, or "". Kafka's consumer records its receive duration
    once per fetched batch, not per record: there the captured call rightly has none."""
    measured = {op.ref for op in recorder.events_only() if op.call == "measure"}
    data = reader.get_metrics_data()
    with_data = {
        metric.name
        for resource_metrics in (data.resource_metrics if data else ())
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    }
    missing = [
        instrument.name
        for index, instrument in enumerate(recorder.instruments)
        if instrument.kind in _SYNC and instrument.name in with_data and index not in measured
    ]
    return f"no measurement of {', '.join(missing)} in the captured call" if missing else ""


def _with_observed_points(
    instruments: Sequence[Instrument], reader: InMemoryMetricReader
) -> tuple[Instrument, ...]:
    """The observable instruments completed with the attribute sets their callbacks reported."""
    points: dict[str, tuple[Attributes, ...]] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points[metric.name] = tuple(
                    dict(point.attributes or {}) for point in metric.data.data_points
                )
    return tuple(
        replace(instrument, points=points.get(instrument.name, ()))
        if instrument.kind in _OBSERVABLE
        else instrument
        for instrument in instruments
    )


def _by_thread(events: Sequence[tuple[int, Op]]) -> tuple[Op, ...]:
    """The ops of each thread as one block, threads in order of their last op (so the span that
    ends last in the app ends last in the replay); indices that point at other ops (detach →
    attach) follow the reordering."""
    last = {thread: index for index, (thread, _) in enumerate(events)}
    threads = sorted(last, key=last.__getitem__)
    order = [i for thread in threads for i, (t, _) in enumerate(events) if t == thread]
    moved = {old: new for new, old in enumerate(order)}
    ops = []
    for old in order:
        op = events[old][1]
        if op.call == "detach" and op.ref >= 0:
            op = Op(op.call, op.span, op.target, moved[op.ref], op.args)
        ops.append(op)
    return tuple(ops)


# --- replay -------------------------------------------------------------------------------------


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


def _observations(points: tuple[Attributes, ...]) -> Callable[[CallbackOptions], list[Observation]]:
    def observe(options: CallbackOptions) -> list[Observation]:
        return [Observation(0, attrs) for attrs in points]

    return observe


def step(op: Op, recipe: Recipe) -> str:
    """The decomposition row an op belongs to."""
    if op.call in ("attach", "detach"):
        return "attach/detach"
    if op.call in ("set_attribute", "set_attributes"):
        return "set_attribute(s)"
    if op.call == "measure":
        instrument = recipe.instruments[op.ref]
        return f"{instrument.name}.{_METHOD[instrument.kind]}"
    return op.call


def step_counts(recipe: Recipe) -> dict[str, int]:
    """Each step's number of calls per request, in order of first appearance."""
    counts: dict[str, int] = {}
    for op in recipe.ops:
        name = step(op, recipe)
        counts[name] = counts.get(name, 0) + 1
    return counts


@dataclass
class _Source:
    """The replay function's source as it is generated, and the constants it refers to."""

    timed: bool
    steps: list[str]
    names: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    contexts: set[int] = field(default_factory=set)  # spans whose context exists already
    slots: list[int] = field(default_factory=list)  # the slot of each timed interval, in order

    def const(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def emit(self, statement: str, step_name: Optional[str] = None) -> None:
        if not self.timed or step_name is None:
            self.lines.append(statement)
            return
        slot = self.steps.index(step_name)
        self.slots.append(slot)
        self.lines += ["_t = _pc()", statement, f"_acc[{slot}] += _pc() - _t"]


def _parent(source: _Source, parent: tuple[Any, ...]) -> str:
    if parent[0] == "extracted":
        return f"p{parent[1]}"
    if parent[0] == "span":
        return f"c{parent[1]}"
    return "None"


def _context(source: _Source, target: tuple[Any, ...], recipe: Recipe, step_name: str) -> str:
    """The expression for a context argument; a span's context is made the first time one is
    needed, timed with the step that needs it."""
    if target[0] == "span":
        index = target[1]
        if index not in source.contexts:
            source.contexts.add(index)
            parent = _parent(source, recipe.spans[index].parent)
            source.emit(f"c{index} = set_span_in_context(s{index}, {parent})", step_name)
        return f"c{index}"
    if target[0] == "extracted":
        return f"p{target[1]}"
    return "get_current()"


def compile_replay(recipe: Recipe, carrier: Mapping[str, Any], timed: bool = False) -> str:
    """The source of ``def call()`` (``def call(_acc)`` when ``timed``); its names come from
    ``replay``'s namespace. The floor worker reports it (``floor_source`` in the JSON)."""
    source = _Source(timed, list(step_counts(recipe)))
    return _generate(recipe, source)


def _generate(recipe: Recipe, source: _Source) -> str:
    for position, op in enumerate(recipe.ops):
        name = step(op, recipe)
        if op.call == "extract":
            source.emit(f"p{op.ref} = extract(carrier, getter=getter)", name)
        elif op.call == "inject":
            if op.target[0] == "current":
                source.emit("inject({})", name)
            else:
                ctx = _context(source, op.target, recipe, name)
                source.emit(f"inject({{}}, {ctx})", name)
        elif op.call == "start_span":
            span = recipe.spans[op.span]
            tracer = source.const("tracer", span.scope)
            args = [
                source.const("name", span.name),
                _parent(source, span.parent),
                f"kind={source.const('kind', span.kind)}",
                f"attributes={source.const('attrs', span.attributes)}",
            ]
            if span.start_time:
                args.append("start_time=time_ns()")
            source.emit(f"s{op.span} = {tracer}.start_span({', '.join(args)})", name)
        elif op.call == "attach":
            ctx = _context(source, op.target, recipe, name)
            source.emit(f"k{position} = attach({ctx})", name)
        elif op.call == "detach":
            source.emit(f"detach(k{op.ref})" if op.ref >= 0 else "pass", name)
        elif op.call == "measure":
            instrument = recipe.instruments[op.ref]
            amount, attributes = op.args
            call = f"m{op.ref}.{_METHOD[instrument.kind]}"
            values = f"{source.const('v', amount)}, {source.const('a', attributes)}"
            if op.target[0] == "current":
                source.emit(f"{call}({values})", name)
            else:
                ctx = _context(source, op.target, recipe, name)
                source.emit(f"{call}({values}, context={ctx})", name)
        else:  # span methods: set_attribute(s), set_status, update_name, add_event, end
            args = ", ".join(source.const("x", value) for value in op.args)
            source.emit(f"s{op.span}.{op.call}({args})", name)
    body = source.lines or ["pass"]
    signature = "def call(_acc):" if source.timed else "def call():"
    return "\n".join([signature, *(f"    {line}" for line in body)]) + "\n"


def _namespace(
    recipe: Recipe, providers: Providers, carrier: Mapping[str, Any], names: dict[str, Any]
) -> dict[str, Any]:
    """The globals the generated function runs with: providers' tracers and instruments, the
    API functions, and the captured constants."""
    tracer_provider = providers.tracer_provider
    meter_provider = providers.meter_provider
    namespace: dict[str, Any] = {
        "carrier": carrier,
        "getter": EnvironGetter() if carrier else None,
        "extract": extract if carrier else _extract_default,
        "inject": inject,
        "set_span_in_context": trace.set_span_in_context,
        "attach": otel_context.attach,
        "detach": otel_context.detach,
        "get_current": otel_context.get_current,
        "time_ns": time.time_ns,
        "_pc": time.perf_counter_ns,
    }
    for key, value in names.items():
        if key.startswith("tracer"):
            name, version, schema_url = value
            namespace[key] = tracer_provider.get_tracer(name, version, schema_url=schema_url)
        else:
            namespace[key] = value
    meters: dict[tuple[Any, ...], Any] = {}
    for index, instrument in enumerate(recipe.instruments):
        if instrument.scope not in meters:
            name, version, schema_url = instrument.scope
            meters[instrument.scope] = meter_provider.get_meter(
                name, version, schema_url=schema_url
            )
        namespace[f"m{index}"] = _create(meters[instrument.scope], instrument, recipe, index)
    return namespace


def _extract_default(carrier: Any, getter: Any = None) -> Context:
    return extract(carrier)


def _create(meter: Any, instrument: Instrument, recipe: Recipe, index: int) -> Any:
    if instrument.kind == "histogram":
        if instrument.boundaries is not None:
            try:
                return meter.create_histogram(
                    instrument.name,
                    unit=instrument.unit,
                    description=instrument.description,
                    explicit_bucket_boundaries_advisory=list(instrument.boundaries),
                )
            except TypeError:  # an SDK older than 1.29 takes no advisory (nor did we pass one)
                pass
        return meter.create_histogram(
            instrument.name, unit=instrument.unit, description=instrument.description
        )
    if instrument.kind in _SYNC:
        create = getattr(meter, f"create_{instrument.kind}")
        return create(instrument.name, unit=instrument.unit, description=instrument.description)
    points = instrument.points  # none: its callback reported nothing in the capture either
    create = getattr(meter, f"create_{instrument.kind}")
    return create(
        instrument.name,
        callbacks=[_observations(points)],
        unit=instrument.unit,
        description=instrument.description,
    )


def _function(
    recipe: Recipe, providers: Providers, carrier: Mapping[str, Any], timed: bool
) -> tuple[Callable[..., None], _Source]:
    source = _Source(timed, list(step_counts(recipe)))
    text = _generate(recipe, source)
    namespace = _namespace(recipe, providers, carrier, source.names)
    exec(compile(text, f"<floor replay{' timed' if timed else ''}>", "exec"), namespace)
    return namespace["call"], source


def replay(recipe: Recipe, providers: Providers, carrier: Mapping[str, Any]) -> Call:
    """A call that makes the SDK/API calls of ``recipe`` against ``providers``."""
    call, _ = _function(recipe, providers, carrier, timed=False)
    return call


def timed_replay(
    recipe: Recipe, providers: Providers, carrier: Mapping[str, Any]
) -> tuple[Callable[[list[int]], None], Callable[[list[int]], None], list[str]]:
    """The replay that adds each step's nanoseconds to ``_acc[slot]``, the same code with every
    call left out (what the timing itself costs), and the steps in slot order."""
    call, source = _function(recipe, providers, carrier, timed=True)
    return call, empty_intervals(source.slots), source.steps


def empty_intervals(slots: Sequence[int]) -> Callable[[list[int]], None]:
    """The timed intervals of a timed replay, in the same slots, with nothing inside: what the
    timing itself adds to each step, to subtract."""
    lines = [f"    _t = _pc()\n    _acc[{slot}] += _pc() - _t\n" for slot in slots]
    namespace: dict[str, Any] = {"_pc": time.perf_counter_ns}
    text = "def call(_acc):\n" + ("".join(lines) or "    pass\n")
    exec(compile(text, "<floor timer cost>", "exec"), namespace)
    return namespace["call"]  # type: ignore[no-any-return]


def decompose(
    steps: Sequence[str], spent_ns: Sequence[int], timer_ns: Sequence[int], calls: int
) -> dict[str, float]:
    """µs per request of each step: the time measured in its slot minus what the same timed
    interval costs empty, over ``calls`` requests (never below zero)."""
    if calls <= 0:
        raise ValueError("no calls")
    return {
        name: max(spent - empty, 0) / calls / 1000
        for name, spent, empty in zip(steps, spent_ns, timer_ns)
    }


# --- description --------------------------------------------------------------------------------


def describe(recipe: Recipe) -> str:
    """One line: the SDK/API calls the floor makes per request, in order."""
    parts: list[str] = []
    for op in recipe.ops:
        if op.call == "start_span":
            span = recipe.spans[op.span]
            text = f"start_span({span.kind.name}, {len(span.attributes)} attributes)"
        elif op.call == "measure":
            text = step(op, recipe)
        elif op.call == "set_attributes":
            text = f"set_attributes({len(op.args[0])})"
        else:
            text = op.call
        if parts and parts[-1].split(" x")[0] == text:
            head, _, times = parts[-1].partition(" x")
            parts[-1] = f"{head} x{int(times or 1) + 1}"
        else:
            parts.append(text)
    observable = [i.name for i in recipe.instruments if i.kind in _OBSERVABLE]
    parts += [f"{name} (observable: nothing per call)" for name in observable]
    return ", ".join(parts) or "nothing"
