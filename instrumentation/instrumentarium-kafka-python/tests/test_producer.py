"""``KafkaProducer.send``: the PRODUCER span, its attributes, the headers that carry its context,
errors, hooks and suppression, against the real broker."""

from __future__ import annotations

import logging

import pytest
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError
from kafka.serializer import Serializer
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode


def _traceparent(span) -> bytes:
    context = span.get_span_context()
    flags = int(context.trace_flags)
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}".encode()


def _only_span(span_exporter):
    """The one producer span (consumers used to read the records back make spans too)."""
    (span,) = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    return span


class TestSpan:
    def test_default_span_is_upstreams(self, instrument, producer, topic, span_exporter, broker):
        """One PRODUCER span "{topic} send" with upstream's four attributes, the partition being
        the one the broker confirms."""
        instrument()
        metadata = producer.send(topic, b"value").get(timeout=20)

        span = _only_span(span_exporter)
        assert span.name == f"{topic} send"
        assert span.kind is SpanKind.PRODUCER
        assert span.instrumentation_scope.name == "instrumentarium.kafka"
        assert dict(span.attributes) == {
            "messaging.system": "kafka",
            "messaging.destination": topic,
            "messaging.url": f'"{broker}"',
            "messaging.kafka.partition": metadata.partition,
        }
        assert span.status.status_code is StatusCode.UNSET

    def test_partition_is_the_records_for_every_send(
        self, instrument, producer, topic, span_exporter, ensure_topic
    ):
        """Keyed, unkeyed and explicitly partitioned sends: each span's partition is the one in
        the record metadata the broker returned, partition 0 included."""
        ensure_topic(producer, topic)
        instrument()
        futures = [producer.send(topic, b"v", key=f"k{i}".encode()) for i in range(6)]
        futures += [producer.send(topic, b"v") for _ in range(3)]
        futures += [producer.send(topic, b"v", partition=p) for p in (0, 1, 2)]
        delivered = [future.get(timeout=20).partition for future in futures]

        recorded = [
            s.attributes["messaging.kafka.partition"] for s in span_exporter.get_finished_spans()
        ]
        assert recorded == delivered
        assert {0, 1, 2} <= set(delivered)

    def test_list_bootstrap_servers_are_json(self, instrument, broker, topic, span_exporter):
        """``messaging.url`` is the JSON of ``bootstrap_servers`` as given, as upstream."""
        producer = KafkaProducer(bootstrap_servers=[broker], retries=5)
        instrument()
        try:
            producer.send(topic, b"v").get(timeout=20)
        finally:
            producer.close(timeout=10)
        assert _only_span(span_exporter).attributes["messaging.url"] == f'["{broker}"]'

    def test_span_is_current_during_send_and_parented_on_the_callers(
        self, instrument, producer, topic, span_exporter, tracer_provider
    ):
        """The caller's span is the producer span's parent; the producer span is current while
        the produce hook (and send) run, and not after."""
        seen = []
        instrument(produce_hook=lambda span, args, kwargs: seen.append(trace.get_current_span()))
        tracer = tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("caller") as caller:
            producer.send(topic, b"v").get(timeout=20)
            assert trace.get_current_span() is caller

        send, _ = span_exporter.get_finished_spans()
        assert send.parent.span_id == caller.get_span_context().span_id
        assert seen[0].get_span_context().span_id == send.context.span_id


class TestHeaders:
    def test_context_is_appended_to_the_callers_headers_in_order(
        self, instrument, producer, topic, span_exporter, make_consumer, take
    ):
        """The record carries the caller's headers in their order, then the producer span's
        ``traceparent``; the caller's list is not mutated."""
        instrument()
        headers = [("b", b"2"), ("a", b"1"), ("a", b"3")]
        producer.send(topic, b"v", headers=headers).get(timeout=20)

        assert headers == [("b", b"2"), ("a", b"1"), ("a", b"3")]
        (record,) = take(make_consumer(topic), 1)
        span = _only_span(span_exporter)
        assert record.headers == [*headers, ("traceparent", _traceparent(span))]

    @pytest.mark.parametrize(
        "call",
        [
            pytest.param(lambda p, t, h: p.send(t, b"v", None, h), id="positional"),
            pytest.param(lambda p, t, h: p.send(t, b"v", None, tuple(h)), id="tuple"),
            pytest.param(lambda p, t, h: p.send(t, value=b"v", headers=h), id="keyword"),
        ],
    )
    def test_headers_positional_tuple_or_keyword(
        self, call, instrument, producer, topic, span_exporter, make_consumer, take
    ):
        """Headers given positionally, as a tuple, or by keyword all reach the record with the
        context added (upstream 0.66b1 fails on a tuple: ``AttributeError``)."""
        instrument()
        call(producer, topic, [("h", b"x")]).get(timeout=20)

        (record,) = take(make_consumer(topic), 1)
        assert record.headers == [
            ("h", b"x"),
            ("traceparent", _traceparent(_only_span(span_exporter))),
        ]

    @pytest.mark.parametrize(
        "call",
        [
            pytest.param(lambda p, t: p.send(t, b"v", None, None), id="positional-None"),
            pytest.param(lambda p, t: p.send(t, b"v", headers=None), id="keyword-None"),
            pytest.param(lambda p, t: p.send(t, b"v"), id="absent"),
        ],
    )
    def test_no_headers_gets_the_context_only(
        self, call, instrument, producer, topic, span_exporter, make_consumer, take
    ):
        """``headers=None`` (positional or keyword) or no headers: the record gets only the
        context."""
        instrument()
        call(producer, topic).get(timeout=20)

        (record,) = take(make_consumer(topic), 1)
        assert record.headers == [("traceparent", _traceparent(_only_span(span_exporter)))]

    def test_a_callers_traceparent_is_replaced_not_duplicated(
        self, instrument, producer, topic, span_exporter, make_consumer, take
    ):
        """A ``traceparent`` the caller set (any case) is replaced by the producer span's: the
        record carries exactly one; the caller's other headers keep their order."""
        instrument()
        stale = b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"
        headers = [("x", b"1"), ("Traceparent", stale), ("y", b"2")]
        producer.send(topic, b"v", headers=headers).get(timeout=20)

        (record,) = take(make_consumer(topic), 1)
        span = _only_span(span_exporter)
        assert record.headers == [("x", b"1"), ("y", b"2"), ("traceparent", _traceparent(span))]
        assert headers[1] == ("Traceparent", stale)

    def test_unsampled_span_still_propagates(
        self, broker, instrumentor, topic, make_consumer, take
    ):
        """A non-recording (sampled-out) producer span still puts its context in the headers, so
        the consumer side follows the same decision."""
        provider = TracerProvider(sampler=ALWAYS_OFF)
        instrumentor.instrument(tracer_provider=provider)
        producer = KafkaProducer(bootstrap_servers=broker, retries=5)
        try:
            producer.send(topic, b"v").get(timeout=20)
        finally:
            producer.close(timeout=10)
        (record,) = take(make_consumer(topic), 1)
        ((name, value),) = record.headers
        assert name == "traceparent"
        assert int(value[-2:], 16) & 1 == 0  # not sampled


class TestErrors:
    def test_send_exception_propagates_and_marks_the_span(
        self, instrument, producer, span_exporter
    ):
        """An exception raised by ``send()`` (a value that is not bytes, no serializer) reaches the
        caller unchanged; the span records it and is ERROR."""
        instrument()
        with pytest.raises(Exception) as raised:
            producer.send("some-topic", "not bytes")
        bare = KafkaProducer.__dict__["send"].__wrapped__
        with pytest.raises(type(raised.value)):
            bare(producer, "some-topic", "not bytes")

        span = _only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.events[0].name == "exception"
        assert span.events[0].attributes["exception.type"] == type(raised.value).__name__

    def test_serializer_exception_is_the_same_object(
        self, instrument, broker, topic, span_exporter
    ):
        """A value serializer's exception propagates as the very object it raised."""
        error = ValueError("cannot serialize")

        class Failing(Serializer):
            def serialize(self, topic, headers, data=None):  # 3.x; 2.x: (topic, data)
                raise error

        producer = KafkaProducer(bootstrap_servers=broker, value_serializer=Failing(), retries=5)
        instrument()
        try:
            with pytest.raises(ValueError) as raised:
                producer.send(topic, {"a": 1})
        finally:
            producer.close(timeout=10)
        assert raised.value is error
        assert _only_span(span_exporter).status.description == "ValueError: cannot serialize"

    def test_record_too_large_marks_the_span(self, instrument, broker, topic, span_exporter):
        """A record over ``max_request_size``: kafka-python 2 returns an already failed future
        (returned unchanged: ``get()`` raises the original error), kafka-python 3 raises; either
        way the caller sees kafka-python's error and the span is ERROR."""
        producer = KafkaProducer(bootstrap_servers=broker, max_request_size=1024)
        instrument()
        try:
            future = producer.send(topic, b"x" * 4096)
        except MessageSizeTooLargeError:
            pass
        else:
            with pytest.raises(MessageSizeTooLargeError):
                future.get(timeout=20)
        finally:
            producer.close(timeout=10)
        span = _only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert "MessageSizeTooLargeError" in span.status.description


class TestHooksAndSuppression:
    def test_produce_hook_sees_the_arguments_send_gets(
        self, instrument, producer, topic, span_exporter
    ):
        """``produce_hook(span, args, kwargs)`` runs inside the span with the arguments passed
        to ``send()``, headers included."""
        calls = []
        instrument(produce_hook=lambda span, args, kwargs: calls.append((span, args, dict(kwargs))))
        producer.send(topic, b"v", key=b"k").get(timeout=20)

        ((span, args, kwargs),) = calls
        assert span.get_span_context() == _only_span(span_exporter).get_span_context()
        assert args == (topic, b"v")
        assert kwargs["key"] == b"k"
        assert [name for name, _ in kwargs["headers"]] == ["traceparent"]

    def test_raising_produce_hook_is_logged_and_the_send_goes_on(
        self, instrument, producer, topic, span_exporter, caplog
    ):
        """A produce hook that raises is logged; the record is still sent and the span ends."""

        def hook(span, args, kwargs):
            raise RuntimeError("hook failed")

        instrument(produce_hook=hook)
        with caplog.at_level(logging.WARNING, logger="instrumentarium"):
            metadata = producer.send(topic, b"v").get(timeout=20)
        assert metadata.offset >= 0
        assert _only_span(span_exporter).status.status_code is StatusCode.UNSET
        assert "produce_hook" in caplog.text

    def test_suppressed_send_is_untouched(
        self, instrument, producer, topic, span_exporter, make_consumer, take
    ):
        """Under ``suppress_instrumentation()`` no span is made and the headers are left alone."""
        instrument()
        with suppress_instrumentation():
            producer.send(topic, b"v", headers=[("h", b"1")]).get(timeout=20)
        assert span_exporter.get_finished_spans() == ()
        (record,) = take(make_consumer(topic), 1)
        assert record.headers == [("h", b"1")]

    def test_uninstrumented_send_is_untouched(
        self, instrument, instrumentor, producer, topic, span_exporter, make_consumer, take
    ):
        """After ``uninstrument()`` sends make no span and carry no context."""
        instrument()
        instrumentor.uninstrument()
        producer.send(topic, b"v").get(timeout=20)
        assert span_exporter.get_finished_spans() == ()
        (record,) = take(make_consumer(topic), 1)
        assert record.headers == []


class TestMessagingConventions:
    def test_stable_attributes_and_name(
        self, instrument, producer, topic, span_exporter, broker, monkeypatch
    ):
        """``OTEL_SEMCONV_STABILITY_OPT_IN=messaging``: the current names only, the span named
        "send {topic}"."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "messaging")
        instrument()
        metadata = producer.send(topic, b"v", key=b"user-1").get(timeout=20)

        span = _only_span(span_exporter)
        host, port = broker.rsplit(":", 1)
        assert span.name == f"send {topic}"
        assert dict(span.attributes) == {
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.client.id": producer.config["client_id"],
            "server.address": host,
            "server.port": int(port),
            "messaging.kafka.message.key": "user-1",
            "messaging.destination.partition.id": str(metadata.partition),
        }

    def test_dup_emits_both_and_keeps_upstreams_name(
        self, instrument, producer, topic, span_exporter, monkeypatch
    ):
        """``messaging/dup``: old and new attributes side by side, span "{topic} send"."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "messaging/dup")
        instrument()
        metadata = producer.send(topic, b"v", key=b"\xff\xfe").get(timeout=20)

        span = _only_span(span_exporter)
        assert span.name == f"{topic} send"
        assert span.attributes["messaging.destination"] == topic
        assert span.attributes["messaging.destination.name"] == topic
        assert span.attributes["messaging.kafka.partition"] == metadata.partition
        assert span.attributes["messaging.destination.partition.id"] == str(metadata.partition)
        # a key that is not UTF-8 has no canonical string form: not recorded
        assert "messaging.kafka.message.key" not in span.attributes

    def test_send_error_type_under_the_current_conventions(
        self, instrument, broker, topic, span_exporter, monkeypatch
    ):
        """A failed send carries ``error.type`` (the exception's class) under ``messaging``."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "messaging")
        producer = KafkaProducer(bootstrap_servers=broker, max_request_size=1024)
        instrument()
        try:
            producer.send(topic, b"x" * 4096)
        except MessageSizeTooLargeError:
            pass  # kafka-python 3 raises; 2 returns a failed future
        finally:
            producer.close(timeout=10)
        assert _only_span(span_exporter).attributes["error.type"] == "MessageSizeTooLargeError"


def test_sdk_processor_sees_one_end_per_span(instrument, producer, topic, span_exporter):
    """Many sends: exactly one span each, each ended once (the autouse guard checks the latter)."""
    instrument()
    futures = [producer.send(topic, b"%d" % i) for i in range(20)]
    for future in futures:
        future.get(timeout=20)
    assert len(span_exporter.get_finished_spans()) == 20
