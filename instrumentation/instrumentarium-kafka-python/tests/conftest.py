"""Fixtures for the instrumentarium-kafka-python tests: a real Kafka broker (KRaft), started by
``scripts/services start kafka``.

The broker is found where ``tests/support/services.py`` says (``INSTRUMENTARIUM_KAFKA_BOOTSTRAP``
or ``INSTRUMENTARIUM_KAFKA_PORT``, with the defaults of ``scripts/services.d/kafka.sh``). When
nothing listens there the broker tests are skipped, saying how to start it; CI always starts it.
Topics are unique per test (the broker creates them on first use with three partitions), so
tests can share the broker with each other and with parallel workers.

``KafkaInstrumentor`` is a process-wide singleton that patches kafka-python's classes: every test
goes through ``instrumentor``, which undoes whatever the test instrumented.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from typing import Any, Callable

import pytest

# kafka-python 3 reads its protocol schemas with importlib.resources.read_text, deprecated on
# Python 3.11 and 3.12 (warned once, at import): its warning, not ours.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from instrumentarium.kafka import KafkaInstrumentor
from tests.support.services import KAFKA_BOOTSTRAP as BOOTSTRAP
from tests.support.services import listens

PARTITIONS = 3  # num.partitions of the broker scripts/services runs
WAIT_MS = 20_000  # the longest a consumer waits for records before the test fails
# A topic the broker has just created may not have a leader yet: kafka-python 2 does not retry
# by default (3 does), so the first send could fail with NotLeaderForPartitionError.
RETRIES = 5


@pytest.fixture(scope="session")
def broker() -> str:
    """The bootstrap address; skips the test when no broker listens there."""
    if not listens(BOOTSTRAP):
        pytest.skip(f"no Kafka broker at {BOOTSTRAP}; start one with: scripts/services start kafka")
    return BOOTSTRAP


@pytest.fixture
def topic(request: pytest.FixtureRequest, broker: str) -> str:
    """A topic no other test (or xdist worker) uses; created with three partitions."""
    name = f"test-{request.node.name[:60]}-{uuid.uuid4().hex[:12]}"
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


@pytest.fixture
def instrumentor() -> Iterator[KafkaInstrumentor]:
    """The singleton, uninstrumented again when the test ends."""
    instance = KafkaInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


@pytest.fixture
def producer(broker: str) -> Iterator[KafkaProducer]:
    client = KafkaProducer(bootstrap_servers=broker, linger_ms=0, retries=RETRIES)
    yield client
    client.close(timeout=10)


@pytest.fixture
def make_consumer(broker: str) -> Iterator[Callable[..., KafkaConsumer]]:
    """``make_consumer(topic, group=False, **config)``: a consumer reading ``topic`` from the
    start, assigned every partition (no group), or subscribed in a new group with
    ``group=True``; closed when the test ends."""
    consumers: list[KafkaConsumer] = []

    def make_consumer(topic: str, group: bool = False, **config: Any) -> KafkaConsumer:
        config.setdefault("auto_offset_reset", "earliest")
        config.setdefault("consumer_timeout_ms", WAIT_MS)
        if group:
            consumer = KafkaConsumer(
                topic, bootstrap_servers=broker, group_id=f"group-{uuid.uuid4().hex}", **config
            )
        else:
            consumer = KafkaConsumer(bootstrap_servers=broker, group_id=None, **config)
            consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        consumers.append(consumer)
        return consumer

    yield make_consumer
    for consumer in consumers:
        consumer.close(autocommit=False)


def _ensure_topic(producer: KafkaProducer, topic: str) -> None:
    """Create ``topic`` (the broker auto-creates it) and wait until its partitions are known."""
    partitions = producer.partitions_for(topic)
    assert partitions is not None
    assert len(partitions) == PARTITIONS, partitions


def _take(consumer: KafkaConsumer, count: int) -> list[Any]:
    """``count`` records by iteration; fails when fewer arrive within the consumer's timeout."""
    records = []
    for record in consumer:
        records.append(record)
        if len(records) == count:
            break
    assert len(records) == count, f"got {len(records)} of {count} records"
    return records


def _poll_records(consumer: KafkaConsumer, count: int) -> list[Any]:
    """``count`` records by ``poll()``, in the order poll returned them."""
    records: list[Any] = []
    for _ in range(WAIT_MS // 500):
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
        if len(records) >= count:
            break
    assert len(records) == count, f"got {len(records)} of {count} records"
    return records


@pytest.fixture
def ensure_topic() -> Callable[[KafkaProducer, str], None]:
    return _ensure_topic


@pytest.fixture
def take() -> Callable[[KafkaConsumer, int], list[Any]]:
    return _take


@pytest.fixture
def poll_records() -> Callable[[KafkaConsumer, int], list[Any]]:
    return _poll_records
