"""OTEL_SEMCONV_STABILITY_OPT_IN=rpc / rpc/dup: the stable RPC conventions (semconv 1.45)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

UNARY = "/test.Echo/Unary"


def spans(exporter: InMemorySpanExporter) -> dict[SpanKind, Any]:
    return {s.kind: s for s in exporter.get_finished_spans()}


def test_stable_names_only(
    monkeypatch: pytest.MonkeyPatch,
    instrument_sync: Any,
    start_sync_server: Any,
    span_exporter: InMemorySpanExporter,
    metric_points: Any,
) -> None:
    """``rpc``: span named ``package.Service/Method``; rpc.system.name, rpc.method (full),
    rpc.response.status_code, server.address/port, network.peer.*; the old names are gone;
    rpc.client.call.duration / rpc.server.call.duration in seconds."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc")
    instrument_sync()
    port = start_sync_server()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        channel.unary_unary(UNARY)(b"x")
        with pytest.raises(grpc.RpcError):
            channel.unary_unary(UNARY)(b"abort:NOT_FOUND")
    by_kind = [s for s in span_exporter.get_finished_spans() if s.status.is_ok]
    client = next(s for s in by_kind if s.kind is SpanKind.CLIENT)
    server = next(s for s in by_kind if s.kind is SpanKind.SERVER)
    assert client.name == server.name == "test.Echo/Unary"
    assert client.attributes == {
        "rpc.system.name": "grpc",
        "rpc.method": "test.Echo/Unary",
        "rpc.response.status_code": "OK",
        "server.address": "127.0.0.1",
        "server.port": port,
    }
    assert server.attributes["network.peer.address"] == "127.0.0.1"
    assert "rpc.system" not in server.attributes
    assert "net.peer.ip" not in server.attributes
    points = metric_points()
    assert "rpc.client.duration" not in points
    assert "rpc.server.duration" not in points
    client_points = {
        p.attributes.get("rpc.response.status_code"): p for p in points["rpc.client.call.duration"]
    }
    assert set(client_points) == {"OK", "NOT_FOUND"}
    assert client_points["NOT_FOUND"].attributes["error.type"] == "NOT_FOUND"
    server_points = {
        p.attributes["rpc.response.status_code"]: p for p in points["rpc.server.call.duration"]
    }
    assert "error.type" not in server_points["NOT_FOUND"].attributes  # not a server error


def test_dup_emits_both(
    monkeypatch: pytest.MonkeyPatch,
    instrument_sync: Any,
    start_sync_server: Any,
    span_exporter: InMemorySpanExporter,
    metric_points: Any,
) -> None:
    """``rpc/dup``: old and stable attributes and both metrics; the span keeps upstream's
    name, so existing queries on names keep working."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup")
    instrument_sync()
    port = start_sync_server()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        channel.unary_unary(UNARY)(b"x")
    client = spans(span_exporter)[SpanKind.CLIENT]
    assert client.name == UNARY
    assert client.attributes["rpc.method"] == "test.Echo/Unary"  # the stable value wins
    assert client.attributes["rpc.service"] == "test.Echo"
    assert client.attributes["rpc.system"] == client.attributes["rpc.system.name"] == "grpc"
    assert client.attributes["rpc.grpc.status_code"] == 0
    points = metric_points()
    for name in (
        "rpc.client.duration",
        "rpc.server.duration",
        "rpc.client.call.duration",
        "rpc.server.call.duration",
    ):
        assert len(points[name]) == 1, name
