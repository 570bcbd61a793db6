"""The inventory service (gRPC): ``/demo.Inventory/Reserve`` counts the reservation in Redis,
records the order there, and produces it to Kafka for the fulfilment consumer.

A generic handler with JSON serializers stands in for generated stubs (no protoc needed).
"""

from __future__ import annotations

import json
import os
from concurrent import futures
from typing import Any

import grpc
import redis
from kafka import KafkaProducer
from service_common import (
    KAFKA_BOOTSTRAP,
    KEY_PREFIX,
    REDIS_URL,
    TOPIC,
    announce_ready,
    exit_on_sigterm,
)

store = redis.Redis.from_url(REDIS_URL)
producer: KafkaProducer | None = None


def _to_json(message: Any) -> bytes:
    return json.dumps(message).encode()


def reserve(order: dict[str, Any], context: grpc.ServicerContext) -> dict[str, Any]:
    order_id = str(order["order_id"])
    reserved_total = store.incrby(f"{KEY_PREFIX}reserved:{order['item']}", int(order["quantity"]))
    store.set(f"{KEY_PREFIX}order:{order_id}", "reserved")
    assert producer is not None
    # Wait for the broker's acknowledgement: the order is not reserved until Kafka has it.
    producer.send(TOPIC, key=order_id.encode(), value=_to_json(order)).get(timeout=10)
    return {"order_id": order_id, "reserved_total": reserved_total}


HANDLERS = grpc.method_handlers_generic_handler(
    "demo.Inventory",
    {
        "Reserve": grpc.unary_unary_rpc_method_handler(
            reserve, request_deserializer=json.loads, response_serializer=_to_json
        )
    },
)


def main() -> None:
    global producer  # made once the process runs, not at import
    exit_on_sigterm()
    producer = KafkaProducer(bootstrap_servers=KAFKA_BOOTSTRAP, linger_ms=0)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((HANDLERS,))
    port = server.add_insecure_port(f"127.0.0.1:{os.environ.get('DEMO_PORT', '0')}")
    server.start()
    announce_ready(port)
    try:
        server.wait_for_termination()
    finally:
        server.stop(grace=2).wait()
        producer.close(timeout=5)


if __name__ == "__main__":
    main()
