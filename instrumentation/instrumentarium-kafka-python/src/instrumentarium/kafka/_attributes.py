"""Attribute and instrument names of the messaging conventions that Kafka spans and metrics use.

Old names are what upstream emits by default; new names are the current messaging conventions
(``OTEL_SEMCONV_STABILITY_OPT_IN=messaging``). Kept here until a second messaging instrumentor
needs them, then they belong in ``instrumentarium.util``.
"""

from __future__ import annotations

from typing import Final

# both
MESSAGING_SYSTEM: Final = "messaging.system"
KAFKA: Final = "kafka"

# old (default), as upstream
MESSAGING_DESTINATION: Final = "messaging.destination"
MESSAGING_KAFKA_PARTITION: Final = "messaging.kafka.partition"
MESSAGING_URL: Final = "messaging.url"

# new (current messaging conventions)
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"
MESSAGING_DESTINATION_PARTITION_ID: Final = "messaging.destination.partition.id"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_KAFKA_MESSAGE_KEY: Final = "messaging.kafka.message.key"
MESSAGING_KAFKA_MESSAGE_TOMBSTONE: Final = "messaging.kafka.message.tombstone"
MESSAGING_KAFKA_OFFSET: Final = "messaging.kafka.offset"
MESSAGING_CONSUMER_GROUP_NAME: Final = "messaging.consumer.group.name"
MESSAGING_CLIENT_ID: Final = "messaging.client.id"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# messaging.operation.type / messaging.operation.name values
SEND: Final = "send"
RECEIVE: Final = "receive"

# metrics (no old form: upstream records none)
SENT_MESSAGES: Final = "messaging.client.sent.messages"
CONSUMED_MESSAGES: Final = "messaging.client.consumed.messages"
OPERATION_DURATION: Final = "messaging.client.operation.duration"
# The messaging conventions' advisory boundaries for messaging.client.operation.duration, in s.
DURATION_BUCKETS_S: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
