"""``RedisInstrumentor``: instrumenting again after ``uninstrument()``, and ``instrument_client``
(entry point, wrappers, deferred patching and ``__all__``: ``tests/test_contract.py``)."""

from __future__ import annotations

import subprocess
import sys

import redis

from instrumentarium.redis import RedisInstrumentor


def _names(exporter):
    return [span.name for span in exporter.get_finished_spans()]


class TestInstrument:
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

    def test_options_by_position_as_upstreams_signature(
        self, instrumentor, tracer_provider, meter_provider, client, span_exporter, key
    ):
        """``instrument(tracer_provider, request_hook, response_hook)`` by position, as
        upstream's ``RedisInstrumentor.instrument`` declares them."""
        seen = []

        def request_hook(span, instance, args, kwargs):
            seen.append(("request", args[0]))

        def response_hook(span, instance, response):
            seen.append(("response", response))

        instrumentor.instrument(
            tracer_provider, request_hook, response_hook, meter_provider=meter_provider
        )
        client.get(key)

        assert _names(span_exporter) == ["GET"]
        assert seen == [("request", "GET"), ("response", None)]

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
