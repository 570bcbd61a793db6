"""A gRPC server in its own process for the cross-process test: instrumented with
instrumentarium, it answers each unary call with ``<trace id>:<parent span id>`` of its SERVER
span (hex), and prints its port on stdout once it listens."""

from __future__ import annotations

import sys
from concurrent import futures
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.grpc import GrpcInstrumentorServer


def whoami(request: bytes, context: Any) -> bytes:
    span = trace.get_current_span()
    parent = getattr(span, "parent", None)
    parent_id = f"{parent.span_id:016x}" if parent is not None else "none"
    return f"{span.get_span_context().trace_id:032x}:{parent_id}".encode()


def main() -> None:
    GrpcInstrumentorServer().instrument(tracer_provider=TracerProvider())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.Remote", {"WhoAmI": grpc.unary_unary_rpc_method_handler(whoami)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()  # until the test closes our stdin
    server.stop(None)


if __name__ == "__main__":
    main()
