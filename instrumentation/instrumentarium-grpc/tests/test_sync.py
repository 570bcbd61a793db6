"""The synchronous client and server against a real in-process server, every call type."""

from __future__ import annotations

import gc
from typing import Any, Callable

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentarium.grpc import client_interceptor, filters, server_interceptor

SERVICE = "test.Echo"
UNARY = f"/{SERVICE}/Unary"


def by_kind(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ReadableSpan]:
    spans = exporter.get_finished_spans()
    clients = [s for s in spans if s.kind is SpanKind.CLIENT]
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(clients) == 1, spans
    assert len(servers) == 1, spans
    return clients[0], servers[0]


def exception_events(span: ReadableSpan) -> list[Any]:
    return [e for e in span.events if e.name == "exception"]


class TestUnary:
    def test_client_and_server_spans_share_a_trace(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """One CLIENT and one SERVER span named by the full method; the server's parent is the
        client span (context carried in the metadata); upstream's attributes by default."""
        assert sync_rpc.unary(b"hi") == b"echo:hi"
        client, server = by_kind(span_exporter)
        assert client.name == server.name == UNARY
        assert server.parent is not None
        assert server.parent.span_id == client.context.span_id
        assert server.context.trace_id == client.context.trace_id
        assert client.attributes == {
            "rpc.system": "grpc",
            "rpc.service": SERVICE,
            "rpc.method": "Unary",
            "rpc.grpc.status_code": 0,
        }
        attrs = dict(server.attributes or {})
        assert attrs["rpc.system"] == "grpc"
        assert attrs["rpc.service"] == SERVICE
        assert attrs["rpc.method"] == "Unary"
        assert attrs["rpc.grpc.status_code"] == 0
        assert attrs["net.peer.ip"] == "127.0.0.1"
        assert isinstance(attrs["net.peer.port"], int)
        assert attrs["net.peer.name"] == "localhost"
        assert str(attrs["rpc.user_agent"]).startswith("grpc-python/")
        assert client.status.status_code is StatusCode.UNSET
        assert server.status.status_code is StatusCode.UNSET

    def test_duration_metrics_on_both_sides(self, sync_rpc: Any, metric_points: Any) -> None:
        """rpc.client.duration and rpc.server.duration (ms) are recorded once per call, with the
        method and status code."""
        sync_rpc.unary(b"hi")
        points = metric_points()
        for name in ("rpc.client.duration", "rpc.server.duration"):
            (point,) = points[name]
            assert point.count == 1
            assert dict(point.attributes) == {
                "rpc.system": "grpc",
                "rpc.service": SERVICE,
                "rpc.method": "Unary",
                "rpc.grpc.status_code": 0,
            }

    def test_with_call_returns_the_call(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """with_call returns (response, call) unchanged and the client span ends once."""
        response, call = sync_rpc.unary.with_call(b"x")
        assert response == b"echo:x"
        assert call.code() is grpc.StatusCode.OK
        by_kind(span_exporter)

    def test_future_ends_the_span_when_done(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """future(): the span ends in the done callback, with the response hook called."""
        future = sync_rpc.unary.future(b"f")
        assert future.result() == b"echo:f"
        future.exception()  # done callbacks run before result() returns or right after
        for _ in range(100):
            if len(span_exporter.get_finished_spans()) == 2:
                break
            import time

            time.sleep(0.01)
        client, _ = by_kind(span_exporter)
        assert client.status.status_code is StatusCode.UNSET

    def test_user_metadata_is_kept(self, instrument_sync: Any, start_sync_server: Any) -> None:
        """The caller's metadata reaches the server next to the injected traceparent."""
        seen: dict[str, str] = {}

        def handler(request: bytes, context: Any) -> bytes:
            seen.update((m.key, m.value) for m in context.invocation_metadata())
            return b"ok"

        instrument_sync()
        port = start_sync_server(
            grpc.method_handlers_generic_handler(
                SERVICE, {"Unary": grpc.unary_unary_rpc_method_handler(handler)}
            )
        )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            channel.unary_unary(UNARY)(b"x", metadata=(("x-mine", "1"),))
        assert seen["x-mine"] == "1"
        assert seen["traceparent"].startswith("00-")


class TestStreams:
    def test_server_stream_span_covers_the_stream(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """The client span of a server stream ends when the stream is exhausted, not before."""
        stream = sync_rpc.server_stream(b"count:5")
        first = next(stream)
        assert first == b"0"
        assert not [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert list(stream) == [b"1", b"2", b"3", b"4"]
        client, server = by_kind(span_exporter)
        assert client.status.status_code is StatusCode.UNSET
        assert server.parent is not None
        assert server.parent.span_id == client.context.span_id

    def test_stream_keeps_the_call_interface(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """The returned stream is still a grpc.Call: code(), details(), trailing_metadata()."""
        stream = sync_rpc.bidi(iter([b"a", b"b"]))
        assert list(stream) == [b"echo:a", b"echo:b"]
        assert stream.code() is grpc.StatusCode.OK
        assert stream.trailing_metadata() is not None
        by_kind(span_exporter)

    def test_cancelled_stream_ends_once(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """cancel() ends the client span once, as CANCELLED (an error on the client)."""
        stream = sync_rpc.server_stream(b"count:1000")
        next(stream)
        stream.cancel()
        with pytest.raises(grpc.RpcError):
            list(stream)
        (client,) = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert client.attributes["rpc.grpc.status_code"] == 1
        assert client.status.status_code is StatusCode.ERROR

    def test_dropped_stream_ends_its_span(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A stream the caller drops half-read ends its span (CANCELLED) when it is collected."""
        stream = sync_rpc.server_stream(b"count:1000")
        next(stream)
        del stream
        gc.collect()
        (client,) = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert client.attributes["rpc.grpc.status_code"] == 1

    def test_client_stream(self, sync_rpc: Any, span_exporter: InMemorySpanExporter) -> None:
        """Client streaming: one span per side, the requests reach the handler."""
        assert sync_rpc.client_stream(iter([b"a", b"b"])) == b"echo:a+b"
        client, _server = by_kind(span_exporter)
        assert client.name == f"/{SERVICE}/ClientStream"

    def test_server_stream_failure_mid_stream(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A handler raising after the first message: both spans ERROR, code UNKNOWN, one
        exception event on the server."""
        stream = sync_rpc.server_stream(b"raise")
        assert next(stream) == b"first"
        with pytest.raises(grpc.RpcError):
            next(stream)
        client, server = by_kind(span_exporter)
        assert client.attributes["rpc.grpc.status_code"] == 2
        assert server.attributes["rpc.grpc.status_code"] == 2
        assert server.status.status_code is StatusCode.ERROR
        assert len(exception_events(server)) == 1


class TestStatus:
    @pytest.mark.parametrize(
        ("code", "server_error"),
        [
            ("INTERNAL", True),
            ("UNAVAILABLE", True),
            ("NOT_FOUND", False),
            ("PERMISSION_DENIED", False),
        ],
    )
    def test_abort(
        self,
        sync_rpc: Any,
        span_exporter: InMemorySpanExporter,
        code: str,
        server_error: bool,
    ) -> None:
        """abort(): the server span is ERROR only for server-fault codes (as upstream), with no
        exception event; the client span is always ERROR."""
        with pytest.raises(grpc.RpcError) as caught:
            sync_rpc.unary(b"abort:" + code.encode())
        assert caught.value.code() is grpc.StatusCode[code]
        client, server = by_kind(span_exporter)
        number = grpc.StatusCode[code].value[0]
        assert client.attributes["rpc.grpc.status_code"] == number
        assert server.attributes["rpc.grpc.status_code"] == number
        assert client.status.status_code is StatusCode.ERROR
        if server_error:
            assert server.status.status_code is StatusCode.ERROR
            assert server.status.description == f"StatusCode.{code}:aborted"
        else:
            assert server.status.status_code is StatusCode.UNSET
        assert exception_events(server) == []

    def test_set_code_without_raising(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """set_code(FAILED_PRECONDITION) then return: the code is recorded, status UNSET."""
        with pytest.raises(grpc.RpcError):
            sync_rpc.unary(b"code:FAILED_PRECONDITION")
        _client, server = by_kind(span_exporter)
        assert server.attributes["rpc.grpc.status_code"] == 9
        assert server.status.status_code is StatusCode.UNSET

    def test_uncaught_exception_is_one_error(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter, metric_points: Any
    ) -> None:
        """An exception escaping the handler: ERROR, code UNKNOWN, exactly one exception event
        (upstream: UNSET, code 0, two events)."""
        with pytest.raises(grpc.RpcError):
            sync_rpc.unary(b"raise")
        _client, server = by_kind(span_exporter)
        assert server.status.status_code is StatusCode.ERROR
        assert server.attributes["rpc.grpc.status_code"] == 2
        events = exception_events(server)
        assert len(events) == 1
        assert events[0].attributes["exception.type"] == "ValueError"
        (point,) = metric_points()["rpc.server.duration"]
        assert point.attributes["rpc.grpc.status_code"] == 2

    def test_deadline_exceeded(self, sync_rpc: Any, span_exporter: InMemorySpanExporter) -> None:
        """A call past its deadline: the client span is ERROR with DEADLINE_EXCEEDED (4)."""
        with pytest.raises(grpc.RpcError) as caught:
            sync_rpc.unary(b"sleep:1", timeout=0.05)
        assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        (client,) = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
        assert client.attributes["rpc.grpc.status_code"] == 4
        assert client.status.status_code is StatusCode.ERROR
        assert len(exception_events(client)) == 1

    def test_unavailable_without_a_server(
        self, instrument_sync: Any, span_exporter: InMemorySpanExporter, closed_port: int
    ) -> None:
        """No server listening: UNAVAILABLE (14), ERROR, and the same exception re-raised."""
        instrument_sync()
        with grpc.insecure_channel(f"127.0.0.1:{closed_port}") as channel:
            with pytest.raises(grpc.RpcError) as caught:
                channel.unary_unary(UNARY)(b"x", timeout=5)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        (client,) = span_exporter.get_finished_spans()
        assert client.attributes["rpc.grpc.status_code"] == 14
        assert client.status.status_code is StatusCode.ERROR


class TestConfiguration:
    def test_filter_and_excluded_services_narrow_together(
        self,
        instrument_sync: Any,
        start_sync_server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A user filter and OTEL_PYTHON_GRPC_EXCLUDED_SERVICES: a call is traced only when the
        filter accepts it and its service is not excluded (upstream ORs them)."""
        monkeypatch.setenv("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES", "other.Service")
        instrument_sync(filter_=filters.method_name("Unary"))
        port = start_sync_server()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            channel.unary_unary(UNARY)(b"x")
            list(channel.unary_stream(f"/{SERVICE}/ServerStream")(b"count:1"))
        names = sorted(s.name for s in span_exporter.get_finished_spans())
        assert names == [UNARY, UNARY]

    def test_upstreams_condition_type_annotates_a_filter(
        self,
        instrument_sync: Any,
        start_sync_server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``filters.Condition[grpc.HandlerCallDetails]`` (upstream's alias) types a filter of
        one's own, which decides what is traced like the built-in ones."""
        not_unary: filters.Condition[grpc.HandlerCallDetails] = filters.negate(
            filters.method_name("Unary")
        )
        instrument_sync(filter_=not_unary)
        port = start_sync_server()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            channel.unary_unary(UNARY)(b"x")
            list(channel.unary_stream(f"/{SERVICE}/ServerStream")(b"count:1"))
        names = sorted(s.name for s in span_exporter.get_finished_spans())
        assert names == [f"/{SERVICE}/ServerStream"] * 2

    def test_excluded_service_is_not_traced(
        self,
        instrument_sync: Any,
        start_sync_server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """OTEL_PYTHON_GRPC_EXCLUDED_SERVICES lists services (comma list) that get no span."""
        monkeypatch.setenv("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES", f"a.B, {SERVICE}")
        instrument_sync()
        port = start_sync_server()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert channel.unary_unary(UNARY)(b"x") == b"echo:x"
        assert span_exporter.get_finished_spans() == ()

    def test_hooks_get_the_messages_and_a_raising_hook_is_harmless(
        self,
        instrument_sync: Any,
        start_sync_server: Any,
        caplog: pytest.LogCaptureFixture,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """request_hook(span, request) and response_hook(span, response) on every call type
        (per message for streams); a hook that raises is logged and the call goes on."""
        seen: list[tuple[str, Any]] = []

        def request_hook(span: Any, request: Any) -> None:
            seen.append(("request", request if isinstance(request, bytes) else "iterator"))

        def response_hook(span: Any, response: Any) -> None:
            seen.append(("response", response))
            raise RuntimeError("hook failure")

        instrument_sync(client={"request_hook": request_hook, "response_hook": response_hook})
        port = start_sync_server()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert channel.unary_unary(UNARY)(b"u") == b"echo:u"
            assert channel.unary_unary(UNARY).future(b"f").result() == b"echo:f"
            assert list(channel.unary_stream(f"/{SERVICE}/ServerStream")(b"count:2")) == [
                b"0",
                b"1",
            ]
            channel.stream_unary(f"/{SERVICE}/ClientStream")(iter([b"c"]))
        assert ("request", b"u") in seen
        assert ("response", b"echo:u") in seen
        assert ("request", b"count:2") in seen
        assert ("response", b"0") in seen
        assert ("response", b"1") in seen
        assert ("request", "iterator") in seen
        assert ("response", b"echo:c") in seen
        assert any("response_hook" in r.getMessage() for r in caplog.records)

    def test_suppressed_calls_are_not_traced(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """Inside suppress_instrumentation() the client makes no span (and sends no context)."""
        with suppress_instrumentation():
            assert sync_rpc.unary(b"x") == b"echo:x"
        assert [s.kind for s in span_exporter.get_finished_spans()] == [SpanKind.SERVER]

    def test_uninstrument_leaves_new_channels_and_servers_plain(
        self, instrument_sync: Any, start_sync_server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """After uninstrument(), new channels and servers are the library's own."""
        from instrumentarium.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer

        instrument_sync()
        GrpcInstrumentorClient().uninstrument()
        GrpcInstrumentorServer().uninstrument()
        port = start_sync_server()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert type(channel).__module__.startswith("grpc")
            channel.unary_unary(UNARY)(b"x")
        assert span_exporter.get_finished_spans() == ()

    def test_the_given_tracer_provider_is_used(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """The sync client uses instrument()'s tracer_provider, not the global one."""
        assert not isinstance(trace.get_tracer_provider(), type(span_exporter))
        sync_rpc.unary(b"x")
        assert len(span_exporter.get_finished_spans()) == 2

    def test_user_interceptors_still_run(
        self, sync_rpc: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """grpc.intercept_channel() on an instrumented channel keeps both the user's
        interceptor and the span."""
        calls: list[str] = []

        class Counting(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
            def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
                calls.append(details.method)
                return continuation(details, request)

        channel = grpc.intercept_channel(sync_rpc.channel, Counting())
        assert channel.unary_unary(UNARY)(b"x") == b"echo:x"
        assert calls == [UNARY]
        by_kind(span_exporter)


class TestInterceptorsByHand:
    def test_client_and_server_interceptors(
        self,
        start_sync_server: Callable[..., int],
        tracer_provider: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """client_interceptor() with grpc.intercept_channel and server_interceptor() in
        grpc.server(interceptors=...) trace without the instrumentors, every call type."""
        port = start_sync_server(interceptors=[server_interceptor(tracer_provider)])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as raw:
            channel = grpc.intercept_channel(raw, client_interceptor(tracer_provider))
            assert channel.unary_unary(UNARY)(b"x") == b"echo:x"
            assert list(channel.unary_stream(f"/{SERVICE}/ServerStream")(b"count:2")) == [
                b"0",
                b"1",
            ]
            with pytest.raises(grpc.RpcError):
                channel.unary_unary(UNARY)(b"abort:INTERNAL")
        spans = span_exporter.get_finished_spans()
        assert len(spans) == 6
        failed = [s for s in spans if s.attributes.get("rpc.grpc.status_code") == 13]
        assert len(failed) == 2
        assert all(s.status.status_code is StatusCode.ERROR for s in failed)
