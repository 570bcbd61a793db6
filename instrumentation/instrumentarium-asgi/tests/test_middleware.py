"""``OpenTelemetryMiddleware`` around plain ASGI apps, driven in-process message by message."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    get_global_response_propagator,
    set_global_response_propagator,
)
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentarium.asgi import OpenTelemetryMiddleware, get_default_span_details
from instrumentarium.util.safety import is_suppressed
from tests.support.asgi import drive, hello_app, http_scope, websocket_scope

Make = Callable[..., OpenTelemetryMiddleware]


def by_name(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return {span.name: span for span in exporter.get_finished_spans()}


class TestSpans:
    def test_one_server_span_and_one_internal_span_per_message(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """A GET gives the SERVER span ``GET /items/7`` and, as upstream, one INTERNAL span per
        ASGI message (``http receive``, two ``http send``), children of the server span."""
        drive(middleware())
        spans = span_exporter.get_finished_spans()
        names = sorted(span.name for span in spans)
        assert names == [
            "GET /items/7",
            "GET /items/7 http receive",
            "GET /items/7 http send",
            "GET /items/7 http send",
        ]
        server = by_name(span_exporter)["GET /items/7"]
        assert server.kind is SpanKind.SERVER
        for span in spans:
            if span is not server:
                assert span.kind is SpanKind.INTERNAL
                assert span.parent.span_id == server.context.span_id
                assert span.context.trace_id == server.context.trace_id
        sends = [s for s in spans if s.name.endswith("send")]
        start = next(s for s in sends if s.attributes["asgi.event.type"] == "http.response.start")
        assert start.attributes["http.status_code"] == 200
        body = next(s for s in sends if s.attributes["asgi.event.type"] == "http.response.body")
        assert "http.status_code" not in body.attributes

    def test_default_attributes_are_upstreams_old_conventions(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """The default (old) attributes: host is the server's address with its port, the
        server name is the Host header, the target is the path, the URL has the query."""
        drive(middleware(), http_scope(query_string=b"q=1"))
        attrs = dict(by_name(span_exporter)["GET /items/7"].attributes)
        assert attrs["http.method"] == "GET"
        assert attrs["http.scheme"] == "http"
        assert attrs["http.host"] == "127.0.0.1:8000"
        assert attrs["net.host.port"] == 8000
        assert attrs["http.flavor"] == "1.1"
        assert attrs["http.target"] == "/items/7"
        assert attrs["http.url"] == "http://testserver/items/7?q=1"
        assert attrs["http.server_name"] == "testserver"
        assert attrs["http.user_agent"] == "pytest"
        assert attrs["net.peer.ip"] == "10.0.0.2"
        assert attrs["net.peer.port"] == 51000
        assert attrs["http.status_code"] == 200
        assert "http.request.method" not in attrs
        assert "net.host.name" not in attrs  # the host is "address:port", as upstream

    def test_stable_and_dup_attributes(
        self, semconv: str, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """``http`` gives the stable names only, ``http/dup`` both sets."""
        drive(middleware(), http_scope(query_string=b"q=1"))
        attrs = dict(by_name(span_exporter)["GET /items/7"].attributes)
        old = semconv in ("default", "http/dup")
        new = semconv in ("http", "http/dup")
        assert ("http.method" in attrs) is old
        assert ("http.status_code" in attrs) is old
        assert ("http.request.method" in attrs) is new
        if new:
            assert attrs["http.request.method"] == "GET"
            assert attrs["url.scheme"] == "http"
            assert attrs["url.path"] == "/items/7"
            assert attrs["url.query"] == "q=1"
            assert attrs["server.address"] == "127.0.0.1"
            assert attrs["server.port"] == 8000
            assert attrs["client.address"] == "10.0.0.2"
            assert attrs["client.port"] == 51000
            assert attrs["network.protocol.version"] == "1.1"
            assert attrs["user_agent.original"] == "pytest"
            assert attrs["http.response.status_code"] == 200

    def test_unknown_method_is_named_http(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """An unknown method names the span ``HTTP /path`` and is recorded as ``_OTHER``."""
        drive(middleware(), http_scope(method="FOO"))
        span = next(s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
        assert span.name == "HTTP /items/7"
        assert span.attributes["http.method"] == "_OTHER"

    def test_context_is_extracted_from_the_request_headers(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """A ``traceparent`` header makes the server span a child of the remote caller."""
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        scope = http_scope()
        scope["headers"].append((b"traceparent", parent.encode()))
        drive(middleware(), scope)
        server = by_name(span_exporter)["GET /items/7"]
        assert server.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
        assert server.parent.span_id == 0xB7AD6B7169203331
        assert server.parent.is_remote

    def test_span_is_current_in_the_app_and_after_the_response(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """The server span is current while the app runs, and still the parent of what the app
        does after its last body chunk (a background task), although it has ended by then."""
        seen: dict[str, Any] = {}

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen["during"] = trace.get_current_span().get_span_context()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            seen["ended_before_background"] = len(
                [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
            )
            seen["after"] = trace.get_current_span().get_span_context()

        drive(middleware(app))
        server = by_name(span_exporter)["GET /items/7"]
        assert seen["during"].span_id == server.context.span_id
        assert seen["after"].span_id == server.context.span_id
        assert seen["ended_before_background"] == 1

    def test_an_app_traced_twice_gives_one_span(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """The middleware around an already traced app adds no second server span."""
        drive(middleware(middleware(), exclude_spans=["receive", "send"]))
        servers = [s for s in span_exporter.get_finished_spans() if s.name == "GET /items/7"]
        assert len(servers) == 1

    def test_default_span_details_names_the_span(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """``default_span_details(scope)`` gives the name and extra attributes (upstream's)."""

        def details(scope: Any) -> tuple[str, dict[str, Any]]:
            return "custom", {"http.route": "/items/{id}", "extra": 1}

        drive(middleware(default_span_details=details, exclude_spans=["receive", "send"]))
        (span,) = span_exporter.get_finished_spans()
        assert span.name == "custom"
        assert span.attributes["http.route"] == "/items/{id}"
        assert span.attributes["extra"] == 1

    def test_get_default_span_details_is_upstreams(self) -> None:
        """The exported helper names a scope ``"{METHOD} {path}"``."""
        assert get_default_span_details(http_scope()) == ("GET /items/7", {})
        assert get_default_span_details(http_scope(method="FOO"))[0] == "HTTP /items/7"

    def test_asgi2_apps_are_accepted(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """An ASGI 2 (double-callable) app is adapted, as upstream does with asgiref."""

        class Asgi2:
            def __init__(self, scope: Any) -> None:
                self.scope = scope

            async def __call__(self, receive: Any, send: Any) -> None:
                await hello_app(self.scope, receive, send)

        sent = drive(middleware(Asgi2))
        assert sent[-1]["body"] == b"hello"
        assert "GET /items/7" in by_name(span_exporter)


class TestExcludeSpans:
    @pytest.mark.parametrize(
        ("given", "left"),
        [
            (["receive"], {"GET /items/7", "GET /items/7 http send"}),
            (["send"], {"GET /items/7", "GET /items/7 http receive"}),
            (["receive", "send"], {"GET /items/7"}),
        ],
    )
    def test_keyword(
        self,
        middleware: Make,
        span_exporter: InMemorySpanExporter,
        given: list[str],
        left: set[str],
    ) -> None:
        """``exclude_spans`` drops the internal spans of the kinds it names, nothing else."""
        drive(middleware(exclude_spans=given))
        assert {s.name for s in span_exporter.get_finished_spans()} == left

    def test_environment_variable(
        self,
        middleware: Make,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``OTEL_PYTHON_ASGI_EXCLUDE_SPANS=receive,send`` (beyond upstream) drops both kinds;
        the status is still recorded on the server span."""
        monkeypatch.setenv("OTEL_PYTHON_ASGI_EXCLUDE_SPANS", " Receive , send ")
        drive(middleware())
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["http.status_code"] == 200

    def test_a_bad_value_is_reported_and_ignored(
        self,
        middleware: Make,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """An unknown kind in the variable is reported once, naming it; the spans stay."""
        monkeypatch.setenv("OTEL_PYTHON_ASGI_EXCLUDE_SPANS", "recieve")
        with caplog.at_level(logging.WARNING, "instrumentarium"):
            drive(middleware())
        assert "OTEL_PYTHON_ASGI_EXCLUDE_SPANS" in caplog.text
        assert len(span_exporter.get_finished_spans()) == 4


class TestScopes:
    def test_lifespan_is_never_traced(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """The ``lifespan`` protocol passes through: no span, no metric."""
        sent = drive(middleware(), {"type": "lifespan"}, [{"type": "lifespan.startup"}])
        assert sent == [{"type": "lifespan.startup.complete"}]
        assert span_exporter.get_finished_spans() == ()

    def test_websocket_is_one_span_per_connection(
        self, middleware: Make, span_exporter: InMemorySpanExporter, metric_points: Any
    ) -> None:
        """A websocket connection is one SERVER span ``HTTP /ws`` (upstream's name) with status
        200 and no method attribute, plus one span per message; no HTTP metric."""
        incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]
        sent = drive(middleware(), websocket_scope(), incoming)
        assert sent[1] == {"type": "websocket.send", "text": "hi"}
        spans = span_exporter.get_finished_spans()
        server = [s for s in spans if s.kind is SpanKind.SERVER]
        assert [s.name for s in server] == ["HTTP /ws"]
        assert server[0].attributes["http.scheme"] == "ws"
        assert server[0].attributes["http.status_code"] == 200
        assert "http.method" not in server[0].attributes
        assert sorted(s.name for s in spans if s.kind is SpanKind.INTERNAL) == [
            "HTTP /ws websocket receive",
            "HTTP /ws websocket receive",
            "HTTP /ws websocket send",
            "HTTP /ws websocket send",
            "HTTP /ws websocket send",
        ]
        points = metric_points()
        assert "http.server.duration" not in points
        assert all(p.value == 0 for p in points.get("http.server.active_requests", []))

    def test_websocket_without_internal_spans_is_one_span(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """With ``exclude_spans`` a websocket gives no span per message: one span in all."""
        incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]
        drive(middleware(exclude_spans=["receive", "send"]), websocket_scope(), incoming)
        assert [s.name for s in span_exporter.get_finished_spans()] == ["HTTP /ws"]

    def test_suppressed_http_instrumentation_is_obeyed(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """Inside ``suppress_http_instrumentation()`` the app runs untraced."""
        with suppress_http_instrumentation():
            drive(middleware())
        assert span_exporter.get_finished_spans() == ()


class TestExcludedUrls:
    def test_keyword(
        self, middleware: Make, span_exporter: InMemorySpanExporter, metric_points: Any
    ) -> None:
        """A URL matching ``excluded_urls`` (searched in ``scheme://host/path``) is neither
        traced nor measured; others are."""
        app = middleware(excluded_urls="testserver/health")
        drive(app, http_scope("/health"))
        assert span_exporter.get_finished_spans() == ()
        assert "http.server.duration" not in metric_points()
        drive(app, http_scope("/items/health"))
        assert span_exporter.get_finished_spans() != ()

    @pytest.mark.parametrize(("switch", "suppressed"), [(None, True), ("false", False)])
    def test_instrumentation_below_an_excluded_url_is_suppressed(
        self,
        middleware: Make,
        monkeypatch: pytest.MonkeyPatch,
        switch: Any,
        suppressed: bool,
    ) -> None:
        """An excluded request runs with instrumentation suppressed (a health check's database
        call makes no orphan root span: a difference from upstream), only while it runs;
        ``OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS=false`` restores upstream's behaviour."""
        if switch is not None:
            monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS", switch)
        seen: list[bool] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(is_suppressed())
            await hello_app(scope, receive, send)

        instrumented = middleware(app, excluded_urls="/health")
        drive(instrumented, http_scope("/health"))
        drive(instrumented, http_scope("/items/1"))
        assert seen == [suppressed, False]
        assert not is_suppressed()

    def test_environment(
        self,
        middleware: Make,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Without the keyword, ``OTEL_PYTHON_ASGI_EXCLUDED_URLS`` then
        ``OTEL_PYTHON_EXCLUDED_URLS`` apply."""
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "/items/")
        drive(middleware())
        assert span_exporter.get_finished_spans() == ()


class TestStatusAndExceptions:
    def test_5xx_is_error_without_description(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """A 500 response makes the server span and its send span ERROR; a 404 stays UNSET."""

        def answering(status: int) -> Any:
            async def app(scope: Any, receive: Any, send: Any) -> None:
                await send({"type": "http.response.start", "status": status, "headers": []})
                await send({"type": "http.response.body", "body": b""})

            return app

        drive(middleware(answering(500)))
        spans = by_name(span_exporter)
        assert spans["GET /items/7"].status.status_code is StatusCode.ERROR
        assert spans["GET /items/7"].status.description is None
        (start,) = [
            s
            for s in span_exporter.get_finished_spans()
            if s.attributes.get("asgi.event.type") == "http.response.start"
        ]
        assert start.status.status_code is StatusCode.ERROR
        span_exporter.clear()
        drive(middleware(answering(404)))
        assert by_name(span_exporter)["GET /items/7"].status.status_code is StatusCode.UNSET

    def test_exception_is_recorded_once_and_reraised_unchanged(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """An exception escaping the app: one ``exception`` event, ERROR, the same object
        re-raised, the span ended."""
        error = ValueError("boom")

        async def app(scope: Any, receive: Any, send: Any) -> None:
            raise error

        with pytest.raises(ValueError, match="boom") as caught:
            drive(middleware(app))
        assert caught.value is error
        (span,) = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"]

    def test_exception_after_a_500_keeps_the_500(
        self,
        semconv: str,
        middleware: Make,
        span_exporter: InMemorySpanExporter,
        metric_points: Any,
    ) -> None:
        """A framework that answers 500 and re-raises (Starlette's ServerErrorMiddleware): one
        exception event, ``error.type`` ``"500"``, the 500 measured."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"", "more_body": True})
            raise RuntimeError("late")

        with pytest.raises(RuntimeError):
            drive(middleware(app))
        (span,) = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        assert [e.name for e in span.events] == ["exception"]
        if semconv != "default":
            assert span.attributes["error.type"] == "500"
            (point,) = metric_points()["http.server.request.duration"]
            assert point.attributes["http.response.status_code"] == 500
        else:
            (point,) = metric_points()["http.server.duration"]
            assert point.attributes["http.status_code"] == 500


class TestHooks:
    def test_hooks_get_upstreams_arguments(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """``server_request_hook(span, scope)`` once; ``client_request_hook(span, scope,
        message)`` per receive; ``client_response_hook(span, scope, message)`` per send."""
        calls: list[tuple[str, Any, Any]] = []
        scope = http_scope()
        app = middleware(
            server_request_hook=lambda span, s: calls.append(("server", span.name, s)),
            client_request_hook=lambda span, s, m: calls.append(("request", span.name, m["type"])),
            client_response_hook=lambda span, s, m: calls.append(
                ("response", span.name, m["type"])
            ),
        )
        drive(app, scope)
        assert calls == [
            ("server", "GET /items/7", scope),
            ("request", "GET /items/7 http receive", "http.request"),
            ("response", "GET /items/7 http send", "http.response.start"),
            ("response", "GET /items/7 http send", "http.response.body"),
        ]

    def test_a_raising_hook_is_logged_and_the_request_goes_on(
        self,
        middleware: Make,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A hook that raises is logged; the response is sent and every span ends."""

        def broken(*args: Any) -> None:
            raise RuntimeError("hook")

        app = middleware(
            server_request_hook=broken, client_request_hook=broken, client_response_hook=broken
        )
        sent = drive(app)
        assert sent[-1]["body"] == b"hello"
        assert len(span_exporter.get_finished_spans()) == 4
        assert "server_request_hook" in caplog.text


class TestHeaders:
    def test_capture_by_keyword_with_sanitizing(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """The capture keywords select request and response headers; sanitized ones are
        ``[REDACTED]``."""
        scope = http_scope()
        scope["headers"] += [(b"x-request-id", b"r1"), (b"x-secret", b"s")]
        app = middleware(
            http_capture_headers_server_request=["x-request-id", "x-secret"],
            http_capture_headers_server_response=["content-type"],
            http_capture_headers_sanitize_fields=["secret"],
        )
        drive(app, scope)
        attrs = by_name(span_exporter)["GET /items/7"].attributes
        assert attrs["http.request.header.x_request_id"] == ("r1",)
        assert attrs["http.request.header.x_secret"] == ("[REDACTED]",)
        assert attrs["http.response.header.content_type"] == ("text/plain",)

    def test_capture_by_environment(
        self,
        middleware: Make,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Without keywords, the ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_*``
        variables select the headers."""
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "user-.*")
        drive(middleware())
        attrs = by_name(span_exporter)["GET /items/7"].attributes
        assert attrs["http.request.header.user_agent"] == ("pytest",)

    def test_traceresponse_is_injected_when_a_response_propagator_is_set(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """With a global response propagator, ``traceresponse`` names the server span."""
        previous = get_global_response_propagator()
        set_global_response_propagator(TraceResponsePropagator())
        try:
            sent = drive(middleware())
        finally:
            set_global_response_propagator(previous)  # type: ignore[arg-type]
        headers = dict(sent[0]["headers"])
        server = by_name(span_exporter)["GET /items/7"]
        assert f"{server.context.span_id:016x}".encode() in headers[b"traceresponse"]


class TestSampledOut:
    """A request whose server span is not recording gets no send or receive span (the sampler
    would drop them too) and no client hook call; its metrics and response are unchanged."""

    def test_a_sampled_out_parent_starts_no_child_span_and_keeps_its_metrics(
        self, middleware: Make, metric_points: Any
    ) -> None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.5)))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        started: list[str] = []
        original = provider.get_tracer

        def counting_tracer(*args: Any, **kwargs: Any) -> Any:
            tracer = original(*args, **kwargs)
            start_span = tracer.start_span

            def counted(name: str, *rest: Any, **options: Any) -> Any:
                started.append(name)
                return start_span(name, *rest, **options)

            tracer.start_span = counted  # type: ignore[method-assign]
            return tracer

        provider.get_tracer = counting_tracer  # type: ignore[method-assign]
        hooked: list[str] = []
        app = middleware(
            tracer_provider=provider,
            client_request_hook=lambda span, scope, message: hooked.append("receive"),
            client_response_hook=lambda span, scope, message: hooked.append("send"),
        )
        # An incoming traceparent whose sampled flag is off: the parent-based sampler drops it.
        scope = http_scope()
        scope["headers"].append(
            (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
        )
        sent = drive(app, scope)
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
        assert started == ["GET /items/7"]
        assert hooked == []
        assert exporter.get_finished_spans() == ()
        points = metric_points()
        assert [p.value for p in points["http.server.active_requests"]] == [0]
        assert [p.count for p in points["http.server.duration"]] == [1]

        # The same app with a sampled parent: the server span and its three children.
        started.clear()
        scope = http_scope()
        scope["headers"].append(
            (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        )
        drive(app, scope)
        assert sorted(started) == [
            "GET /items/7",
            "GET /items/7 http receive",
            "GET /items/7 http send",
            "GET /items/7 http send",
        ]
        assert sorted(hooked) == ["receive", "send", "send"]
        assert len(exporter.get_finished_spans()) == 4


class TestMetrics:
    def test_duration_active_and_sizes(
        self, semconv: str, middleware: Make, metric_points: Any
    ) -> None:
        """One duration point, active requests back to 0, and the request and response sizes
        from ``Content-Length`` in each mode's instruments."""
        scope = http_scope(method="POST")
        scope["headers"].append((b"content-length", b"3"))
        drive(middleware(), scope, [{"type": "http.request", "body": b"abc"}])
        points = metric_points()
        assert [p.value for p in points["http.server.active_requests"]] == [0]
        if semconv in ("default", "http/dup"):
            (duration,) = points["http.server.duration"]
            assert duration.attributes["http.method"] == "POST"
            assert duration.attributes["http.status_code"] == 200
            assert [p.sum for p in points["http.server.request.size"]] == [3]
            assert [p.sum for p in points["http.server.response.size"]] == [5]
        else:
            assert "http.server.duration" not in points
        if semconv in ("http", "http/dup"):
            (duration,) = points["http.server.request.duration"]
            assert duration.attributes["http.request.method"] == "POST"
            assert [p.sum for p in points["http.server.request.body.size"]] == [3]
            assert [p.sum for p in points["http.server.response.body.size"]] == [5]

    def test_concurrent_requests_report_their_own_response_size(
        self, middleware: Make, metric_points: Any
    ) -> None:
        """Overlapping requests of different sizes: each records its own response size (the
        size lives per connection, not on the middleware as upstream's does)."""
        events: dict[str, asyncio.Event] = {}  # made inside the loop (Python 3.9)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            size = int(scope["path"].strip("/"))
            headers = [(b"content-length", str(size).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if size == 10:
                await events["gate"].wait()  # the 10-byte one answers after the 100-byte one
            else:
                events["gate"].set()
            await send({"type": "http.response.body", "body": b"x" * size})

        instrumented = middleware(app, exclude_spans=["receive", "send"])

        async def both() -> None:
            events["gate"] = asyncio.Event()

            async def one(path: str) -> None:
                async def receive() -> Any:
                    return {"type": "http.request"}

                async def send(message: Any) -> None:
                    await asyncio.sleep(0)

                await instrumented(http_scope(path), receive, send)

            await asyncio.gather(one("/10"), one("/100"))

        asyncio.run(both())
        (point,) = metric_points()["http.server.response.size"]
        assert point.count == 2
        assert point.sum == 110
        assert point.min == 10
        assert point.max == 100


class TestStreaming:
    def test_span_ends_at_the_last_chunk_exactly_once(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """A streamed body: the span is open while chunks go out and ends with the last one."""
        open_while_streaming: list[bool] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for chunk in (b"a", b"b"):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                open_while_streaming.append(
                    not any(s.kind is SpanKind.SERVER for s in span_exporter.get_finished_spans())
                )
            await send({"type": "http.response.body", "body": b""})

        drive(middleware(app, exclude_spans=["receive", "send"]))
        assert open_while_streaming == [True, True]
        assert len(span_exporter.get_finished_spans()) == 1

    def test_client_disconnect_ends_the_span(
        self, middleware: Make, span_exporter: InMemorySpanExporter
    ) -> None:
        """A stream the client leaves (``http.disconnect``) ends the span when the app returns."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            message = await receive()
            assert message["type"] == "http.disconnect"

        drive(middleware(app), incoming=[])
        server = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        assert len(server) == 1
        assert server[0].attributes["http.status_code"] == 200

    def test_cancellation_ends_the_span(
        self, middleware: Make, span_exporter: InMemorySpanExporter, metric_points: Any
    ) -> None:
        """A connection cancelled mid-response (the server gave up) ends its span once and
        leaves no request counted active."""
        events: dict[str, asyncio.Event] = {}  # made inside the loop (Python 3.9)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            events["started"].set()
            await asyncio.sleep(10)

        async def run() -> None:
            events["started"] = asyncio.Event()

            async def receive() -> Any:
                return {"type": "http.request"}

            async def send(message: Any) -> None:
                return None

            task = asyncio.ensure_future(middleware(app)(http_scope(), receive, send))
            await events["started"].wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(run())
        server = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
        assert len(server) == 1
        assert [p.value for p in metric_points()["http.server.active_requests"]] == [0]
