"""Fixtures for the instrumentarium-redis tests: real servers, started by ``scripts/services``.

The single node (TCP and unix socket) and the cluster's nodes are found where
``tests/support/services.py`` says (the variables ``scripts/services`` reads, with its defaults).
A server that does not answer fails the test, saying how to start it.

``RedisInstrumentor`` is a process-wide singleton that patches redis-py's classes: every test goes
through ``instrumentor``, which undoes whatever the test instrumented. Keys are unique per test
(``key``), so tests can share the servers with each other and with parallel workers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.redis import RedisInstrumentor
from tests.support.services import REDIS_CLUSTER_NODES, REDIS_SOCKET, REDIS_URL, split_address

CLUSTER_NODES = ",".join(REDIS_CLUSTER_NODES)
HOST = redis.connection.parse_url(REDIS_URL).get("host", "127.0.0.1")
PORT = int(redis.connection.parse_url(REDIS_URL).get("port", 6379))


def _cluster_startup_nodes() -> list[redis.cluster.ClusterNode]:
    return [redis.cluster.ClusterNode(*split_address(node)) for node in REDIS_CLUSTER_NODES]


def _unreachable(what: str, service: str, exc: Exception) -> None:
    pytest.fail(
        f"no {what} ({exc}); start it with: scripts/services start {service}", pytrace=False
    )


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The single node's URL, checked once: fails with how to start it when it is down."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        _unreachable(f"Redis at {REDIS_URL}", "redis", exc)
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_cluster() -> list[redis.cluster.ClusterNode]:
    """The cluster's startup nodes, checked once (``cluster_state:ok``)."""
    try:
        probe = redis.cluster.RedisCluster(startup_nodes=_cluster_startup_nodes())
        info = probe.cluster_info()
        probe.close()
    except (redis.RedisError, IndexError) as exc:
        _unreachable(f"Redis cluster at {CLUSTER_NODES}", "redis-cluster", exc)
    if info.get("cluster_state") != "ok":
        pytest.fail(f"the Redis cluster at {CLUSTER_NODES} is not ok: {info}", pytrace=False)
    return _cluster_startup_nodes()


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    """A key no other test (or xdist worker) uses."""
    return f"instrumentarium:test:{request.node.name}:{uuid.uuid4().hex}"


@pytest.fixture
def instrumentor() -> Iterator[RedisInstrumentor]:
    """The singleton, uninstrumented again when the test ends."""
    instance = RedisInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


@pytest.fixture
def instrument_client(
    instrumentor: RedisInstrumentor,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
) -> Iterator[Callable[..., None]]:
    """``instrument_client(client, **kwargs)`` with the test's providers; undone at the end."""
    clients: list[Any] = []

    def instrument_client(client: Any, **kwargs: Any) -> None:
        kwargs.setdefault("tracer_provider", tracer_provider)
        kwargs.setdefault("meter_provider", meter_provider)
        RedisInstrumentor.instrument_client(client, **kwargs)
        clients.append(client)

    yield instrument_client
    for client in clients:
        if "_instrumentarium_redis" in client.__dict__:
            RedisInstrumentor.uninstrument_client(client)


@pytest.fixture
def client(redis_server: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server)
    yield connection
    connection.close()


@pytest.fixture
def unix_client(redis_server: str) -> Iterator[redis.Redis]:
    connection = redis.Redis(unix_socket_path=REDIS_SOCKET)
    try:
        connection.ping()
    except redis.RedisError as exc:
        _unreachable(f"Redis socket at {REDIS_SOCKET}", "redis", exc)
    yield connection
    connection.close()


@pytest.fixture
def cluster(redis_cluster: list[redis.cluster.ClusterNode]) -> Iterator[redis.cluster.RedisCluster]:
    connection = redis.cluster.RedisCluster(startup_nodes=redis_cluster)
    yield connection
    connection.close()


@pytest.fixture
def async_cluster_nodes(
    redis_cluster: list[redis.cluster.ClusterNode],
) -> list[redis.asyncio.cluster.ClusterNode]:
    return [redis.asyncio.cluster.ClusterNode(n.host, n.port) for n in redis_cluster]
