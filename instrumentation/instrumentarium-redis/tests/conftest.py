"""Fixtures for the instrumentarium-redis tests: real servers, started by ``scripts/services``.

The servers are found through the variables ``scripts/services`` reads, with its defaults:
``INSTRUMENTARIUM_REDIS_URL`` (``redis://127.0.0.1:6390/0``), ``INSTRUMENTARIUM_REDIS_SOCKET``
(``.cache/services/redis/redis.sock``) and ``INSTRUMENTARIUM_REDIS_CLUSTER_NODES``
(``127.0.0.1:7100,...``). A server that does not answer fails the test, saying how to start it.

``RedisInstrumentor`` is a process-wide singleton that patches redis-py's classes: every test goes
through ``instrumentor``, which undoes whatever the test instrumented. Keys are unique per test
(``key``), so tests can share the servers with each other and with parallel workers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.redis import RedisInstrumentor

ROOT = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("INSTRUMENTARIUM_REDIS_URL", "redis://127.0.0.1:6390/0")
REDIS_SOCKET = os.environ.get(
    "INSTRUMENTARIUM_REDIS_SOCKET", str(ROOT / ".cache/services/redis/redis.sock")
)
CLUSTER_NODES = os.environ.get(
    "INSTRUMENTARIUM_REDIS_CLUSTER_NODES",
    ",".join(f"127.0.0.1:{port}" for port in range(7100, 7106)),
)
HOST = redis.connection.parse_url(REDIS_URL).get("host", "127.0.0.1")
PORT = int(redis.connection.parse_url(REDIS_URL).get("port", 6379))


def _cluster_startup_nodes() -> list[redis.cluster.ClusterNode]:
    nodes = []
    for address in CLUSTER_NODES.split(","):
        host, _, port = address.strip().rpartition(":")
        nodes.append(redis.cluster.ClusterNode(host, int(port)))
    return nodes


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


@pytest.fixture(autouse=True)
def _no_span_leaks_as_current() -> Iterator[None]:
    yield
    assert not trace.get_current_span().get_span_context().is_valid, "a span leaked as current"


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
