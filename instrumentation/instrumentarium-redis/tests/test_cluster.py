"""Cluster clients (sync and asyncio) against a real local cluster: commands carry the address of
the node that served them, pipelines make one span."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio.cluster
from opentelemetry.trace import StatusCode


class TestCluster:
    def test_command_has_the_connection_attributes(self, instrument, cluster, span_exporter, key):
        """A cluster command's span has db.system, the index and the serving node's address."""
        instrument()
        cluster.set(key, "v")

        node = cluster.get_node_from_key(key)
        (span,) = span_exporter.get_finished_spans()
        assert span.name == "SET"
        assert span.attributes["db.system"] == "redis"
        assert span.attributes["db.redis.database_index"] == 0
        assert span.attributes["net.peer.name"] == node.host
        assert span.attributes["net.peer.port"] == node.port
        assert span.attributes["net.transport"] == "ip_tcp"

    def test_pipeline_is_one_span(self, instrument, cluster, span_exporter, key):
        """A cluster pipeline makes one span with its commands (none lost on redis-py 6+)."""
        instrument()
        pipe = cluster.pipeline()
        pipe.set(key, "v").get(key)
        assert pipe.execute() == [True, b"v"]

        (span,) = span_exporter.get_finished_spans()
        assert span.name == "SET GET"
        assert span.attributes["db.redis.pipeline_length"] == 2

    def test_error(self, instrument, cluster, span_exporter, key):
        """A server error on a cluster propagates and the span is ERROR."""
        instrument()
        cluster.set(key, "v")
        with pytest.raises(redis.ResponseError):
            cluster.lpush(key, "x")

        assert span_exporter.get_finished_spans()[-1].status.status_code is StatusCode.ERROR


class TestAsyncCluster:
    def test_command_and_pipeline(self, instrument, async_cluster_nodes, span_exporter, key):
        """asyncio cluster commands carry the node's address; pipelines make one span."""
        instrument()

        async def run():
            client = redis.asyncio.cluster.RedisCluster(startup_nodes=async_cluster_nodes)
            await client.ping()  # the first command may be redirected while slots are learned
            span_exporter.clear()
            await client.set(key, "v")
            node = client.get_node_from_key(key)
            pipe = client.pipeline()
            pipe.get(key)
            pipe.get(key)
            await pipe.execute()
            await client.aclose() if hasattr(client, "aclose") else await client.close()
            return node

        node = asyncio.run(run())

        spans = span_exporter.get_finished_spans()
        assert [s.name for s in spans] == ["SET", "GET GET"]
        assert spans[0].attributes["net.peer.port"] == node.port
        assert spans[1].attributes["db.redis.pipeline_length"] == 2
