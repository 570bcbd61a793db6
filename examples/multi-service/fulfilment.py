"""The fulfilment worker (kafka-python consumer): takes each order off the topic and marks it
fulfilled in Redis.

Its one manual span, ``fulfil order``, covers the work done for one message. instrumentarium-kafka
(like upstream's kafka-python instrumentation) gives each record a CONSUMER span ``<topic>
receive`` that has ended by the time the iterator hands the record over, so nothing is current
while the worker handles it: the manual span takes its parent from the record's headers (the
producer's context, which the receive span continues too), and stays in the request's trace.
"""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType
from typing import Optional

import redis
from kafka import KafkaConsumer, TopicPartition
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from service_common import (
    CONSUMER_GROUP,
    KAFKA_BOOTSTRAP,
    KEY_PREFIX,
    REDIS_URL,
    TOPIC,
    announce_ready,
)

tracer = trace.get_tracer("demo.fulfilment")


class _HeaderGetter(Getter[list[tuple[str, bytes]]]):
    """Reads a kafka-python record's ``[(key, bytes)]`` headers for ``propagate.extract``."""

    def get(self, carrier: list[tuple[str, bytes]], key: str) -> Optional[list[str]]:
        values = [value.decode() for name, value in carrier if name == key and value]
        return values or None

    def keys(self, carrier: list[tuple[str, bytes]]) -> list[str]:
        return [name for name, _ in carrier]


HEADERS = _HeaderGetter()
stopping = threading.Event()


def fulfil(store: redis.Redis, headers: list[tuple[str, bytes]], order: dict[str, str]) -> None:
    parent = propagate.extract(headers, getter=HEADERS)
    with tracer.start_as_current_span("fulfil order", context=parent) as span:
        span.set_attribute("demo.order_id", order["order_id"])
        store.set(f"{KEY_PREFIX}order:{order['order_id']}", "fulfilled")


def main() -> None:
    def stop(signum: int, frame: Optional[FrameType]) -> None:
        stopping.set()

    # SIGTERM ends the loop below between records (not inside a poll), then the process exits
    # normally and the SDK flushes.
    signal.signal(signal.SIGTERM, stop)
    store = redis.Redis.from_url(REDIS_URL)
    consumer = KafkaConsumer(
        bootstrap_servers=KAFKA_BOOTSTRAP,
        group_id=CONSUMER_GROUP,  # for the committed offsets (and messaging.consumer.group.name)
        auto_offset_reset="earliest",  # a record produced before the first fetch is not missed
        consumer_timeout_ms=100,  # the iterator returns every 100 ms with nothing to read
    )
    # The demo's topic has one partition, which this worker takes explicitly rather than through
    # a group rebalance: kafka-python 3.0.12 sometimes stops heartbeating when the group
    # rebalances right after the first join (about one start in 25 here), and waits forever.
    consumer.assign([TopicPartition(TOPIC, 0)])
    try:
        announce_ready(0)
        while not stopping.is_set():
            for message in consumer:
                fulfil(store, message.headers, json.loads(message.value))
                if stopping.is_set():
                    break
    finally:
        consumer.close()
        store.close()


if __name__ == "__main__":
    main()
