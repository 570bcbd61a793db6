"""Spans of commands, pipelines and transactions against a real single-node server: names,
attributes in each semconv mode, statuses, hooks and suppression."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis
import redis.asyncio
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from .conftest import HOST, PORT, REDIS_SOCKET


def _only(span_exporter):
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


class TestCommandSpan:
    def test_get_is_one_client_span_named_by_the_command(
        self, instrument, client, span_exporter, key
    ):
        """``GET`` makes one CLIENT span named ``GET`` with upstream's default attributes."""
        instrument()
        client.get(key)

        span = _only(span_exporter)
        assert span.name == "GET"
        assert span.kind is SpanKind.CLIENT
        assert dict(span.attributes) == {
            "db.system": "redis",
            "db.statement": "GET ?",
            "db.redis.args_length": 2,
            "db.redis.database_index": 0,
            "net.peer.name": HOST,
            "net.peer.port": PORT,
            "net.transport": "ip_tcp",
        }
        assert span.status.status_code is StatusCode.UNSET

    def test_stable_database_names(self, instrument, client, span_exporter, key, monkeypatch):
        """``database`` emits the stable database names only, with ``db.namespace`` for the
        index; the peer attributes stay ``net.peer.*`` (networking follows ``http``, as
        upstream and the specification's networking migration have it)."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database")
        instrument()
        client.set(key, "v")

        span = _only(span_exporter)
        assert dict(span.attributes) == {
            "db.system.name": "redis",
            "db.query.text": "SET ? ?",
            "db.operation.name": "SET",
            "db.redis.args_length": 3,
            "db.namespace": "0",
            "net.peer.name": HOST,
            "net.peer.port": PORT,
            "net.transport": "ip_tcp",
        }
        assert span.instrumentation_scope.schema_url == "https://opentelemetry.io/schemas/1.25.0"

    def test_dup_emits_both(self, instrument, client, span_exporter, key, monkeypatch):
        """``database/dup`` emits old and stable database names side by side; the peer
        attributes stay ``net.peer.*`` only."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database/dup")
        instrument()
        client.get(key)

        attributes = _only(span_exporter).attributes
        for name in ("db.system", "db.system.name", "db.statement", "db.query.text"):
            assert name in attributes
        assert attributes["net.peer.name"] == HOST
        assert "server.address" not in attributes
        assert attributes["db.redis.database_index"] == 0

    @pytest.mark.parametrize(
        ("opt_in", "old_peer", "new_peer"),
        [
            ("http", False, True),
            ("http/dup", True, True),
            ("database,http", False, True),
            ("database/dup,http/dup", True, True),
            ("database", True, False),
        ],
    )
    def test_http_opt_in_switches_the_peer_attributes(
        self, instrument, client, span_exporter, key, monkeypatch, opt_in, old_peer, new_peer
    ):
        """The peer and transport attributes switch with ``http`` (``/dup``: both), whatever
        ``database`` says, as upstream: ``database,http`` gives fully stable spans."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
        instrument()
        client.get(key)

        attributes = _only(span_exporter).attributes
        old = {"net.peer.name": HOST, "net.peer.port": PORT, "net.transport": "ip_tcp"}
        new = {"server.address": HOST, "server.port": PORT, "network.transport": "tcp"}
        for expected, present in ((old, old_peer), (new, new_peer)):
            for name, value in expected.items():
                assert attributes.get(name) == (value if present else None), name

    def test_unix_socket(self, instrument, unix_client, span_exporter):
        """A unix-socket connection reports the socket path and no port."""
        instrument()
        unix_client.ping()

        attributes = _only(span_exporter).attributes
        assert attributes["net.peer.name"] == REDIS_SOCKET
        assert attributes["net.transport"] == "other"
        assert "net.peer.port" not in attributes

    def test_database_index(self, instrument, redis_server, span_exporter, key):
        """The connection's database index is reported."""
        instrument()
        other = redis.Redis.from_url(redis_server.rsplit("/", 1)[0] + "/3")
        other.get(key)
        other.close()

        assert _only(span_exporter).attributes["db.redis.database_index"] == 3


class TestErrors:
    def test_wrongtype_propagates_and_marks_the_span(self, instrument, client, span_exporter, key):
        """A server error reply propagates unchanged and ends the span ERROR with an event."""
        instrument()
        client.set(key, "v")
        span_exporter.clear()

        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            client.lpush(key, "x")

        span = _only(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description.startswith("ResponseError: WRONGTYPE")
        assert [event.name for event in span.events] == ["exception"]

    def test_stable_error_attributes(self, instrument, client, span_exporter, key, monkeypatch):
        """With stable names an error sets ``error.type`` and the Redis error prefix."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database")
        instrument()
        client.set(key, "v")
        span_exporter.clear()
        with pytest.raises(redis.ResponseError):
            client.lpush(key, "x")

        attributes = _only(span_exporter).attributes
        assert attributes["error.type"] == "ResponseError"
        assert attributes["db.response.status_code"] == "WRONGTYPE"

    def test_connection_refused(self, instrument, span_exporter):
        """A refused connection raises redis' ConnectionError and the span is ERROR."""
        instrument()
        dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)

        with pytest.raises(redis.ConnectionError):
            dead.get("k")

        assert _only(span_exporter).status.status_code is StatusCode.ERROR

    def test_timeout(self, instrument, redis_server, span_exporter, key):
        """A socket timeout raises redis' TimeoutError and the span is ERROR."""
        instrument()
        slow = redis.Redis.from_url(redis_server, socket_timeout=0.05)

        with pytest.raises(redis.TimeoutError):
            slow.blpop([key], timeout=1)
        slow.close()

        assert span_exporter.get_finished_spans()[-1].status.status_code is StatusCode.ERROR

    def test_the_same_exception_object_propagates(self, instrument, client, key):
        """The exception is the one redis-py raised, not a copy."""
        client.set(key, "v")
        try:
            client.lpush(key, "x")
        except redis.ResponseError as exc:
            bare_type = type(exc)
        instrument()
        with pytest.raises(bare_type):
            client.lpush(key, "x")


class TestPipeline:
    def test_one_span_per_execute(self, instrument, client, span_exporter, key):
        """A pipeline makes one span named by its commands, with each command sanitized."""
        instrument()
        pipe = client.pipeline()
        pipe.set(key, "v").rpush(key + "l", 1).hgetall(key + "h")
        pipe.execute()

        span = _only(span_exporter)
        assert span.name == "SET RPUSH HGETALL"
        assert span.attributes["db.statement"] == "SET ? ?\nRPUSH ? ?\nHGETALL ?"
        assert span.attributes["db.redis.pipeline_length"] == 3
        assert span.attributes["net.peer.port"] == PORT

    def test_empty_pipeline_is_named_redis(self, instrument, client, span_exporter):
        """An empty pipeline's span is named ``redis``."""
        instrument()
        client.pipeline().execute()

        span = _only(span_exporter)
        assert span.name == "redis"
        assert span.attributes["db.redis.pipeline_length"] == 0

    def test_transaction_with_watch(self, instrument, client, span_exporter, key):
        """WATCH and an immediate GET are command spans; MULTI/EXEC is one span."""
        instrument()
        with client.pipeline() as pipe:
            pipe.watch(key)
            pipe.get(key)
            pipe.multi()
            pipe.set(key, "v")
            pipe.execute()

        assert [s.name for s in span_exporter.get_finished_spans()] == ["WATCH", "GET", "SET"]

    def test_watch_error_keeps_the_status_unset(self, instrument, client, span_exporter, key):
        """A WatchError propagates; the span stays UNSET with no event, as upstream."""
        instrument()
        other = redis.Redis(connection_pool=client.connection_pool)
        with client.pipeline() as pipe:
            pipe.watch(key)
            other.set(key, "changed")
            pipe.multi()
            pipe.set(key, "v")
            with pytest.raises(redis.WatchError):
                pipe.execute()

        span = span_exporter.get_finished_spans()[-1]
        assert span.name == "SET"
        assert span.status.status_code is StatusCode.UNSET
        assert span.events == ()

    def test_stable_batch_names(self, instrument, client, span_exporter, key, monkeypatch):
        """With stable names a pipeline reports ``BATCH <op>`` and ``db.operation.batch.size``."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database")
        instrument()
        pipe = client.pipeline(transaction=False)
        pipe.get(key).get(key)
        pipe.execute()

        attributes = _only(span_exporter).attributes
        assert attributes["db.operation.name"] == "BATCH GET"
        assert attributes["db.operation.batch.size"] == 2


class TestHooks:
    def test_hooks_see_span_args_and_response(self, instrument, client, span_exporter, key):
        """The request hook gets the command args, the response hook the reply."""
        seen = []
        instrument(
            request_hook=lambda span, instance, args, kwargs: seen.append(("req", args)),
            response_hook=lambda span, instance, response: span.set_attribute("r", str(response)),
        )
        client.set(key, "v")

        assert seen == [("req", ("SET", key, "v"))]
        assert _only(span_exporter).attributes["r"] == "True"

    def test_raising_hook_is_logged_and_the_command_goes_on(
        self, instrument, client, span_exporter, key, caplog
    ):
        """A hook that raises is logged once and the command returns its result."""

        def broken(*args):
            raise RuntimeError("hook bug")

        instrument(request_hook=broken, response_hook=broken)
        with caplog.at_level(logging.WARNING, logger="instrumentarium"):
            assert client.set(key, "v") is True

        assert any("hook bug" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
        assert len(span_exporter.get_finished_spans()) == 1


class TestSuppression:
    def test_suppressed_commands_make_no_span(self, instrument, client, span_exporter, key):
        """Inside ``suppress_instrumentation()`` commands and pipelines are not traced."""
        instrument()
        with suppress_instrumentation():
            client.get(key)
            client.pipeline().get(key).execute()

        assert span_exporter.get_finished_spans() == ()


class TestAsyncio:
    def test_command_and_pipeline(self, instrument, redis_server, span_exporter, key):
        """asyncio commands and pipelines make the same spans as sync ones."""
        instrument()

        async def run():
            client = redis.asyncio.Redis.from_url(redis_server)
            await client.set(key, "v")
            async with client.pipeline() as pipe:
                pipe.get(key).get(key)
                await pipe.execute()
            with pytest.raises(redis.ResponseError):
                await client.lpush(key, "x")
            await client.aclose() if hasattr(client, "aclose") else await client.close()

        asyncio.run(run())

        spans = span_exporter.get_finished_spans()
        assert [s.name for s in spans] == ["SET", "GET GET", "LPUSH"]
        assert spans[0].attributes["net.peer.port"] == PORT
        assert spans[1].attributes["db.statement"] == "GET ?\nGET ?"
        assert spans[2].status.status_code is StatusCode.ERROR

    def test_async_watch_error(self, instrument, redis_server, span_exporter, key):
        """An asyncio transaction's WatchError propagates and leaves the span UNSET."""
        instrument()

        async def run():
            client = redis.asyncio.Redis.from_url(redis_server)
            other = redis.asyncio.Redis.from_url(redis_server)
            async with client.pipeline() as pipe:
                await pipe.watch(key)
                await other.set(key, "changed")
                pipe.multi()
                pipe.set(key, "v")
                with pytest.raises(redis.WatchError):
                    await pipe.execute()
            for c in (client, other):
                await c.aclose() if hasattr(c, "aclose") else await c.close()

        asyncio.run(run())

        span = span_exporter.get_finished_spans()[-1]
        assert span.name == "SET"
        assert span.status.status_code is StatusCode.UNSET


class TestShapesKeptPerConnection:
    """Attributes are built once per command or pipeline shape on a connection: each shape keeps
    its own, whatever came before, and past the kept number they are built per call."""

    def test_commands_of_different_shapes(self, instrument, client, span_exporter, key):
        instrument()
        client.get(key)
        client.set(key, "v")
        client.set(key, "v", ex=10)
        client.get(key)

        spans = span_exporter.get_finished_spans()
        assert [(s.name, s.attributes["db.statement"]) for s in spans] == [
            ("GET", "GET ?"),
            ("SET", "SET ? ?"),
            ("SET", "SET ? ? ? ?"),
            ("GET", "GET ?"),
        ]
        assert [s.attributes["db.redis.args_length"] for s in spans] == [2, 3, 5, 2]

    def test_pipelines_of_different_shapes(self, instrument, client, span_exporter, key):
        instrument()
        for build in (
            lambda p: p.get(key),
            lambda p: p.get(key).set(key, "v"),
            lambda p: p.get(key).set(key, "v", ex=10),
            lambda p: p.get(key),
        ):
            pipe = client.pipeline(transaction=False)
            build(pipe)
            pipe.execute()

        spans = span_exporter.get_finished_spans()
        assert [(s.name, s.attributes["db.statement"]) for s in spans] == [
            ("GET", "GET ?"),
            ("GET SET", "GET ?\nSET ? ?"),
            ("GET SET", "GET ?\nSET ? ? ? ?"),
            ("GET", "GET ?"),
        ]

    def test_an_error_does_not_stay_in_the_shape(
        self, instrument, client, span_exporter, metric_points, key
    ):
        """A failed command's ``error.type`` is on its own record, not on the next call's."""
        instrument()
        client.set(key, "v")
        with pytest.raises(redis.ResponseError):
            client.lpush(key, "x")
        client.lpush(key + "l", "x")

        points = metric_points()["db.client.operation.duration"]
        lpush = [dict(p.attributes) for p in points if p.attributes["db.operation.name"] == "LPUSH"]
        assert sorted("error.type" in attributes for attributes in lpush) == [False, True]
        assert span_exporter.get_finished_spans()[-1].status.status_code is StatusCode.UNSET

    def test_past_the_kept_shapes(self, instrument, client, span_exporter, key):
        """More shapes than are kept: the later ones are still right."""
        instrument()
        for count in range(1, 300):
            client.execute_command("EXISTS", *([key] * count))

        spans = span_exporter.get_finished_spans()
        assert len(spans) == 299
        assert spans[-1].attributes["db.statement"] == "EXISTS" + " ?" * 299
        assert spans[-1].attributes["db.redis.args_length"] == 300
