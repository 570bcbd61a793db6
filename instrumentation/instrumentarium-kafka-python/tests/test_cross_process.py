"""Context crosses processes through the broker: records produced in one (instrumented) process
and consumed in this one arrive intact, each consumer span a child of its record's producer span.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from opentelemetry.trace import SpanKind

COUNT = 40

PRODUCER = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from instrumentarium.kafka import KafkaInstrumentor

    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    KafkaInstrumentor().instrument(tracer_provider=provider)
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, retries=5)
    sent = []
    for i in range(count):
        value = b"record-%d" % i
        key = b"key-%d" % (i % 5) if i % 2 else None
        headers = [("user", b"h%d" % i), ("order", b"%d" % i)] if i % 3 else None
        partition = i % 3 if i % 4 == 0 else None
        metadata = producer.send(
            topic, value, key=key, headers=headers, partition=partition
        ).get(timeout=30)
        span = exporter.get_finished_spans()[-1]
        sent.append({
            "value": value.decode(), "key": key and key.decode(),
            "headers": [[k, v.decode()] for k, v in headers or []],
            "partition": metadata.partition, "offset": metadata.offset,
            "trace_id": span.context.trace_id, "span_id": span.context.span_id,
            "span_partition": span.attributes["messaging.kafka.partition"],
        })
    producer.close(timeout=10)
    json.dump(sent, sys.stdout)
    """
)


def test_records_produced_elsewhere_are_consumed_intact_and_linked(
    instrument, broker, topic, span_exporter, make_consumer, take
):
    """N records (with and without user headers, keyed and unkeyed, several partitions) produced
    by another process: all arrive with their value, key and headers; each consumer span's parent
    is the producer span of that record."""
    result = subprocess.run(
        [sys.executable, "-c", PRODUCER, broker, topic, str(COUNT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sent = {entry["value"]: entry for entry in json.loads(result.stdout)}
    assert len({entry["partition"] for entry in sent.values()}) == 3

    instrument()
    records = take(make_consumer(topic), COUNT)
    spans = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]

    assert len(spans) == COUNT
    assert sorted(r.value.decode() for r in records) == sorted(sent)
    for record, span in zip(records, spans):
        expected = sent[record.value.decode()]
        assert (record.partition, record.offset) == (expected["partition"], expected["offset"])
        assert expected["span_partition"] == expected["partition"]
        assert (record.key and record.key.decode()) == expected["key"]
        user_headers = [[k, v.decode()] for k, v in record.headers[:-1]]
        assert user_headers == expected["headers"]
        assert record.headers[-1][0] == "traceparent"
        assert span.parent.trace_id == expected["trace_id"]
        assert span.parent.span_id == expected["span_id"]
        assert span.context.trace_id == expected["trace_id"]
