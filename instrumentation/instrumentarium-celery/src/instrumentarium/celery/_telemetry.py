"""What Celery emits: a PRODUCER span per task sent, a CONSUMER span per task run, and metrics.

``CeleryTelemetry`` is built once per ``instrument()`` from its ``CeleryConfig`` (tracer,
instruments, semconv mode); what each task name gives every call (span names, constant
attributes) is kept per name. The patches and signal receivers (``_patches``) call it::

    Celery.send_task (patched)          PRODUCER "apply_async/{task}" started and made current
      before_task_publish (signal)      its context injected into the message headers; message
                                        id, exchange and routing key set on the span
      the broker publish                (broker client spans are its children)
    send_task returns or raises         span ended (ERROR if it raised), sent count, duration

    Task.apply_async (patched)          only under task_always_eager, where nothing is published:
                                        the same PRODUCER span around the local run, so eager
                                        mode gives the same shape in one process

    task_prerun (signal)                CONSUMER "run/{task}", child of the context the message
                                        carries (or linked to it: use_span_links), made current
    task_failure / task_retry           ERROR and one exception event (not for the exceptions
                                        in the task's ``throws``) / the retry reason
    task_postrun (signal)               celery.state, span ended, consumed count, durations
    task_revoked (signal)               a revoked message that never ran: a CONSUMER span with
                                        celery.state REVOKED, ended at once
    worker_process_shutdown (signal)    a pool child about to exit flushes the providers

The run's state lives on the task's request (``task.request``, one per execution and thread)
from prerun to postrun, so the threads pool and eager runs inside tasks keep their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from time import perf_counter_ns
from typing import Any, Callable, Final, Optional

from opentelemetry import trace
from opentelemetry.context import (
    attach,
    create_key,
    detach,
    get_current,
    get_value,
    set_value,
)
from opentelemetry.metrics import get_meter_provider
from opentelemetry.propagate import extract, inject
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.metrics import (
    DURATION_BUCKETS_S,
    SDK_DEFAULT_BUCKETS_MS,
    histogram,
    shared_counts,
    shared_meter,
)
from instrumentarium.util.safety import guard
from instrumentarium.util.semconv import opt_in_mode, schema_url

from . import _attributes as a
from ._config import CeleryConfig
from .version import __version__

__all__ = ["RUN_STATE", "SCOPE", "CeleryTelemetry"]

SCOPE: Final = "instrumentarium.celery"
RUN_STATE: Final = "_instrumentarium_celery_run"  # on task.request, from prerun to postrun
_PUBLISH_KEY: Final = create_key("instrumentarium-celery-publish")
_KEPT: Final = 1024  # task names and destinations whose constants are kept
_FLUSH_MS: Final = 5_000
_PRODUCER: Final = SpanKind.PRODUCER
_CONSUMER: Final = SpanKind.CONSUMER
_set_span_in_context = trace.set_span_in_context
_get_current_span = trace.get_current_span

Attributes = dict[str, AttributeValue]
Wrapped = Callable[..., Any]

_PUBLISH_BEGIN: Final = guard("starting the celery publish span")
_PUBLISH_HEADERS: Final = guard("injecting the context into the celery message")
_PUBLISH_END: Final = guard("ending the celery publish span")
_RUN_BEGIN: Final = guard("starting the celery run span")
_RUN_EVENT: Final = guard("recording a celery task failure or retry")
_RUN_END: Final = guard("ending the celery run span")
_REVOKED: Final = guard("recording a revoked celery task")
_FLUSH: Final = guard("flushing telemetry before a celery pool process exits")


class _RequestGetter(Getter[Any]):
    """Reads the propagation fields from a task's request: Celery makes every message header an
    attribute of ``task.request`` (protocol 2), and of the worker's ``request_dict``."""

    def get(self, carrier: Any, key: str) -> Optional[list[str]]:
        value = carrier.get(key) if isinstance(carrier, dict) else getattr(carrier, key, None)
        if value is None:
            return None
        return [value if isinstance(value, str) else str(value)]

    def keys(self, carrier: Any) -> list[str]:
        if isinstance(carrier, dict):
            return list(carrier)
        return list(getattr(carrier, "__dict__", ()))


REQUEST_GETTER: Final = _RequestGetter()


def _attribute_value(value: Any) -> AttributeValue:
    if isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


class _Task:
    """What every send and run of one task name shares."""

    __slots__ = ("name", "publish", "publish_name", "run", "run_name", "runtime")

    def __init__(self, name: str, publish: Attributes, run: Attributes) -> None:
        self.name = name
        self.publish_name = f"apply_async/{name}"
        self.run_name = f"run/{name}"
        self.publish = publish
        self.run = run
        self.runtime: dict[object, Attributes] = {}  # by worker hostname

    def runtime_attributes(self, hostname: object) -> Attributes:
        """upstream's ``flower.task.runtime.seconds`` attributes on ``hostname``."""
        found = self.runtime.get(hostname)
        if found is None:
            found = {"task": self.name, "worker": str(hostname)}
            if len(self.runtime) < _KEPT:
                self.runtime[hostname] = found
        return found


class _Publish:
    """One send in flight: its span, when it began, where it went."""

    __slots__ = ("destination", "eager", "span", "started")

    def __init__(self, span: Span, eager: bool) -> None:
        self.span = span
        self.eager = eager
        self.started = perf_counter_ns()
        self.destination: Optional[str] = None


class _Run:
    """One task execution in flight (kept on its ``task.request``)."""

    __slots__ = ("destination", "error_type", "span", "started", "task", "token")

    def __init__(self, span: Span, token: object, destination: Optional[str], task: _Task) -> None:
        self.span = span
        self.token = token
        self.destination = destination
        self.task = task
        self.error_type: Optional[str] = None
        self.started = perf_counter_ns()


class CeleryTelemetry:
    """Spans and metrics for sending and running Celery tasks (see the module docstring)."""

    __slots__ = (
        "_metrics",
        "_tasks",
        "consumed",
        "links",
        "meter_provider",
        "new",
        "old",
        "process_duration",
        "runtime",
        "send_duration",
        "sent",
        "tracer",
        "tracer_provider",
    )

    def __init__(self, config: CeleryConfig) -> None:
        mode = opt_in_mode("messaging")
        self.old = mode.old
        self.new = mode.new
        self.links = bool(config.use_span_links)
        self.tracer_provider = config.tracer_provider
        self.meter_provider = config.meter_provider
        url = schema_url("messaging", mode)
        self.tracer = trace.get_tracer(SCOPE, __version__, config.tracer_provider, schema_url=url)
        meter = shared_meter(SCOPE, __version__, config.meter_provider, schema_url=url)
        message_counts = partial(
            shared_counts,
            unit="{message}",
            monotonic=True,
            scope=SCOPE,
            version=__version__,
            meter_provider=config.meter_provider,
            schema_url=url,
        )
        self.sent = message_counts(
            a.SENT_MESSAGES,
            description="Number of messages the producer attempted to send to the broker.",
        )
        self.consumed = message_counts(
            a.CONSUMED_MESSAGES, description="Number of messages delivered to the application."
        )
        self.send_duration = histogram(
            meter,
            a.OPERATION_DURATION,
            unit="s",
            description="Duration of a messaging operation started by a producer or consumer.",
            buckets=DURATION_BUCKETS_S,
        )
        self.process_duration = histogram(
            meter,
            a.PROCESS_DURATION,
            unit="s",
            description="Duration of processing operation.",
            buckets=DURATION_BUCKETS_S,
        )
        # upstream's one metric, in its unit ("seconds") and with the SDK's default buckets
        self.runtime = (
            histogram(
                meter,
                a.TASK_RUNTIME,
                unit="seconds",
                description="The time it took to run the task.",
                buckets=SDK_DEFAULT_BUCKETS_MS,
            )
            if self.old
            else None
        )
        self._tasks: dict[str, _Task] = {}
        self._metrics: dict[tuple[str, Optional[str]], Attributes] = {}

    # --- constants per task name and destination ----------------------------------------------

    def _task(self, name: str) -> _Task:
        found = self._tasks.get(name)
        if found is not None:
            return found
        publish: Attributes = {a.CELERY_ACTION: a.APPLY_ASYNC, a.CELERY_TASK_NAME: name}
        run: Attributes = {a.CELERY_ACTION: a.RUN, a.CELERY_TASK_NAME: name}
        if self.new:
            publish[a.MESSAGING_SYSTEM] = run[a.MESSAGING_SYSTEM] = a.CELERY
            publish[a.MESSAGING_OPERATION_TYPE] = a.SEND
            publish[a.MESSAGING_OPERATION_NAME] = a.APPLY_ASYNC
            run[a.MESSAGING_OPERATION_TYPE] = a.PROCESS
            run[a.MESSAGING_OPERATION_NAME] = a.RUN
        found = _Task(name, publish, run)
        if len(self._tasks) < _KEPT:
            self._tasks[name] = found
        return found

    def _metric(self, operation: str, destination: Optional[str]) -> Attributes:
        """The metric attributes of ``operation`` (``apply_async``/``run``) to ``destination``:
        bounded, no task name or id."""
        key = (operation, destination)
        found = self._metrics.get(key)
        if found is not None:
            return found
        found = {
            a.MESSAGING_SYSTEM: a.CELERY,
            a.MESSAGING_OPERATION_NAME: operation,
            a.MESSAGING_OPERATION_TYPE: a.SEND if operation == a.APPLY_ASYNC else a.PROCESS,
        }
        if destination:
            found[a.MESSAGING_DESTINATION_NAME] = destination
        if len(self._metrics) < _KEPT:
            self._metrics[key] = found
        return found

    # --- sending: Celery.send_task, and Task.apply_async in eager mode --------------------------

    def send_task(self, wrapped: Wrapped, _instance: Any, args: Any, kwargs: Any) -> Any:
        """``Celery.send_task(name, ...)`` in a PRODUCER span."""
        name = args[0] if args else kwargs.get("name")
        begun = self._begin_publish(name, eager=False)
        if begun is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            self._end_publish(begun, None, exc)
            raise
        self._end_publish(begun, result, None)
        return result

    def apply_async(self, wrapped: Wrapped, instance: Any, args: Any, kwargs: Any) -> Any:
        """``Task.apply_async``: traced here only when the app runs tasks eagerly (nothing is
        sent; otherwise ``send_task`` makes the span)."""
        try:
            eager = bool(instance._get_app().conf.task_always_eager)
        except Exception:
            eager = False
        if not eager:
            return wrapped(*args, **kwargs)
        begun = self._begin_publish(getattr(instance, "name", None), eager=True)
        if begun is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            self._end_publish(begun, None, exc)
            raise
        self._end_publish(begun, result, None)
        return result

    @_PUBLISH_BEGIN
    def _begin_publish(self, name: object, *, eager: bool) -> Optional[tuple[_Publish, object]]:
        if not isinstance(name, str):
            return None  # Celery reports the odd name itself
        task = self._task(name)
        span = self.tracer.start_span(task.publish_name, kind=_PRODUCER, attributes=task.publish)
        publish = _Publish(span, eager)
        context = set_value(_PUBLISH_KEY, publish, _set_span_in_context(span))
        return publish, attach(context)

    def before_publish(
        self,
        headers: dict[str, Any],
        body: Any,
        exchange: Any,
        routing_key: Any,
        declare: Any,
    ) -> None:
        """``before_task_publish``: the current context into the message headers, and the
        message's facts on the send span."""
        with _PUBLISH_HEADERS:
            inject(headers)
            publish: Optional[_Publish] = get_value(_PUBLISH_KEY)  # type: ignore[assignment]
            if publish is None:
                return  # published outside send_task: the context travels, no span of ours
            if isinstance(routing_key, str):
                publish.destination = routing_key
            span = publish.span
            if not span.is_recording():
                return
            task_id = headers.get("id")
            if task_id is None and isinstance(body, dict):
                task_id = body.get("id")  # protocol 1
            if task_id is not None:
                span.set_attribute(a.MESSAGING_MESSAGE_ID, str(task_id))
            if exchange:
                span.set_attribute("celery.exchange", _attribute_value(exchange))
            if self.old:
                kind = _destination_kind(declare)
                if kind is not None:
                    span.set_attribute(a.MESSAGING_DESTINATION_KIND, kind)
                if routing_key:
                    span.set_attribute(a.MESSAGING_DESTINATION, _attribute_value(routing_key))
            if self.new and routing_key:
                span.set_attribute(a.MESSAGING_DESTINATION_NAME, _attribute_value(routing_key))

    def _end_publish(
        self, begun: tuple[_Publish, object], result: Any, exc: Optional[BaseException]
    ) -> None:
        publish, token = begun
        span = publish.span
        with _PUBLISH_END:
            try:
                error_type = None
                if exc is not None:
                    error_type = type(exc).__qualname__
                    if span.is_recording():
                        span.record_exception(exc)
                        span.set_status(Status(StatusCode.ERROR, str(exc)))
                        if self.new:
                            span.set_attribute(a.ERROR_TYPE, error_type)
                if publish.eager:
                    # nothing was sent; the message id is the result's
                    task_id = getattr(result, "id", None)
                    if task_id is not None and span.is_recording():
                        span.set_attribute(a.MESSAGING_MESSAGE_ID, str(task_id))
                    return
                metric = self._metric(a.APPLY_ASYNC, publish.destination)
                if error_type is not None:
                    metric = dict(metric)
                    metric[a.ERROR_TYPE] = error_type
                self.send_duration.record((perf_counter_ns() - publish.started) / 1e9, metric)
                self.sent.add(1, metric)
            finally:
                span.end()
                detach(token)  # type: ignore[arg-type]

    # --- running: the task signals in the worker (or the eager caller) -------------------------

    @_RUN_BEGIN
    def prerun(self, task: Any) -> None:
        """``task_prerun``: the CONSUMER span, current until postrun."""
        request = task.request
        task_info = self._task(task.name)
        carried = extract(request, context=get_current(), getter=REQUEST_GETTER)
        attributes, destination = self._run_attributes(task_info, request)
        links: Optional[list[Link]] = None
        parent = carried
        if self.links:
            producer = _get_current_span(carried).get_span_context()
            if producer.is_valid:
                links = [Link(producer)]
            parent = _set_span_in_context(INVALID_SPAN, carried)  # a root, baggage kept
        span = self.tracer.start_span(
            task_info.run_name, context=parent, kind=_CONSUMER, attributes=attributes, links=links
        )
        token = attach(_set_span_in_context(span, carried))
        request.__dict__[RUN_STATE] = _Run(span, token, destination, task_info)

    def _run_attributes(self, task: _Task, request: Any) -> tuple[Attributes, Optional[str]]:
        """The run span's attributes, from the request (upstream's set, read at the start so
        samplers see them), and the routing key."""
        attributes = dict(task.run)
        fields = request.__dict__
        task_id = fields.get("id")
        if task_id is not None:
            attributes[a.MESSAGING_MESSAGE_ID] = _attribute_value(task_id)
        correlation_id = fields.get("correlation_id")
        if correlation_id:
            if self.old:
                attributes[a.MESSAGING_CONVERSATION_ID] = _attribute_value(correlation_id)
            if self.new:
                attributes[a.MESSAGING_MESSAGE_CONVERSATION_ID] = _attribute_value(correlation_id)
        destination = None
        delivery_info = fields.get("delivery_info")
        if isinstance(delivery_info, dict):
            attributes[a.CELERY_DELIVERY_INFO] = str(delivery_info)
            destination = delivery_info.get("routing_key")
        routing_key = fields.get("routing_key")
        if routing_key:
            destination = routing_key
        if not isinstance(destination, str) or not destination:
            destination = None
        elif self.old:
            attributes[a.MESSAGING_DESTINATION] = destination
        if destination is not None and self.new:
            attributes[a.MESSAGING_DESTINATION_NAME] = destination
        for field in a.PLAIN_REQUEST_FIELDS:
            value = fields.get(field)
            if value is not None and value != "":
                attributes[f"celery.{field}"] = _attribute_value(value)
        origin = fields.get("origin")  # the sender's host; upstream's celery.hostname wins with it
        if origin:
            attributes[a.CELERY_HOSTNAME] = _attribute_value(origin)
        retries = fields.get("retries")
        if retries:
            attributes[a.CELERY_RETRIES] = _attribute_value(retries)
        timelimit = _timelimit(fields.get("timelimit"))
        if timelimit is not None:
            attributes[a.CELERY_TIMELIMIT] = timelimit
        return attributes, destination

    @_RUN_EVENT
    def failure(self, task: Any, exception: Any) -> None:
        """``task_failure``: ERROR and the exception, unless the task ``throws`` it."""
        run: Optional[_Run] = task.request.__dict__.get(RUN_STATE)
        if run is None:
            return
        exc = _unwrapped(exception)
        throws = getattr(task, "throws", None)
        if throws and isinstance(exc, throws):
            return  # an expected failure: logged by Celery as such, not an error
        span = run.span
        error_type = _error_type(exc)
        run.error_type = error_type
        if span.is_recording():
            if isinstance(exc, BaseException):
                span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            if self.new:
                span.set_attribute(a.ERROR_TYPE, error_type)

    @_RUN_EVENT
    def retry(self, request: Any, reason: Any) -> None:
        """``task_retry``: why the task is retried; the new run comes with a new message."""
        run: Optional[_Run] = getattr(request, "__dict__", {}).get(RUN_STATE)
        if run is not None and run.span.is_recording():
            run.span.set_attribute(a.CELERY_RETRY_REASON, str(reason))

    def postrun(self, task: Any, state: Any) -> None:
        """``task_postrun``: the state, the span ended and detached, the metrics."""
        fields = task.request.__dict__
        run: Optional[_Run] = fields.pop(RUN_STATE, None)
        if run is None:
            return
        span = run.span
        with _RUN_END:
            try:
                elapsed = (perf_counter_ns() - run.started) / 1e9
                if state is not None and span.is_recording():
                    span.set_attribute(a.CELERY_STATE, str(state))
                metric = self._metric(a.RUN, run.destination)
                if run.error_type is not None:
                    metric = dict(metric)
                    metric[a.ERROR_TYPE] = run.error_type
                self.process_duration.record(elapsed, metric)
                self.consumed.add(1, metric)
                if self.runtime is not None:
                    attributes = run.task.runtime_attributes(fields.get("hostname"))
                    self.runtime.record(elapsed, attributes)
            finally:
                span.end()
                detach(run.token)  # type: ignore[arg-type]

    @_REVOKED
    def revoked(self, task: Any, request: Any, expired: Any) -> None:
        """``task_revoked``: a message the worker received and will not run (revoked, expired):
        a CONSUMER span ended at once, the child of its send, so the trace does not end at the
        send in silence. ``request`` is the message's request (``Context``): headers included."""
        name = getattr(task, "name", None) or getattr(request, "task", None)
        if not isinstance(name, str):
            return
        carried = extract(request, context=get_current(), getter=REQUEST_GETTER)
        task_info = self._task(name)
        attributes = dict(task_info.run)
        attributes[a.CELERY_STATE] = a.REVOKED
        task_id = getattr(request, "id", None)
        if task_id is not None:
            attributes[a.MESSAGING_MESSAGE_ID] = str(task_id)
        if expired:
            attributes["celery.expired"] = True
        span = self.tracer.start_span(
            task_info.run_name, context=carried, kind=_CONSUMER, attributes=attributes
        )
        span.end()

    @_FLUSH
    def flush(self) -> None:
        """Before a pool process exits (``worker_max_tasks_per_child``, shutdown): export what
        the batch processors still hold; the process ends with ``os._exit``, no atexit runs."""
        providers: Iterable[Any] = (
            self.tracer_provider or trace.get_tracer_provider(),
            self.meter_provider or get_meter_provider(),
        )
        for provider in providers:
            force_flush = getattr(provider, "force_flush", None)
            if force_flush is not None:
                force_flush(_FLUSH_MS)


def _destination_kind(declare: Any) -> Optional[str]:
    """upstream's ``messaging.destination_kind``: ``queue`` for a direct exchange, ``topic``
    for a topic one, from the first declared queue that has either."""
    if not declare:
        return None
    try:
        for queue in declare:
            kind = getattr(getattr(queue, "exchange", None), "type", None)
            if kind == "direct":
                return "queue"
            if kind == "topic":
                return "topic"
    except TypeError:
        return None
    return None


def _timelimit(value: Any) -> Optional[AttributeValue]:
    """upstream's ``celery.timelimit``: absent when both limits are unset; unset parts are
    ``""`` (then every part is a string)."""
    if not isinstance(value, (list, tuple)) or all(part is None for part in value):
        return None
    if any(part is None for part in value):
        return ["" if part is None else str(part) for part in value]
    if all(isinstance(part, (int, float)) and not isinstance(part, bool) for part in value):
        return list(value)
    return [str(part) for part in value]


def _unwrapped(exception: Any) -> Any:
    """The task's exception from Celery's and billiard's wrappers of it."""
    inner = getattr(exception, "exc", None)  # billiard's ExceptionWithTraceback
    if isinstance(inner, BaseException) and type(exception).__name__ == "ExceptionWithTraceback":
        return inner
    return exception


def _error_type(exc: Any) -> str:
    name = getattr(exc, "exc_cls_name", None)  # Celery's UnpickleableExceptionWrapper
    if isinstance(name, str) and name:
        return name
    return type(exc).__qualname__
