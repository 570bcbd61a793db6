"""gRPC: calls through an instrumented client to an instrumented server, both in the worker.

* ``grpc-unary``: one unary call with a 16-byte request (two spans: client and server, and for
  instrumentarium two duration records);
* ``grpc-stream100``: one server-streaming call that returns 100 16-byte messages.

The server is a sync ``grpc.server`` with a thread pool on 127.0.0.1 (port 0) and a generic
handler on raw bytes (no protobuf). Upstream's sync client ignores the ``tracer_provider`` given
to ``instrument()`` and uses the global one, so its setup also installs the providers globally.
Upstream records no gRPC metrics; its number is spans only, ours includes the histograms.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

from . import Call, Providers, Workload, upstream_requirement

SERVICE = "bench.Echo"
REQUEST = b"r" * 16
MESSAGE = b"m" * 16
STREAM_LENGTH = 100


def _channel() -> Any:
    import grpc

    def unary(request: bytes, context: Any) -> bytes:
        return request

    def stream(request: bytes, context: Any) -> Any:
        for _ in range(STREAM_LENGTH):
            yield MESSAGE

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    channel._bench_server = server  # type: ignore[attr-defined]  # keep the server alive
    return channel


def _instrumentarium(providers: Providers) -> Any:
    from instrumentarium.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer

    kwargs = {
        "tracer_provider": providers.tracer_provider,
        "meter_provider": providers.meter_provider,
    }
    GrpcInstrumentorServer().instrument(**kwargs)
    GrpcInstrumentorClient().instrument(**kwargs)
    return _channel()


def _upstream(providers: Providers) -> Any:
    from opentelemetry import trace
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer

    trace.set_tracer_provider(providers.tracer_provider)  # its sync client uses the global one
    GrpcInstrumentorServer().instrument(tracer_provider=providers.tracer_provider)
    GrpcInstrumentorClient().instrument(tracer_provider=providers.tracer_provider)
    return _channel()


def _peer(providers: Providers) -> Any:
    from sentry_sdk.integrations.grpc import GRPCIntegration

    from . import _sentry

    _sentry.init(GRPCIntegration())  # wraps grpc.server and grpc.insecure_channel
    return _channel()


def _in_transaction(call: Call) -> Call:
    from . import _sentry

    return _sentry.in_transaction(call, "grpc")


def _unary(channel: Any) -> Call:
    call_unary = channel.unary_unary(f"/{SERVICE}/Unary")

    def call(keep_alive: Any = channel) -> bytes:  # the channel holds the server
        return call_unary(REQUEST)  # type: ignore[no-any-return]

    return call


def _stream(channel: Any) -> Call:
    call_stream = channel.unary_stream(f"/{SERVICE}/Stream")

    def call(keep_alive: Any = channel) -> bytes:  # the channel holds the server
        return b"".join(call_stream(REQUEST))

    return call


def _carrier() -> dict[str, object]:
    return {}


_PACKAGES = ("grpcio",)
_UPSTREAM = (upstream_requirement("opentelemetry-instrumentation-grpc"),)

WORKLOADS = (
    Workload(
        name="grpc-unary",
        description="a unary call (16 bytes each way), instrumented client and server",
        bare=lambda providers: _unary(_channel()),
        instrumentarium=lambda providers: _unary(_instrumentarium(providers)),
        upstream=lambda providers: _unary(_upstream(providers)),
        peer=lambda providers: _in_transaction(_unary(_peer(providers))),
        carrier=_carrier,
        expect=REQUEST,
        packages=_PACKAGES,
        upstream_packages=_UPSTREAM,
        show_versions=_PACKAGES,
        upstream_records_duration=False,
        spans_per_call=2,
    ),
    Workload(
        name="grpc-stream100",
        description=f"a server stream of {STREAM_LENGTH} 16-byte messages, instrumented both ends",
        bare=lambda providers: _stream(_channel()),
        instrumentarium=lambda providers: _stream(_instrumentarium(providers)),
        upstream=lambda providers: _stream(_upstream(providers)),
        peer=lambda providers: _in_transaction(_stream(_peer(providers))),
        # sentry-sdk's gRPC server interceptor traces unary-unary handlers only
        peer_transactions=1,
        carrier=_carrier,
        expect=MESSAGE * STREAM_LENGTH,
        packages=_PACKAGES,
        upstream_packages=_UPSTREAM,
        show_versions=_PACKAGES,
        upstream_records_duration=False,
        spans_per_call=2,
    ),
)
