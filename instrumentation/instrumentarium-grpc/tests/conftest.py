"""Real gRPC servers for the instrumentarium-grpc tests: sync and asyncio, on 127.0.0.1, port 0.

The service ``test.Echo`` has one method per call type and speaks raw bytes (no protobuf). What
a handler does is chosen by the request:

* ``b"abort:CODE"``: ``context.abort(CODE, "aborted")``;
* ``b"code:CODE"``: ``context.set_code(CODE)`` and ``set_details("set")``, then returns;
* ``b"raise"``: raises ``ValueError("boom")`` (streams: after the first message);
* ``b"sleep:S"``: sleeps S seconds first;
* ``b"count:N"``: server streams send N messages (default 3);
* anything else: echoed (``b"echo:" + request``); streamed requests are joined with ``b"+"``.

Every test instruments through ``instrumented`` (sync) or ``aio_instrumented``, which undo it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Callable

import grpc
import grpc.aio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.grpc import (
    GrpcAioInstrumentorClient,
    GrpcAioInstrumentorServer,
    GrpcInstrumentorClient,
    GrpcInstrumentorServer,
)

SERVICE = "test.Echo"
UNARY = f"/{SERVICE}/Unary"
SERVER_STREAM = f"/{SERVICE}/ServerStream"
CLIENT_STREAM = f"/{SERVICE}/ClientStream"
BIDI = f"/{SERVICE}/Bidi"


def _code(name: str) -> grpc.StatusCode:
    return grpc.StatusCode[name]


def _prepare(request: bytes, context: Any) -> bytes | None:
    """Sync behaviour shared by the handlers; returns a response or None to go on."""
    if request.startswith(b"sleep:"):
        time.sleep(float(request[6:]))
        return b"slept"
    if request.startswith(b"abort:"):
        context.abort(_code(request[6:].decode()), "aborted")
    if request.startswith(b"code:"):
        context.set_code(_code(request[5:].decode()))
        context.set_details("set")
        return b""
    if request == b"raise":
        raise ValueError("boom")
    return None


def _count(request: bytes) -> int:
    return int(request[6:]) if request.startswith(b"count:") else 3


def unary(request: bytes, context: Any) -> bytes:
    return _prepare(request, context) or b"echo:" + request


def server_stream(request: bytes, context: Any) -> Iterator[bytes]:
    if request == b"raise":
        yield b"first"
        raise ValueError("boom")
    early = _prepare(request, context)
    if early is not None:
        yield early
        return
    for i in range(_count(request)):
        yield b"%d" % i


def client_stream(requests: Iterator[bytes], context: Any) -> bytes:
    joined = b"+".join(requests)
    return _prepare(joined, context) or b"echo:" + joined


def bidi(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
    for request in requests:
        early = _prepare(request, context)
        yield early if early is not None else b"echo:" + request


def sync_handlers() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        },
    )


# --- asyncio behaviours -------------------------------------------------------------------------


async def _aio_prepare(request: bytes, context: Any) -> bytes | None:
    if request.startswith(b"sleep:"):
        await asyncio.sleep(float(request[6:]))
        return b"slept"
    if request.startswith(b"abort:"):
        await context.abort(_code(request[6:].decode()), "aborted")
    if request.startswith(b"code:"):
        context.set_code(_code(request[5:].decode()))
        context.set_details("set")
        return b""
    if request == b"raise":
        raise ValueError("boom")
    return None


async def aio_unary(request: bytes, context: Any) -> bytes:
    return await _aio_prepare(request, context) or b"echo:" + request


async def aio_server_stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
    if request == b"raise":
        yield b"first"
        raise ValueError("boom")
    early = await _aio_prepare(request, context)
    if early is not None:
        yield early
        return
    for i in range(_count(request)):
        yield b"%d" % i


async def aio_client_stream(requests: AsyncIterator[bytes], context: Any) -> bytes:
    joined = b"+".join([r async for r in requests])
    return await _aio_prepare(joined, context) or b"echo:" + joined


async def aio_bidi(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for request in requests:
        early = await _aio_prepare(request, context)
        yield early if early is not None else b"echo:" + request


def aio_handlers(plain: bool = False) -> grpc.GenericRpcHandler:
    """The asyncio service; ``plain=True`` registers the sync (non-async) behaviours instead."""
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary if plain else aio_unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(
                server_stream if plain else aio_server_stream
            ),
            "ClientStream": grpc.stream_unary_rpc_method_handler(
                client_stream if plain else aio_client_stream
            ),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi if plain else aio_bidi),
        },
    )


# --- fixtures -----------------------------------------------------------------------------------


@dataclass
class Stubs:
    """The four multi-callables of ``test.Echo`` on one channel."""

    channel: Any
    unary: Any
    server_stream: Any
    client_stream: Any
    bidi: Any

    @classmethod
    def on(cls, channel: Any) -> Stubs:
        return cls(
            channel,
            channel.unary_unary(UNARY),
            channel.unary_stream(SERVER_STREAM),
            channel.stream_unary(CLIENT_STREAM),
            channel.stream_stream(BIDI),
        )


@pytest.fixture
def instrument_sync(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Iterator[Callable[..., None]]:
    """Call it to instrument the sync client and server (keyword arguments go to both
    ``instrument()`` calls, ``client=``/``server=`` dicts to one); undone after the test."""

    def instrument(client: dict[str, Any] | None = None, **common: Any) -> None:
        providers = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
        GrpcInstrumentorServer().instrument(**providers, **common)
        GrpcInstrumentorClient().instrument(**providers, **common, **(client or {}))

    yield instrument
    GrpcInstrumentorClient().uninstrument()
    GrpcInstrumentorServer().uninstrument()


@pytest.fixture
def start_sync_server() -> Iterator[Callable[..., int]]:
    """Call it to start a sync server (after instrumenting); returns its port."""
    servers: list[grpc.Server] = []

    def start(handlers: Any = None, **kwargs: Any) -> int:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), **kwargs)
        server.add_generic_rpc_handlers((handlers or sync_handlers(),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.stop(None)


@pytest.fixture
def sync_rpc(instrument_sync: Callable[..., None], start_sync_server: Callable[..., int]) -> Any:
    """Instrumented sync client and server, and the four stubs on a channel between them."""
    instrument_sync()
    port = start_sync_server()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield Stubs.on(channel)
    channel.close()


@pytest.fixture
def aio_instrumented(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Iterator[Callable[..., None]]:
    def instrument(**common: Any) -> None:
        providers = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
        GrpcAioInstrumentorServer().instrument(**providers)
        GrpcAioInstrumentorClient().instrument(**providers, **common)

    yield instrument
    GrpcAioInstrumentorClient().uninstrument()
    GrpcAioInstrumentorServer().uninstrument()


async def _start_aio_server(plain: bool = False) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((aio_handlers(plain),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
def start_aio_server() -> Callable[..., Any]:
    """``await start_aio_server(plain=False)`` -> (server, port), inside the test's loop."""
    return _start_aio_server
