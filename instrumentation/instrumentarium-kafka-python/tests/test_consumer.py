"""``KafkaConsumer.__next__`` and ``poll()``: one CONSUMER span per record, parented on the
producer's context from the headers, hooks and suppression, against the real broker."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode


def _spans(span_exporter, kind):
    return [s for s in span_exporter.get_finished_spans() if s.kind is kind]


def _producer_spans_by_value(span_exporter, values):
    """Producer spans in send order, keyed by the value each send carried."""
    return dict(zip(values, _spans(span_exporter, SpanKind.PRODUCER)))


class TestIteration:
    def test_one_span_per_record_parented_on_its_producer_span(
        self, instrument, producer, topic, span_exporter, make_consumer, take, broker
    ):
        """Iterating: each record gets one CONSUMER span "{topic} receive" whose parent is the
        producer span of that very record, with upstream's attributes; none is left open."""
        instrument()
        values = [b"m%d" % i for i in range(9)]
        for value in values:
            producer.send(topic, value, key=value[-1:])
        producer.flush(timeout=20)
        sent = _producer_spans_by_value(span_exporter, values)

        records = take(make_consumer(topic), len(values))
        received = _spans(span_exporter, SpanKind.CONSUMER)

        assert len(received) == len(records)
        for record, span in zip(records, received):
            producer_span = sent[record.value]
            assert span.name == f"{topic} receive"
            assert span.parent.span_id == producer_span.context.span_id
            assert span.context.trace_id == producer_span.context.trace_id
            assert dict(span.attributes) == {
                "messaging.system": "kafka",
                "messaging.destination": topic,
                "messaging.kafka.partition": record.partition,
                "messaging.url": f'"{broker}"',
            }
        assert sorted(r.value for r in records) == sorted(values)

    def test_group_consumer_iteration(
        self, instrument, producer, topic, span_exporter, make_consumer, take
    ):
        """A consumer in a group (subscribe, rebalance) gets exactly one span per record too."""
        instrument()
        for i in range(5):
            producer.send(topic, b"%d" % i)
        producer.flush(timeout=20)
        take(make_consumer(topic, group=True), 5)
        assert len(_spans(span_exporter, SpanKind.CONSUMER)) == 5

    def test_record_without_context_is_a_child_of_the_current_span(
        self,
        instrumentor,
        instrument,
        producer,
        topic,
        span_exporter,
        make_consumer,
        take,
        tracer_provider,
    ):
        """A record with no trace headers: its span's parent is the caller's current span."""
        producer.send(topic, b"plain", headers=[("h", b"1")]).get(timeout=20)
        instrument()
        consumer = make_consumer(topic)
        with tracer_provider.get_tracer("test").start_as_current_span("loop") as loop:
            (record,) = take(consumer, 1)
        (span,) = _spans(span_exporter, SpanKind.CONSUMER)
        assert record.headers == [("h", b"1")]
        assert span.parent.span_id == loop.get_span_context().span_id

    def test_stopiteration_makes_no_span(self, instrument, topic, span_exporter, make_consumer):
        """An iteration that times out with no record ends without a span."""
        instrument()
        consumer = make_consumer(topic, consumer_timeout_ms=500)
        assert list(consumer) == []
        assert span_exporter.get_finished_spans() == ()


class TestPoll:
    def test_poll_gives_each_record_a_span(
        self, instrument, producer, topic, span_exporter, make_consumer, poll_records
    ):
        """``poll()``: one CONSUMER span per returned record, each parented on its producer."""
        instrument()
        values = [b"p%d" % i for i in range(7)]
        for value in values:
            producer.send(topic, value)
        producer.flush(timeout=20)
        sent = _producer_spans_by_value(span_exporter, values)

        records = poll_records(make_consumer(topic), len(values))
        received = _spans(span_exporter, SpanKind.CONSUMER)
        assert len(received) == len(values)
        by_parent = {span.parent.span_id for span in received}
        assert by_parent == {sent[r.value].context.span_id for r in records}

    def test_empty_poll_makes_no_span(self, instrument, topic, span_exporter, make_consumer):
        """A ``poll()`` that returns nothing makes no span."""
        instrument()
        assert make_consumer(topic).poll(timeout_ms=200) == {}
        assert span_exporter.get_finished_spans() == ()


class TestHooksAndSuppression:
    def test_consume_hook_runs_inside_the_span(
        self, instrument, producer, topic, span_exporter, make_consumer, take
    ):
        """``consume_hook(span, record, args, kwargs)`` gets the record it is about, with the span
        current; the span is no longer current afterwards."""
        calls = []

        def hook(span, record, args, kwargs):
            calls.append((span, record, args, kwargs, trace.get_current_span()))

        instrument(consume_hook=hook)
        producer.send(topic, b"v").get(timeout=20)
        (record,) = take(make_consumer(topic), 1)

        ((span, seen, args, kwargs, current),) = calls
        assert seen is record
        assert (args, kwargs) == ((), {})
        assert current is span
        assert span.get_span_context() == _spans(span_exporter, SpanKind.CONSUMER)[0].context

    def test_consume_hook_gets_polls_arguments(
        self, instrument, producer, topic, make_consumer, poll_records
    ):
        """For ``poll()``, the hook gets poll's own arguments."""
        calls = []
        instrument(consume_hook=lambda span, record, args, kwargs: calls.append(kwargs))
        producer.send(topic, b"v").get(timeout=20)
        poll_records(make_consumer(topic), 1)
        assert calls == [{"timeout_ms": 500}]

    def test_raising_consume_hook_is_logged_and_the_record_returned(
        self, instrument, producer, topic, span_exporter, make_consumer, take, caplog
    ):
        """A consume hook that raises is logged; the record is still returned, its span ended."""

        def hook(span, record, args, kwargs):
            raise RuntimeError("hook failed")

        instrument(consume_hook=hook)
        producer.send(topic, b"v").get(timeout=20)
        with caplog.at_level(logging.WARNING, logger="instrumentarium"):
            (record,) = take(make_consumer(topic), 1)
        assert record.value == b"v"
        (span,) = _spans(span_exporter, SpanKind.CONSUMER)
        assert span.status.status_code is StatusCode.UNSET
        assert "consume_hook" in caplog.text

    @pytest.mark.parametrize("how", ["iterate", "poll"])
    def test_suppressed_consumer_makes_no_span(
        self, how, instrument, producer, topic, span_exporter, make_consumer, take, poll_records
    ):
        """Under ``suppress_instrumentation()`` consuming makes no span."""
        producer.send(topic, b"v").get(timeout=20)
        instrument()
        consumer = make_consumer(topic)
        with suppress_instrumentation():
            (record,) = take(consumer, 1) if how == "iterate" else poll_records(consumer, 1)
        assert record.value == b"v"
        assert span_exporter.get_finished_spans() == ()


class TestMessagingConventions:
    def test_stable_attributes(
        self, instrument, producer, topic, span_exporter, make_consumer, take, broker, monkeypatch
    ):
        """``messaging``: destination, partition id, offset, key, tombstone, group, client id and
        server, span named "receive {topic}"."""
        producer.send(topic, None, key=b"user-7", partition=1).get(timeout=20)
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "messaging")
        instrument()
        consumer = make_consumer(topic, group=True, client_id="reader-1")
        (record,) = take(consumer, 1)

        (span,) = _spans(span_exporter, SpanKind.CONSUMER)
        host, port = broker.rsplit(":", 1)
        assert span.name == f"receive {topic}"
        assert dict(span.attributes) == {
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": "1",
            "messaging.operation.type": "receive",
            "messaging.operation.name": "receive",
            "messaging.kafka.offset": record.offset,
            "messaging.kafka.message.key": "user-7",
            "messaging.kafka.message.tombstone": True,
            "messaging.consumer.group.name": consumer.config["group_id"],
            "messaging.client.id": "reader-1",
            "server.address": host,
            "server.port": int(port),
        }

    def test_dup_keeps_upstreams_name_and_both_sets(
        self, instrument, producer, topic, span_exporter, make_consumer, poll_records, monkeypatch
    ):
        """``messaging/dup``: "{topic} receive", old and new attributes."""
        producer.send(topic, b"v", partition=2).get(timeout=20)
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "messaging/dup")
        instrument()
        (record,) = poll_records(make_consumer(topic), 1)
        (span,) = _spans(span_exporter, SpanKind.CONSUMER)
        assert span.name == f"{topic} receive"
        assert span.attributes["messaging.kafka.partition"] == 2
        assert span.attributes["messaging.destination.partition.id"] == "2"
        assert span.attributes["messaging.kafka.offset"] == record.offset
        assert "messaging.kafka.message.tombstone" not in span.attributes
