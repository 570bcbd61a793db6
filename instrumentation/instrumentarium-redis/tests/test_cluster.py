"""Cluster clients (sync and asyncio) against a real local cluster: commands and pipelines carry
the address of the node that served them, pipelines make one span."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio.cluster
from opentelemetry.trace import StatusCode

from instrumentarium.redis import RedisInstrumentor
from instrumentarium.redis._patches import PATCHES


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

    def test_pipeline_on_one_node_has_its_address(
        self, instrument, cluster, span_exporter, metric_points, key
    ):
        """A pipeline whose keys share a hash slot names the node that ran it, like a command."""
        instrument()
        first, second = f"{{{key}}}:a", f"{{{key}}}:b"
        pipe = cluster.pipeline()
        pipe.set(first, "1").set(second, "2").get(first)
        assert pipe.execute() == [True, True, b"1"]

        node = cluster.get_node_from_key(first)
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["net.peer.name"] == node.host
        assert span.attributes["net.peer.port"] == node.port
        assert span.attributes["net.transport"] == "ip_tcp"
        (point,) = metric_points()["db.client.operation.duration"]
        assert point.attributes["server.port"] == node.port

    def test_pipeline_over_several_nodes_names_none(self, instrument, cluster, span_exporter, key):
        """A pipeline spread over several nodes has no single peer: no address, nothing wrong."""
        instrument()
        keys = _keys_on_distinct_nodes(cluster, key)
        pipe = cluster.pipeline()
        for name in keys:
            pipe.set(name, "v")
        assert pipe.execute() == [True] * len(keys)

        (span,) = span_exporter.get_finished_spans()
        assert "net.peer.name" not in span.attributes
        assert "net.peer.port" not in span.attributes
        assert span.attributes["db.system"] == "redis"

    def test_client_instrumented_alone_names_the_node(
        self, instrument_client, cluster, span_exporter, key
    ):
        """instrument_client on a cluster: commands and pipelines name their node too, and
        uninstrument_client takes the patches, node hooks included, away with it."""
        instrument_client(cluster)
        cluster.set(key, "v")
        pipe = cluster.pipeline()
        pipe.get(key)
        pipe.execute()

        node = cluster.get_node_from_key(key)
        spans = span_exporter.get_finished_spans()
        assert [s.name for s in spans] == ["SET", "GET"]
        assert [s.attributes["net.peer.port"] for s in spans] == [node.port, node.port]

        RedisInstrumentor.uninstrument_client(cluster)
        assert PATCHES.applied == ()

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
        assert spans[1].attributes["net.peer.port"] == node.port


def _keys_on_distinct_nodes(cluster, prefix):
    """Keys that live on at least two different primaries."""
    by_node = {}
    for index in range(200):
        name = f"{prefix}:{index}"
        by_node.setdefault(cluster.get_node_from_key(name).name, name)
        if len(by_node) >= 2:
            return list(by_node.values())
    raise AssertionError("the cluster has a single primary")
