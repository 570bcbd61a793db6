"""The messaging metrics: ``messaging.client.sent.messages``,
``messaging.client.consumed.messages`` and ``messaging.client.operation.duration``."""

from __future__ import annotations

from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError


def _by_operation(points):
    return {p.attributes["messaging.operation.name"]: p for p in points}


class TestProducerMetrics:
    def test_sends_are_counted_and_timed(self, instrument, producer, topic, metric_points, broker):
        """Each ``send()`` adds one to ``sent.messages`` and one duration, with the bounded
        attribute set (system, operation, destination, server)."""
        instrument()
        for i in range(4):
            producer.send(topic, b"%d" % i)
        producer.flush(timeout=20)

        points = metric_points()
        (sent,) = points["messaging.client.sent.messages"]
        (duration,) = points["messaging.client.operation.duration"]
        host, port = broker.rsplit(":", 1)
        expected = {
            "messaging.system": "kafka",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "server.address": host,
            "server.port": int(port),
        }
        assert sent.value == 4
        assert dict(sent.attributes) == expected
        assert duration.count == 4
        assert dict(duration.attributes) == expected

    def test_duration_uses_the_advisory_buckets(
        self, instrument, producer, topic, metric_points, sdk_takes_advisory_buckets
    ):
        """The duration histogram has the messaging conventions' boundaries, in seconds."""
        instrument()
        producer.send(topic, b"v").get(timeout=20)
        (duration,) = metric_points()["messaging.client.operation.duration"]
        if sdk_takes_advisory_buckets:
            assert tuple(duration.explicit_bounds)[:3] == (0.005, 0.01, 0.025)
            assert tuple(duration.explicit_bounds)[-1] == 10.0

    def test_failed_send_carries_error_type(self, instrument, broker, topic, metric_points):
        """A send that fails is still counted, with ``error.type``."""
        producer = KafkaProducer(bootstrap_servers=broker, max_request_size=1024)
        instrument()
        try:
            producer.send(topic, b"x" * 4096)
        except MessageSizeTooLargeError:
            pass  # kafka-python 3 raises; 2 returns a failed future
        finally:
            producer.close(timeout=10)
        (sent,) = metric_points()["messaging.client.sent.messages"]
        assert sent.attributes["error.type"] == "MessageSizeTooLargeError"

    def test_suppressed_send_records_nothing(self, instrument, producer, topic, metric_points):
        """Suppressed sends are neither counted nor timed."""
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        instrument()
        with suppress_instrumentation():
            producer.send(topic, b"v").get(timeout=20)
        assert "messaging.client.sent.messages" not in metric_points()


class TestConsumerMetrics:
    def test_iterated_records_are_counted(
        self, instrument, producer, topic, make_consumer, take, metric_points
    ):
        """Every record iteration hands out is counted once, with the consumer group; the polls
        that fetched them are timed as ``receive``."""
        for i in range(6):
            producer.send(topic, b"%d" % i)
        producer.flush(timeout=20)
        instrument()
        consumer = make_consumer(topic, group=True)
        take(consumer, 6)

        points = metric_points()
        (consumed,) = points["messaging.client.consumed.messages"]
        assert consumed.value == 6
        assert consumed.attributes["messaging.destination.name"] == topic
        assert consumed.attributes["messaging.consumer.group.name"] == consumer.config["group_id"]
        receive = _by_operation(points["messaging.client.operation.duration"])["receive"]
        assert receive.count >= 1

    def test_polled_records_are_counted(
        self, instrument, producer, topic, make_consumer, poll_records, metric_points
    ):
        """Records returned by ``poll()`` are counted; only polls that returned records are
        timed."""
        for i in range(5):
            producer.send(topic, b"%d" % i)
        producer.flush(timeout=20)
        instrument()
        consumer = make_consumer(topic)
        poll_records(consumer, 5)
        polls_with_records = metric_points()["messaging.client.operation.duration"][0].count
        consumer.poll(timeout_ms=100)  # nothing left: not timed

        points = metric_points()
        (consumed,) = points["messaging.client.consumed.messages"]
        assert consumed.value == 5
        assert "messaging.consumer.group.name" not in consumed.attributes
        (duration,) = points["messaging.client.operation.duration"]
        assert duration.count == polls_with_records >= 1


class TestCounterExport:
    def test_counters_encode_to_otlp(
        self, instrument, producer, topic, make_consumer, take, metric_reader
    ):
        """The sent and consumed counts, as this SDK exports them, encode to an OTLP request
        (on SDK 1.28.0 asynchronous counters would make the encoder raise and the whole export
        be dropped; there the counters are synchronous)."""
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

        instrument()
        for i in range(3):
            producer.send(topic, b"%d" % i)
        producer.flush(timeout=20)
        take(make_consumer(topic), 3)

        request = encode_metrics(metric_reader.get_metrics_data())
        decoded = type(request).FromString(request.SerializeToString())
        sums = {
            m.name: sum(p.as_int for p in m.sum.data_points)
            for rm in decoded.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.HasField("sum")
        }
        assert sums == {
            "messaging.client.sent.messages": 3,
            "messaging.client.consumed.messages": 3,
        }

    def test_synchronous_fallback_counts_the_same(
        self, instrument, producer, topic, make_consumer, take, metric_points, monkeypatch
    ):
        """Where the SDK cannot export asynchronous counters, synchronous ones of the same name
        and unit count the same messages with the same attributes."""
        from instrumentarium.kafka._patches import ACTIVE
        from instrumentarium.util import metrics

        monkeypatch.setattr(metrics, "observables_export_correctly", lambda: False)
        instrument()
        telemetry = ACTIVE.global_
        assert telemetry is not None
        assert (telemetry.sent.observed, telemetry.consumed.observed) == (False, False)
        for i in range(4):
            producer.send(topic, b"%d" % i)
        producer.flush(timeout=20)
        take(make_consumer(topic, group=True), 4)

        points = metric_points()
        (sent,) = points["messaging.client.sent.messages"]
        (consumed,) = points["messaging.client.consumed.messages"]
        assert (sent.value, consumed.value) == (4, 4)
        assert sent.attributes["messaging.destination.name"] == topic
        assert sent.attributes["messaging.operation.name"] == "send"
        assert consumed.attributes["messaging.operation.name"] == "receive"
        assert "messaging.consumer.group.name" in consumed.attributes
