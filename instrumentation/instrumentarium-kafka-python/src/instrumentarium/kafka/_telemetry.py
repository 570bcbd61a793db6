"""What kafka-python calls emit: producer and consumer spans, and the messaging metrics.

``KafkaTelemetry`` is built once per ``instrument()`` with everything resolved (providers, hooks,
semconv mode, span-name form). A client's constant attributes (bootstrap servers, client id,
consumer group) are computed on its first traced call and kept in the client's ``__dict__``, with
one entry per topic (producer) or topic and partition (consumer): a call copies a dict at most.

``send()``:

1. returns to the plain call when instrumentation is suppressed;
2. starts a PRODUCER span ``"{topic} send"`` with the attributes samplers see, injects its context
   into a *new* header list (``_headers.with_context``), makes it current and calls
   ``produce_hook`` then ``send()``: the span covers the whole call;
3. reads the partition the record was assigned from the returned future, marks the span ERROR if
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
from time import perf_counter
from typing import Any, Callable, Final, Optional

from opentelemetry import trace
from opentelemetry.context import (
    Context,
    attach,
    detach,
    get_current,
)
from opentelemetry.metrics import MeterProvider
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.http import histogram
from instrumentarium.util.metrics import shared_counts, shared_meter
from instrumentarium.util.safety import is_suppressed, safe_hook
from instrumentarium.util.semconv import opt_in_mode, schema_url

from . import _attributes as a
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


def _error_status(exc: BaseException) -> Status:
    return Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")


def split_server(server: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``host`` -> (host, port); kafka-python's default port."""
    server = server.strip()
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif server.count(":") == 1:
        host, _, port = server.partition(":")
    else:
        host, port = server, ""
    return host, int(port) if port.isdigit() else _DEFAULT_PORT


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
    """What a topic (producer) or a topic and partition (consumer) gives every call."""

    __slots__ = ("metric", "name", "span")

    def __init__(self, name: str, span: Attributes, metric: Attributes) -> None:
        self.name = name
        self.span = span
        self.metric = metric


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
        "active",
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

    def __init__(
        self,
        *,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        produce_hook: object = None,
        consume_hook: object = None,
    ) -> None:
        mode = opt_in_mode("messaging")
        self.old = mode.old
        self.new = mode.new
        url = schema_url("messaging", mode)
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=url)
        meter = shared_meter(SCOPE, __version__, meter_provider, schema_url=url)
        # Kept in a dict and observed at collection (instrumentarium.util.metrics), shared by
        # every instrument() on this provider: the same sums a synchronous Counter exports.
        message_counts = partial(
            shared_counts,
            unit="{message}",
            monotonic=True,
            scope=SCOPE,
            version=__version__,
            meter_provider=meter_provider,
            schema_url=url,
        )
        self.sent = message_counts(
            a.SENT_MESSAGES,
            description="Number of messages the producer attempted to send to the broker.",
        )
        self.consumed = message_counts(
            a.CONSUMED_MESSAGES, description="Number of messages delivered to the application."
        )
        self.duration = histogram(
            meter,
            a.OPERATION_DURATION,
            unit="s",
            description="Duration of a messaging operation started by a producer or consumer.",
            buckets=a.DURATION_BUCKETS_S,
        )
        self.produce_hook = safe_hook(produce_hook, "produce_hook")
        self.consume_hook = safe_hook(consume_hook, "consume_hook")
        # The default and /dup keep upstream's names; the current conventions alone use theirs.
        self.send_name: Callable[[str], str] = "{} send".format if self.old else "send {}".format
        self.receive_name: Callable[[str], str] = (
            "{} receive".format if self.old else "receive {}".format
        )
        self.active = True

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
            host, port = split_server(first)
            metric[a.SERVER_ADDRESS] = host
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

    def _send_destination(self, client: _Client, topic: str) -> _Destination:
        found = client.destinations.get(topic)
        if found is not None:
            return found
        span = dict(client.span)
        if self.old:
            span[a.MESSAGING_DESTINATION] = topic
        if self.new:
            span[a.MESSAGING_DESTINATION_NAME] = topic
        found = _Destination(self.send_name(topic), span, self._topic_metric(client, topic))
        if len(client.destinations) < _TOPICS_KEPT:
            client.destinations[topic] = found
        return found

    def _receive_destination(self, client: _Client, topic: str, partition: Any) -> _Destination:
        key = (topic, partition)
        found = client.destinations.get(key)
        if found is not None:
            return found
        span = dict(client.span)
        if self.old:
            span[a.MESSAGING_DESTINATION] = topic
            if isinstance(partition, int):
                span[a.MESSAGING_KAFKA_PARTITION] = partition
        if self.new:
            span[a.MESSAGING_DESTINATION_NAME] = topic
            if isinstance(partition, int):
                span[a.MESSAGING_DESTINATION_PARTITION_ID] = str(partition)
        found = _Destination(self.receive_name(topic), span, self._topic_metric(client, topic))
        if len(client.destinations) < _TOPICS_KEPT:
            client.destinations[key] = found
        return found

    # --- producer -----------------------------------------------------------------------------

    def send(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """``KafkaProducer.send(topic, value, key, headers, partition, timestamp_ms)`` in a span."""
        if is_suppressed():
            return wrapped(*args, **kwargs)
        topic = args[0] if args else kwargs.get("topic")
        if not isinstance(topic, str):
            return wrapped(*args, **kwargs)  # kafka-python reports the missing or odd topic
        destination = self._send_destination(self._client(instance, consumer=False), topic)
        attributes = destination.span
        if self.new:
            text = message_key(args[2] if len(args) > 2 else kwargs.get("key"))
            if text is not None:
                attributes = dict(attributes)
                attributes[a.MESSAGING_KAFKA_MESSAGE_KEY] = text
        span = self.tracer.start_span(destination.name, kind=_PRODUCER, attributes=attributes)
        context = _set_span_in_context(span)
        fields: dict[str, str] = {}
        inject(fields, context=context)
        if fields:
            args = self._with_headers(args, kwargs, fields)
        token = attach(context)
        started = perf_counter()
        try:
            if self.produce_hook is not None:
                self.produce_hook(span, args, kwargs)
            future = wrapped(*args, **kwargs)
        except BaseException as exc:
            self._end(span, token, started, self._fail(span, exc, destination.metric), True)
            raise
        metric = destination.metric
        failure = _failure(future)
        if failure is not None:
            metric = self._fail(span, failure, metric)
        if span.is_recording():
            partition = _partition(future)
            if partition is not None:
                if self.old:
                    span.set_attribute(a.MESSAGING_KAFKA_PARTITION, partition)
                if self.new:
                    span.set_attribute(a.MESSAGING_DESTINATION_PARTITION_ID, str(partition))
        self._end(span, token, started, metric, True)
        return future

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

    def _end(
        self, span: Span, token: object, started: float, metric: Attributes, sent: bool
    ) -> None:
        self.duration.record(perf_counter() - started, metric)
        if sent:
            self.sent.add(1, metric)
        span.end()
        detach(token)  # type: ignore[arg-type]

    # --- consumer -----------------------------------------------------------------------------

    def next(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """``KafkaConsumer.__next__``: one span for the record it returns."""
        if is_suppressed():
            return wrapped(*args, **kwargs)
        state = instance.__dict__
        state[IN_NEXT] = True
        try:
            record = wrapped(*args, **kwargs)
        finally:
            state[IN_NEXT] = False
        if record:
            client = self._client(instance, consumer=True)
            destination = self._receive_destination(client, record.topic, record.partition)
            self._record_span(destination, record, args, kwargs)
            self.consumed.add(1, destination.metric)
        return record

    def poll(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """``KafkaConsumer.poll``: one span per record returned, one duration per call that
        returned records (also when ``__next__`` makes the call: then ``__next__`` makes the
        spans, as it hands the records out)."""
        if is_suppressed():
            return wrapped(*args, **kwargs)
        started = perf_counter()
        try:
            batches = wrapped(*args, **kwargs)
        except BaseException as exc:
            client = self._client(instance, consumer=True)
            metric = dict(client.metric)
            metric[a.ERROR_TYPE] = type(exc).__qualname__
            self.duration.record(perf_counter() - started, metric)
            raise
        if not batches:
            return batches
        elapsed = perf_counter() - started
        client = self._client(instance, consumer=True)
        try:
            topics = {partition.topic for partition in batches}
            metric = (
                self._topic_metric(client, next(iter(topics)))
                if len(topics) == 1
                else client.metric
            )
            self.duration.record(elapsed, metric)
            if instance.__dict__.get(IN_NEXT):
                return batches
            for partition, records in batches.items():
                destination = self._receive_destination(
                    client, partition.topic, partition.partition
                )
                for record in records:
                    self._record_span(destination, record, args, kwargs)
                if records:
                    self.consumed.add(len(records), destination.metric)
        except AttributeError:
            pass  # not the {TopicPartition: [records]} mapping kafka-python returns
        return batches

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
