"""What kafka-python calls emit: producer and consumer spans, and the messaging metrics.

``KafkaTelemetry`` is built once per ``instrument()`` from its ``KafkaConfig``, with everything
resolved (providers, hooks, semconv mode, span-name form). A client's constant attributes
(bootstrap servers, client id, consumer group) are computed on its first traced call and kept in
the client's ``__dict__``, with one entry per topic (producer) or topic and partition (consumer):
a call copies a dict at most.

``send()`` (the patches return to the plain call when instrumentation is suppressed):

1. starts a PRODUCER span ``"{topic} send"`` with the attributes samplers see, injects its context
   into a *new* header list (``_headers.with_context``), makes it current and calls
   ``produce_hook`` then ``send()``: the span covers the whole call;
2. reads the partition the record was assigned from the returned future, marks the span ERROR if
   ``send()`` raised or returned an already failed future (kafka-python reports some errors so),
   counts ``messaging.client.sent.messages`` and records ``messaging.client.operation.duration``.

``__next__`` and ``poll()``: each record returned to the application gets a CONSUMER span
``"{topic} receive"``, a child of the producer context found in its headers (of the current
context when there is none), current while ``consume_hook`` runs, ended before the record is
returned. ``messaging.client.consumed.messages`` counts those records; every ``poll()`` that
returns records, including the one ``__next__`` makes inside kafka-python, records its duration.
"""

from __future__ import annotations

import json
from functools import partial
from time import perf_counter_ns
from typing import Any, Callable, Final, Optional

from opentelemetry import trace
from opentelemetry.context import (
    Context,
    attach,
    detach,
    get_current,
)
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.metrics import histogram, shared_counts, shared_meter
from instrumentarium.util.net import split_host_port
from instrumentarium.util.safety import guard, safe_hook
from instrumentarium.util.semconv import opt_in_mode, schema_url

from . import _attributes as a
from ._config import KafkaConfig
from ._headers import HEADERS_GETTER, with_context
from .version import __version__

__all__ = ["SCOPE", "IN_NEXT", "KafkaTelemetry"]

SCOPE: Final = "instrumentarium.kafka"
IN_NEXT: Final = "_instrumentarium_kafka_in_next"  # set on a consumer while __next__ runs
_CLIENT_CACHE: Final = "_instrumentarium_kafka"
_TOPICS_KEPT: Final = 1024  # per client; past that, entries are built per call, not kept
_DEFAULT_PORT: Final = 9092  # kafka-python's default broker port
_PRODUCER: Final = SpanKind.PRODUCER
_CONSUMER: Final = SpanKind.CONSUMER
_set_span_in_context = trace.set_span_in_context

Attributes = dict[str, AttributeValue]
Wrapped = Callable[..., Any]
Args = tuple[Any, ...]
Kwargs = dict[str, Any]
# (span, context token, started ns, destination, send()'s arguments with the context)
_Send = tuple[Span, object, int, "_Destination", Args]

_SEND_BEGIN: Final = guard("starting the kafka send span")
_SEND_END: Final = guard("ending the kafka send span")
_RECEIVE: Final = guard("recording kafka receive spans and metrics")


def _error_status(exc: BaseException) -> Status:
    return Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")


def message_key(key: object) -> Optional[str]:
    """The key's canonical string form, if it has one: a str, or bytes that are UTF-8."""
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _failure(future: object) -> Optional[BaseException]:
    """The exception of a future ``send()`` returned already failed, else None."""
    try:
        if getattr(future, "is_done", False):
            exc = getattr(future, "exception", None)
            if isinstance(exc, BaseException):
                return exc
    except Exception:
        return None
    return None


def _partition(future: object) -> Optional[int]:
    """The partition ``send()`` assigned the record to, read from the returned future."""
    try:
        partition = future._produce_future.topic_partition[1]  # type: ignore[attr-defined]
    except (AttributeError, IndexError, TypeError, KeyError):
        return None
    return partition if isinstance(partition, int) else None


class _Destination:
    """What a topic (producer) or a topic and partition (consumer) gives every call; ``key`` is
    the metric attributes' key in the message counts, made once (``ObservedCounts.add``)."""

    __slots__ = ("key", "metric", "name", "span")

    def __init__(self, name: str, span: Attributes, metric: Attributes) -> None:
        self.name = name
        self.span = span
        self.metric = metric
        self.key = frozenset(metric.items())


class _Client:
    """One producer's or consumer's constant attributes and its destinations."""

    __slots__ = ("destinations", "metric", "metrics_by_topic", "span", "telemetry")

    def __init__(self, telemetry: KafkaTelemetry, span: Attributes, metric: Attributes) -> None:
        self.telemetry = telemetry
        self.span = span
        self.metric = metric
        self.destinations: dict[Any, _Destination] = {}
        self.metrics_by_topic: dict[str, Attributes] = {}


class KafkaTelemetry:
    """Spans and metrics for kafka-python producers and consumers (see the module docstring)."""

    __slots__ = (
        "consume_hook",
        "consumed",
        "duration",
        "new",
        "old",
        "produce_hook",
        "receive_name",
        "send_name",
        "sent",
        "tracer",
    )

    def __init__(self, config: KafkaConfig) -> None:
        mode = opt_in_mode("messaging")
        self.old = mode.old
        self.new = mode.new
        url = schema_url("messaging", mode)
        self.tracer = trace.get_tracer(SCOPE, __version__, config.tracer_provider, schema_url=url)
        meter = shared_meter(SCOPE, __version__, config.meter_provider, schema_url=url)
        # Kept in a dict and observed at collection (instrumentarium.util.metrics), shared by
        # every instrument() on this provider: the same sums a synchronous Counter exports.
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
        # The messaging conventions' one duration, in seconds in every mode (no old form).
        self.duration = histogram(
            meter,
            a.OPERATION_DURATION,
            unit="s",
            description="Duration of a messaging operation started by a producer or consumer.",
            buckets=a.DURATION_BUCKETS_S,
        )
        self.produce_hook = safe_hook(config.produce_hook, "produce_hook")
        self.consume_hook = safe_hook(config.consume_hook, "consume_hook")
        # The default and /dup keep upstream's names; the current conventions alone use theirs.
        self.send_name: Callable[[str], str] = "{} send".format if self.old else "send {}".format
        self.receive_name: Callable[[str], str] = (
            "{} receive".format if self.old else "receive {}".format
        )

    # --- per-client attributes ----------------------------------------------------------------

    def _client(self, instance: Any, *, consumer: bool) -> _Client:
        try:
            cached: Optional[_Client] = instance.__dict__.get(_CLIENT_CACHE)
        except AttributeError:
            return self._new_client(instance, consumer)
        if cached is not None and cached.telemetry is self:
            return cached
        client = self._new_client(instance, consumer)
        instance.__dict__[_CLIENT_CACHE] = client
        return client

    def _new_client(self, instance: Any, consumer: bool) -> _Client:
        config = getattr(instance, "config", None)
        if not isinstance(config, dict):
            config = {}
        servers = config.get("bootstrap_servers")
        span: Attributes = {a.MESSAGING_SYSTEM: a.KAFKA}
        metric: Attributes = {a.MESSAGING_SYSTEM: a.KAFKA}
        operation = a.RECEIVE if consumer else a.SEND
        metric[a.MESSAGING_OPERATION_NAME] = metric[a.MESSAGING_OPERATION_TYPE] = operation
        if self.old and servers is not None:
            try:
                span[a.MESSAGING_URL] = json.dumps(servers)
            except (TypeError, ValueError):
                span[a.MESSAGING_URL] = str(servers)
        first = servers.split(",")[0] if isinstance(servers, str) else None
        if isinstance(servers, (list, tuple)) and servers and isinstance(servers[0], str):
            first = servers[0]
        group = config.get("group_id") if consumer else None
        if isinstance(group, str) and group:
            metric[a.MESSAGING_CONSUMER_GROUP_NAME] = group
        if first:
            host, port = split_host_port(first.strip(), _DEFAULT_PORT)
            metric[a.SERVER_ADDRESS] = host
            if port is not None:
                metric[a.SERVER_PORT] = port
        if self.new:
            span[a.MESSAGING_OPERATION_TYPE] = span[a.MESSAGING_OPERATION_NAME] = operation
            client_id = config.get("client_id")
            if isinstance(client_id, str) and client_id:
                span[a.MESSAGING_CLIENT_ID] = client_id
            for key in (a.MESSAGING_CONSUMER_GROUP_NAME, a.SERVER_ADDRESS, a.SERVER_PORT):
                if key in metric:
                    span[key] = metric[key]
        return _Client(self, span, metric)

    def _topic_metric(self, client: _Client, topic: str) -> Attributes:
        metric = client.metrics_by_topic.get(topic)
        if metric is None:
            metric = dict(client.metric)
            metric[a.MESSAGING_DESTINATION_NAME] = topic
            if len(client.metrics_by_topic) < _TOPICS_KEPT:
                client.metrics_by_topic[topic] = metric
        return metric

    def _destination(
        self, client: _Client, topic: str, partition: Any = None, *, receive: bool = False
    ) -> _Destination:
        """What every send to ``topic`` (or receive from ``topic`` and ``partition``) shares."""
        key = (topic, partition) if receive else topic
        found = client.destinations.get(key)
        if found is not None:
            return found
        span = dict(client.span)
        numbered = receive and isinstance(partition, int)
        if self.old:
            span[a.MESSAGING_DESTINATION] = topic
            if numbered:
                span[a.MESSAGING_KAFKA_PARTITION] = partition
        if self.new:
            span[a.MESSAGING_DESTINATION_NAME] = topic
            if numbered:
                span[a.MESSAGING_DESTINATION_PARTITION_ID] = str(partition)
        name = self.receive_name(topic) if receive else self.send_name(topic)
        found = _Destination(name, span, self._topic_metric(client, topic))
        if len(client.destinations) < _TOPICS_KEPT:
            client.destinations[key] = found
        return found

    # --- producer: begin (guarded), the user's send(), finish (guarded) ------------------------

    def send(self, wrapped: Wrapped, instance: Any, args: Args, kwargs: Kwargs) -> Any:
        """``KafkaProducer.send(topic, value, key, headers, partition, timestamp_ms)`` in a span."""
        begun = self._begin_send(instance, args, kwargs)
        if begun is None:
            return wrapped(*args, **kwargs)
        args = begun[4]  # with the span's context in a new header list
        try:
            future = wrapped(*args, **kwargs)
        except BaseException as exc:
            self._finish_send(begun, None, exc)
            raise
        self._finish_send(begun, future, None)
        return future

    def _begin_send(self, instance: Any, args: Args, kwargs: Kwargs) -> Optional[_Send]:
        """Start the PRODUCER span, put its context into the headers, make it current and run
        ``produce_hook``; None: send plain (no topic, or a failure of ours, logged)."""
        topic = args[0] if args else kwargs.get("topic")
        if not isinstance(topic, str):
            return None  # kafka-python reports the missing or odd topic
        with _SEND_BEGIN:
            destination = self._destination(self._client(instance, consumer=False), topic)
            attributes = destination.span
            if self.new:
                text = message_key(args[2] if len(args) > 2 else kwargs.get("key"))
                if text is not None:
                    attributes = dict(attributes)
                    attributes[a.MESSAGING_KAFKA_MESSAGE_KEY] = text
            span = self.tracer.start_span(destination.name, kind=_PRODUCER, attributes=attributes)
            try:
                context = _set_span_in_context(span)
                fields: dict[str, str] = {}
                inject(fields, context=context)
                if fields:
                    args = self._with_headers(args, kwargs, fields)
            except BaseException:
                span.end()  # started, not current yet: end it, nothing else is left behind
                raise
            begun = (span, attach(context), perf_counter_ns(), destination, args)
            if self.produce_hook is not None:
                self.produce_hook(span, args, kwargs)
            return begun
        return None

    def _finish_send(self, begun: _Send, future: Any, exc: Optional[BaseException]) -> None:
        """End the span: ERROR if ``send()`` raised or returned an already failed future, the
        partition it was assigned, the duration and the sent count."""
        span, token, started, destination, _ = begun
        with _SEND_END:
            try:
                metric = destination.metric
                failure = exc if exc is not None else _failure(future)
                if failure is not None:
                    metric = self._fail(span, failure, metric)
                if exc is None and span.is_recording():
                    partition = _partition(future)
                    if partition is not None:
                        if self.old:
                            span.set_attribute(a.MESSAGING_KAFKA_PARTITION, partition)
                        if self.new:
                            span.set_attribute(a.MESSAGING_DESTINATION_PARTITION_ID, str(partition))
                self.duration.record((perf_counter_ns() - started) / 1e9, metric)
                self.sent.add(1, metric, destination.key if failure is None else None)
            finally:
                span.end()
                detach(token)  # type: ignore[arg-type]

    @staticmethod
    def _with_headers(
        args: tuple[Any, ...], kwargs: dict[str, Any], fields: dict[str, str]
    ) -> tuple[Any, ...]:
        """The call's arguments with a new header list carrying ``fields``; ``kwargs`` (the
        wrapper's own dict) is updated in place. Malformed headers are left as they are."""
        try:
            if len(args) > 3:
                return (*args[:3], with_context(args[3], fields), *args[4:])
            kwargs["headers"] = with_context(kwargs.get("headers"), fields)
        except (TypeError, ValueError):
            pass
        return args

    def _fail(self, span: Span, exc: BaseException, metric: Attributes) -> Attributes:
        error_type = type(exc).__qualname__
        if span.is_recording():
            span.record_exception(exc)
            span.set_status(_error_status(exc))
            if self.new:
                span.set_attribute(a.ERROR_TYPE, error_type)
        metric = dict(metric)
        metric[a.ERROR_TYPE] = error_type
        return metric

    # --- consumer -----------------------------------------------------------------------------

    def next(self, wrapped: Wrapped, instance: Any, args: Args, kwargs: Kwargs) -> Any:
        """``KafkaConsumer.__next__``: one span for the record it returns."""
        state = instance.__dict__
        state[IN_NEXT] = True
        try:
            record = wrapped(*args, **kwargs)
        finally:
            state[IN_NEXT] = False
        if record:
            with _RECEIVE:
                client = self._client(instance, consumer=True)
                destination = self._destination(
                    client, record.topic, record.partition, receive=True
                )
                self._record_span(destination, record, args, kwargs)
                self.consumed.add(1, destination.metric, destination.key)
        return record

    def poll(self, wrapped: Wrapped, instance: Any, args: Args, kwargs: Kwargs) -> Any:
        """``KafkaConsumer.poll``: one span per record returned, one duration per call that
        returned records (also when ``__next__`` makes the call: then ``__next__`` makes the
        spans, as it hands the records out)."""
        started = perf_counter_ns()
        try:
            batches = wrapped(*args, **kwargs)
        except BaseException as exc:
            with _RECEIVE:
                metric = dict(self._client(instance, consumer=True).metric)
                metric[a.ERROR_TYPE] = type(exc).__qualname__
                self.duration.record((perf_counter_ns() - started) / 1e9, metric)
            raise
        if batches:
            with _RECEIVE:
                self._polled(instance, batches, perf_counter_ns() - started, args, kwargs)
        return batches

    def _polled(
        self, instance: Any, batches: Any, elapsed: int, args: Args, kwargs: Kwargs
    ) -> None:
        client = self._client(instance, consumer=True)
        try:
            topics = {partition.topic for partition in batches}
            metric = (
                self._topic_metric(client, next(iter(topics)))
                if len(topics) == 1
                else client.metric
            )
            self.duration.record(elapsed / 1e9, metric)
            if instance.__dict__.get(IN_NEXT):
                return
            for partition, records in batches.items():
                destination = self._destination(
                    client, partition.topic, partition.partition, receive=True
                )
                for record in records:
                    self._record_span(destination, record, args, kwargs)
                if records:
                    self.consumed.add(len(records), destination.metric, destination.key)
        except AttributeError:
            pass  # not the {TopicPartition: [records]} mapping kafka-python returns

    def _record_span(
        self, destination: _Destination, record: Any, args: tuple[Any, ...], kwargs: Any
    ) -> None:
        headers = record.headers
        parent: Optional[Context] = (
            extract(headers, context=get_current(), getter=HEADERS_GETTER) if headers else None
        )
        attributes = destination.span
        if self.new:
            attributes = dict(attributes)
            offset = record.offset
            if isinstance(offset, int):
                attributes[a.MESSAGING_KAFKA_OFFSET] = offset
            text = message_key(record.key)
            if text is not None:
                attributes[a.MESSAGING_KAFKA_MESSAGE_KEY] = text
            if record.value is None:
                attributes[a.MESSAGING_KAFKA_MESSAGE_TOMBSTONE] = True
        span = self.tracer.start_span(
            destination.name, context=parent, kind=_CONSUMER, attributes=attributes
        )
        if self.consume_hook is not None:
            token = attach(_set_span_in_context(span, parent))
            try:
                self.consume_hook(span, record, args, kwargs)
            finally:
                detach(token)
        span.end()
