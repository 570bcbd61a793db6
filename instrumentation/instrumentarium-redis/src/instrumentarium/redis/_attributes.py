"""Attribute and instrument names of the database conventions that Redis spans and metrics use.

Old names are what upstream emits by default; new names are the stable database conventions
(``OTEL_SEMCONV_STABILITY_OPT_IN=database``). Kept here until a second database instrumentor
needs them, then they belong in ``instrumentarium.util``.
"""

from __future__ import annotations

from typing import Final

# old (default)
DB_SYSTEM: Final = "db.system"
DB_STATEMENT: Final = "db.statement"
DB_REDIS_DATABASE_INDEX: Final = "db.redis.database_index"
DB_REDIS_ARGS_LENGTH: Final = "db.redis.args_length"
DB_REDIS_PIPELINE_LENGTH: Final = "db.redis.pipeline_length"
NET_PEER_NAME: Final = "net.peer.name"
NET_PEER_PORT: Final = "net.peer.port"
NET_TRANSPORT: Final = "net.transport"

# new (stable)
DB_SYSTEM_NAME: Final = "db.system.name"
DB_QUERY_TEXT: Final = "db.query.text"
DB_NAMESPACE: Final = "db.namespace"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_OPERATION_BATCH_SIZE: Final = "db.operation.batch.size"
DB_RESPONSE_STATUS_CODE: Final = "db.response.status_code"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
NETWORK_TRANSPORT: Final = "network.transport"
ERROR_TYPE: Final = "error.type"

REDIS: Final = "redis"

# net.transport / network.transport values
IP_TCP: Final = "ip_tcp"
OTHER: Final = "other"
TCP: Final = "tcp"
UNIX: Final = "unix"

DB_CLIENT_OPERATION_DURATION: Final = "db.client.operation.duration"
# The database conventions' advisory boundaries for db.client.operation.duration, in seconds.
DURATION_BUCKETS_S: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
