"""``RedisInstrumentor``: instrument / uninstrument (global and per client), the entry point, the
deferred patching and the public surface of ``instrumentarium.redis``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import redis
import redis.asyncio
import redis.cluster

import instrumentarium.redis
from instrumentarium.redis import RedisInstrumentor

ORIGINALS = {
    (redis.client.Redis, "execute_command"): redis.client.Redis.__dict__["execute_command"],
    (redis.client.Pipeline, "execute"): redis.client.Pipeline.__dict__["execute"],
    (redis.cluster.RedisCluster, "execute_command"): redis.cluster.RedisCluster.__dict__[
        "execute_command"
    ],
    (redis.asyncio.Redis, "execute_command"): redis.asyncio.Redis.__dict__["execute_command"],
}


def _names(exporter):
    return [span.name for span in exporter.get_finished_spans()]


class TestInstrument:
    def test_uninstrument_restores_every_class(self, instrument, instrumentor):
        """``uninstrument()`` leaves the original functions, not a wrapper, on every class."""
        instrument()
        assert (
            redis.client.Redis.__dict__["execute_command"]
            is not ORIGINALS[(redis.client.Redis, "execute_command")]
        )
        instrumentor.uninstrument()

        for (klass, name), original in ORIGINALS.items():
            assert klass.__dict__[name] is original

    def test_instrument_again_after_uninstrument(
        self, instrument, instrumentor, client, span_exporter, key
    ):
        """instrument, uninstrument, instrument: one span per command, none while off."""
        instrument()
        instrumentor.uninstrument()
        client.get(key)
        instrument()
        client.get(key)

        assert _names(span_exporter) == ["GET"]

    def test_importing_does_not_import_redis(self):
        """Importing the package leaves redis unimported; instrument() patches it on import."""
        code = (
            "import sys\n"
            "from instrumentarium.redis import RedisInstrumentor\n"
            "assert 'redis' not in sys.modules\n"
            "RedisInstrumentor().instrument()\n"
            "assert 'redis' not in sys.modules\n"
            "import redis\n"
            "print(type(redis.Redis.__dict__['execute_command']).__name__)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "FunctionWrapper"

    def test_cycles_before_import_add_no_post_import_hooks(self):
        """``instrument()``/``uninstrument()`` cycles before redis is imported register no new
        post-import hooks (each added six, never unregistered), and redis is still patched
        on its import."""
        code = (
            "import sys\n"
            "from wrapt import importer\n"
            "from instrumentarium.redis import RedisInstrumentor\n"
            "def hooks():\n"
            "    return sum(len(h or ()) for h in importer._post_import_hooks.values())\n"
            "instrumentor = RedisInstrumentor()\n"
            "instrumentor.instrument()\n"
            "instrumentor.uninstrument()\n"
            "first = hooks()\n"
            "for _ in range(10):\n"
            "    instrumentor.instrument()\n"
            "    instrumentor.uninstrument()\n"
            "instrumentor.instrument()\n"
            "assert 'redis' not in sys.modules\n"
            "print(first, hooks())\n"
            "import redis\n"
            "print(type(redis.Redis.__dict__['execute_command']).__name__)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        counts, wrapped = result.stdout.split("\n")[:2]
        first, last = map(int, counts.split())
        assert first > 0
        assert last == first
        assert wrapped == "FunctionWrapper"

    def test_entry_point(self):
        """The ``redis`` entry point of ``opentelemetry_instrumentor`` loads the instrumentor."""
        found = importlib.metadata.entry_points()
        group = (
            found.select(group="opentelemetry_instrumentor")
            if hasattr(found, "select")
            else found.get("opentelemetry_instrumentor", ())
        )
        (entry,) = [e for e in group if e.name == "redis" and "instrumentarium" in e.value]
        assert entry.load() is RedisInstrumentor

    def test_public_surface(self):
        """``__all__`` lists the instrumentor and the version, and nothing else."""
        assert instrumentarium.redis.__all__ == ["RedisInstrumentor", "__version__"]


class TestInstrumentClient:
    def test_only_that_client_is_traced(
        self, instrument_client, client, redis_server, span_exporter, key
    ):
        """``instrument_client`` traces that client and its pipelines, not others."""
        other = redis.Redis.from_url(redis_server)
        instrument_client(client)
        client.get(key)
        client.pipeline().get(key).execute()
        other.get(key)
        other.close()

        assert _names(span_exporter) == ["GET", "GET"]

    def test_uninstrument_then_instrument_again(
        self, instrument_client, client, span_exporter, key
    ):
        """After ``uninstrument_client`` the client can be instrumented again (upstream cannot)."""
        instrument_client(client)
        RedisInstrumentor.uninstrument_client(client)
        client.get(key)
        assert _names(span_exporter) == []

        instrument_client(client)
        client.get(key)
        assert _names(span_exporter) == ["GET"]

    def test_global_and_per_client_never_double(
        self, instrument, instrument_client, client, span_exporter, key
    ):
        """With ``instrument()`` and ``instrument_client()`` on one client, one span per call."""
        instrument()
        instrument_client(client)
        client.get(key)
        client.pipeline().get(key).execute()

        assert _names(span_exporter) == ["GET", "GET"]

    def test_per_client_options_win(
        self, instrument, instrument_client, client, span_exporter, key
    ):
        """The client's own hooks apply, not those of ``instrument()``."""
        instrument(
            response_hook=lambda span, instance, response: span.set_attribute("by", "global")
        )
        instrument_client(
            client,
            response_hook=lambda span, instance, response: span.set_attribute("by", "client"),
        )
        client.get(key)

        assert span_exporter.get_finished_spans()[0].attributes["by"] == "client"

    def test_pipelines_stop_when_the_client_is_uninstrumented(
        self, instrument_client, client, span_exporter, key
    ):
        """A pipeline made before ``uninstrument_client`` is no longer traced after it."""
        instrument_client(client)
        pipe = client.pipeline()
        RedisInstrumentor.uninstrument_client(client)
        pipe.get(key).execute()

        assert _names(span_exporter) == []

    def test_twice_warns_once_and_keeps_one_layer(
        self, instrument_client, client, span_exporter, key, caplog
    ):
        """A second ``instrument_client`` warns and does not add a second span."""
        instrument_client(client)
        RedisInstrumentor.instrument_client(client)
        client.get(key)

        assert _names(span_exporter) == ["GET"]
        assert "already instrumented" in caplog.text

    def test_cluster_pipeline(self, instrument_client, cluster, span_exporter, key):
        """A per-client cluster's pipelines are traced (upstream fails on redis-py 8)."""
        instrument_client(cluster)
        pipe = cluster.pipeline()
        pipe.set(key, "v").get(key)
        assert pipe.execute() == [True, b"v"]

        assert _names(span_exporter) == ["SET GET"]
