"""The asyncio client and server (``grpc.aio``) against a real in-process aio server."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import grpc
import grpc.aio
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

SERVICE = "test.Echo"
UNARY = f"/{SERVICE}/Unary"


def both(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ReadableSpan]:
    spans = exporter.get_finished_spans()
    clients = [s for s in spans if s.kind is SpanKind.CLIENT]
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(clients) == 1, spans
    assert len(servers) == 1, spans
    return clients[0], servers[0]


def run(
    aio_instrumented: Callable[..., None],
    start_aio_server: Callable[..., Any],
    body: Callable[[Any], Any],
    plain: bool = False,
    **instrument: Any,
) -> Any:
    """Instrument, start an aio server, run ``body(channel)`` in a fresh event loop."""
    aio_instrumented(**instrument)

    async def main() -> Any:
        server, port = await start_aio_server(plain)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await body(channel)
        finally:
            await server.stop(None)

    return asyncio.run(main())


@pytest.mark.parametrize("plain", [False, True], ids=["async-handlers", "plain-handlers"])
class TestEveryCallType:
    def test_unary(
        self,
        aio_instrumented: Any,
        start_aio_server: Any,
        span_exporter: InMemorySpanExporter,
        plain: bool,
    ) -> None:
        """Unary: a client and a server span in one trace; an aio server keeps running plain
        (non-async) handlers under instrumentation."""

        async def body(channel: Any) -> Any:
            return await channel.unary_unary(UNARY)(b"hi")

        assert run(aio_instrumented, start_aio_server, body, plain) == b"echo:hi"
        client, server = both(span_exporter)
        assert client.name == server.name == UNARY
        assert server.parent is not None
        assert server.parent.span_id == client.context.span_id
        assert server.attributes["rpc.method"] == "Unary"

    def test_server_stream(
        self,
        aio_instrumented: Any,
        start_aio_server: Any,
        span_exporter: InMemorySpanExporter,
        plain: bool,
    ) -> None:
        """Server streaming: every message arrives; each span ends once, after the stream."""

        async def body(channel: Any) -> Any:
            return [m async for m in channel.unary_stream(f"/{SERVICE}/ServerStream")(b"count:4")]

        assert run(aio_instrumented, start_aio_server, body, plain) == [b"0", b"1", b"2", b"3"]
        client, server = both(span_exporter)
        assert client.status.status_code is StatusCode.UNSET
        assert server.parent is not None
        assert server.parent.span_id == client.context.span_id

    def test_client_stream(
        self,
        aio_instrumented: Any,
        start_aio_server: Any,
        span_exporter: InMemorySpanExporter,
        plain: bool,
    ) -> None:
        """Client streaming: the joined requests come back; one span per side."""

        async def requests() -> Any:
            for item in (b"a", b"b"):
                yield item

        async def body(channel: Any) -> Any:
            if plain:  # a plain handler reads the requests with a blocking iterator
                return await channel.stream_unary(f"/{SERVICE}/ClientStream")(iter([b"a", b"b"]))
            return await channel.stream_unary(f"/{SERVICE}/ClientStream")(requests())

        assert run(aio_instrumented, start_aio_server, body, plain) == b"echo:a+b"
        both(span_exporter)

    def test_bidi(
        self,
        aio_instrumented: Any,
        start_aio_server: Any,
        span_exporter: InMemorySpanExporter,
        plain: bool,
    ) -> None:
        """Bidirectional streaming: echo per message; one span per side."""

        async def body(channel: Any) -> Any:
            call = channel.stream_stream(f"/{SERVICE}/Bidi")(iter([b"a", b"b"]))
            return [m async for m in call]

        assert run(aio_instrumented, start_aio_server, body, plain) == [b"echo:a", b"echo:b"]
        both(span_exporter)


class TestStatus:
    @pytest.mark.parametrize(("code", "server_error"), [("INTERNAL", True), ("NOT_FOUND", False)])
    def test_abort(
        self,
        aio_instrumented: Any,
        start_aio_server: Any,
        span_exporter: InMemorySpanExporter,
        code: str,
        server_error: bool,
    ) -> None:
        """await context.abort(): the client sees the code; the server span is ERROR only for
        server-fault codes, with no exception event."""

        async def body(channel: Any) -> Any:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(UNARY)(b"abort:" + code.encode())
            return caught.value.code()

        assert run(aio_instrumented, start_aio_server, body) is grpc.StatusCode[code]
        client, server = both(span_exporter)
        number = grpc.StatusCode[code].value[0]
        assert client.attributes["rpc.grpc.status_code"] == number
        assert server.attributes["rpc.grpc.status_code"] == number
        assert client.status.status_code is StatusCode.ERROR
        expected = StatusCode.ERROR if server_error else StatusCode.UNSET
        assert server.status.status_code is expected
        assert [e for e in server.events if e.name == "exception"] == []

    def test_uncaught_exception(
        self, aio_instrumented: Any, start_aio_server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A raising async handler: ERROR, UNKNOWN, one exception event on the server."""

        async def body(channel: Any) -> Any:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(UNARY)(b"raise")
            return caught.value.code()

        assert run(aio_instrumented, start_aio_server, body) is grpc.StatusCode.UNKNOWN
        client, server = both(span_exporter)
        assert server.status.status_code is StatusCode.ERROR
        assert server.attributes["rpc.grpc.status_code"] == 2
        assert len([e for e in server.events if e.name == "exception"]) == 1
        assert client.attributes["rpc.grpc.status_code"] == 2

    def test_deadline(
        self, aio_instrumented: Any, start_aio_server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A deadline shorter than the handler: DEADLINE_EXCEEDED on the client span."""

        async def body(channel: Any) -> Any:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(UNARY)(b"sleep:1", timeout=0.05)
            return caught.value.code()

        assert run(aio_instrumented, start_aio_server, body) is grpc.StatusCode.DEADLINE_EXCEEDED
        clients = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert [s.attributes["rpc.grpc.status_code"] for s in clients] == [4]

    def test_cancelled_stream_ends_once(
        self, aio_instrumented: Any, start_aio_server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """Cancelling a server stream after one message ends the client span once, CANCELLED."""

        async def body(channel: Any) -> Any:
            call = channel.unary_stream(f"/{SERVICE}/ServerStream")(b"count:100000")
            first = await call.read() if hasattr(call, "read") else None
            call.cancel()
            with pytest.raises((asyncio.CancelledError, grpc.aio.AioRpcError)):
                async for _ in call:
                    pass
            return first

        run(aio_instrumented, start_aio_server, body)
        clients = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert [s.attributes["rpc.grpc.status_code"] for s in clients] == [1]

    def test_hooks_on_the_aio_client(
        self, aio_instrumented: Any, start_aio_server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """request_hook(span, request) and response_hook(span, response): the response message
        (upstream passes the status details string)."""
        seen: list[Any] = []

        async def body(channel: Any) -> Any:
            await channel.unary_unary(UNARY)(b"q")

        run(
            aio_instrumented,
            start_aio_server,
            body,
            request_hook=lambda span, request: seen.append(request),
            response_hook=lambda span, response: seen.append(response),
        )
        assert seen == [b"q", b"echo:q"]
