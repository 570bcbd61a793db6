"""The trace context crosses a real process boundary in gRPC metadata."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SERVER = Path(__file__).with_name("server_process.py")


@pytest.mark.subprocess
def test_server_in_another_process_joins_the_client_trace(
    instrument_sync: object, span_exporter: InMemorySpanExporter
) -> None:
    """A server in a subprocess (instrumentarium, its own SDK) sees the client span as the
    parent of its SERVER span, in the client's trace."""
    instrument_sync()  # type: ignore[operator]
    with subprocess.Popen(
        [sys.executable, str(SERVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        assert process.stderr is not None
        try:
            line = process.stdout.readline()
            if not line.strip().isdigit():
                process.kill()
                pytest.fail(
                    f"the server process printed {line!r} instead of its port "
                    f"(exit status {process.wait()}); its stderr:\n{process.stderr.read()}"
                )
            port = int(line)
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                answer = channel.unary_unary("/test.Remote/WhoAmI")(b"", timeout=30)
        finally:
            process.stdin.close()
            process.wait(timeout=30)
    (client,) = span_exporter.get_finished_spans()
    trace_id, parent_id = answer.decode().split(":")
    assert trace_id == f"{client.context.trace_id:032x}"
    assert parent_id == f"{client.context.span_id:016x}"
