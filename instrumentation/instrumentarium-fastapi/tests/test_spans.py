"""FastAPI apps under ``FastAPIInstrumentor``: names, coverage, FastAPI's own tracing,
exceptions, background tasks, websockets, metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any, Callable

import fastapi
import pytest
from fastapi import BackgroundTasks, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.test.globals_test import reset_trace_globals
from opentelemetry.trace import SpanKind, StatusCode
from starlette.responses import PlainTextResponse

from instrumentarium.fastapi import FastAPIInstrumentor
from instrumentarium.starlette import StarletteInstrumentor
from tests.support.asgi import drive, websocket_scope

MakeApp = Callable[..., FastAPI]
Get = Callable[..., Any]


def servers(exporter: InMemorySpanExporter) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


class TestNames:
    def test_route_template_names_the_span(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``"{METHOD} {route}"`` with ``http.route``; internal spans as upstream."""
        instrument()
        assert client_get(app_factory(), "/items/7").json() == {"item_id": 7}
        (span,) = servers(span_exporter)
        assert span.name == "GET /items/{item_id}"
        assert span.attributes["http.route"] == "/items/{item_id}"
        internal = {s.name for s in span_exporter.get_finished_spans() if s is not span}
        assert internal == {"GET /items/{item_id} http send"}  # a GET's body is never read

    def test_routers_give_the_full_template_to_span_and_metrics(
        self,
        semconv: str,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
        metric_points: Any,
    ) -> None:
        """Nested ``include_router`` prefixes are part of the template, on the span and on
        both duration metrics (upstream's old metric drops the prefix)."""
        instrument()
        assert client_get(app_factory(), "/api/v1/users/ann").status_code == 200
        (span,) = servers(span_exporter)
        assert span.name == "GET /api/v1/users/{user_id}"
        points = metric_points()
        if semconv != "http":
            (point,) = points["http.server.duration"]
            assert point.attributes["http.target"] == "/api/v1/users/{user_id}"
        if semconv != "default":
            (point,) = points["http.server.request.duration"]
            assert point.attributes["http.route"] == "/api/v1/users/{user_id}"

    def test_mounted_app_is_one_span_with_the_full_template(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
        metric_points: Any,
    ) -> None:
        """A FastAPI app mounted in another (both instrumented): one SERVER span named by the
        full template, counted once (upstream: an extra INTERNAL span, counted twice)."""
        instrument(exclude_spans=["receive", "send"])
        outer = FastAPI()
        outer.mount("/sub", app_factory())
        assert client_get(outer, "/sub/items/3").status_code == 200
        assert [s.name for s in span_exporter.get_finished_spans()] == ["GET /sub/items/{item_id}"]
        (point,) = metric_points()["http.server.duration"]
        assert point.count == 1

    def test_unmatched_route_is_named_by_the_method_alone(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A 404 is named ``GET``, never by its raw path; a 405 keeps its route."""
        instrument(exclude_spans=["receive", "send"])
        app = app_factory()
        assert client_get(app, "/nowhere/1").status_code == 404
        assert client_get(app, "/items/1", method="DELETE").status_code == 405
        assert [s.name for s in servers(span_exporter)] == ["GET", "DELETE /items/{item_id}"]

    def test_websocket_is_one_span_named_as_upstream(
        self, instrument: Any, app_factory: MakeApp, span_exporter: InMemorySpanExporter
    ) -> None:
        """A websocket is one SERVER span, ``HTTP /ws`` (upstream's FastAPI name), and no span
        per message when those are excluded."""
        instrument(exclude_spans=["receive", "send"])
        incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]
        sent = drive(app_factory(), websocket_scope(), incoming)
        assert {"type": "websocket.send", "text": "hi"} in sent
        assert [s.name for s in span_exporter.get_finished_spans()] == ["HTTP /ws"]


class TestCoverage:
    def test_apps_created_before_instrument_are_traced(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``from fastapi import FastAPI`` and an app made before ``instrument()`` are covered
        (upstream #3551)."""
        app = app_factory()
        instrument()
        client_get(app, "/items/1")
        assert [s.name for s in servers(span_exporter)] == ["GET /items/{item_id}"]

    def test_apps_wrapped_in_middleware_are_traced_once(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """User middleware (CORS, GZip) inside the app and a wrapper outside it: every request,
        a CORS preflight too, is one span (upstream #4699 turned preflights into 500s)."""
        instrument(exclude_spans=["receive", "send"])
        app = app_factory()
        app.add_middleware(GZipMiddleware)
        app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"])
        preflight = client_get(
            app,
            "/api/v1/users/x",
            method="OPTIONS",
            headers={"Origin": "http://a.example", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 200
        assert client_get(CORSMiddleware(app, allow_origins=["*"]), "/items/2").status_code == 200
        assert [s.name for s in servers(span_exporter)] == [
            "OPTIONS /api/v1/users/{user_id}",
            "GET /items/{item_id}",
        ]

    def test_instrument_app_and_uninstrument_app(
        self,
        instrumentor: FastAPIInstrumentor,
        tracer_provider: TracerProvider,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """``instrument_app`` traces one app (again: a warning, nothing else); the other app
        stays untraced; ``uninstrument_app`` stops it."""
        app, other = app_factory(), app_factory()
        FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
        with caplog.at_level(logging.WARNING, "instrumentarium"):
            FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
        assert "already instrumented" in caplog.text
        client_get(app, "/items/1")
        client_get(other, "/items/1")
        assert len(servers(span_exporter)) == 1
        FastAPIInstrumentor.uninstrument_app(app)
        client_get(app, "/items/1")
        assert len(servers(span_exporter)) == 1

    def test_starlette_instrumentor_leaves_fastapi_apps_alone(
        self,
        tracer_provider: TracerProvider,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """As upstream, Starlette's instrumentor does not trace FastAPI apps."""
        starlette = StarletteInstrumentor()
        starlette.instrument(tracer_provider=tracer_provider)
        try:
            client_get(app_factory(), "/items/1")
        finally:
            starlette.uninstrument()
        assert span_exporter.get_finished_spans() == ()

    def test_exclude_spans_and_excluded_urls_from_the_environment(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``OTEL_PYTHON_FASTAPI_EXCLUDE_SPANS`` (beyond upstream) and
        ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``: one span for the traced request, none for the
        excluded one."""
        monkeypatch.setenv("OTEL_PYTHON_FASTAPI_EXCLUDE_SPANS", "receive,send")
        monkeypatch.setenv("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "/items/1$")
        instrument()
        app = app_factory()
        client_get(app, "/items/1")
        client_get(app, "/items/2")
        assert [s.attributes["http.target"] for s in span_exporter.get_finished_spans()] == [
            "/items/2"
        ]


@pytest.fixture
def global_tracer_provider(tracer_provider: TracerProvider) -> Iterator[TracerProvider]:
    """The test's provider set as the global one (FastAPI's own tracing looks for it)."""
    reset_trace_globals()
    trace.set_tracer_provider(tracer_provider)
    yield tracer_provider
    reset_trace_globals()


@pytest.mark.skipif(
    not hasattr(fastapi, "telemetry"), reason="this FastAPI has no built-in tracing"
)
class TestFastAPIsOwnTracing:
    def test_without_instrumentarium_fastapi_traces_itself(
        self,
        global_tracer_provider: TracerProvider,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The premise: with a global provider, FastAPI emits its own server span."""
        client_get(app_factory(), "/items/1")
        assert [s.instrumentation_scope.name for s in servers(span_exporter)] == ["fastapi"]

    def test_with_instrumentarium_one_server_span(
        self,
        global_tracer_provider: TracerProvider,
        instrumentor: FastAPIInstrumentor,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """With our instrumentor on, FastAPI's own tracing is off: one server span a request,
        ours, and no FastAPI span at all (for apps created before and after instrument())."""
        before = app_factory()
        instrumentor.instrument()
        client_get(before, "/items/1")
        client_get(app_factory(), "/items/2")
        assert [s.instrumentation_scope.name for s in servers(span_exporter)] == [
            "instrumentarium.fastapi",
            "instrumentarium.fastapi",
        ]
        scopes = {s.instrumentation_scope.name for s in span_exporter.get_finished_spans()}
        assert scopes == {"instrumentarium.fastapi"}


class TestFailures:
    def test_handler_exception(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
        metric_points: Any,
    ) -> None:
        """A handler that raises: ERROR, one ``exception`` event, 500 on the span and in the
        metric; an ``HTTPException`` 418 is not an error."""
        instrument(exclude_spans=["receive", "send"])
        app = app_factory()
        assert client_get(app, "/boom").status_code == 500
        assert client_get(app, "/teapot").status_code == 418
        boom, teapot = servers(span_exporter)
        assert boom.status.status_code is StatusCode.ERROR
        assert [e.name for e in boom.events] == ["exception"]
        assert boom.attributes["http.status_code"] == 500
        assert teapot.status.status_code is StatusCode.UNSET
        codes = sorted(
            p.attributes["http.status_code"] for p in metric_points()["http.server.duration"]
        )
        assert codes == [418, 500]

    def test_logs_in_exception_handlers_carry_the_span(
        self, instrument: Any, client_get: Get, span_exporter: InMemorySpanExporter
    ) -> None:
        """A user exception handler runs inside the server span (upstream #3007: span id 0)."""
        seen: list[int] = []
        app = FastAPI()

        @app.exception_handler(KeyError)
        async def handler(request: Any, exc: KeyError) -> PlainTextResponse:
            seen.append(trace.get_current_span().get_span_context().span_id)
            return PlainTextResponse("handled", status_code=409)

        @app.get("/fail")
        async def fail() -> None:
            raise KeyError("x")

        instrument(exclude_spans=["receive", "send"])
        assert client_get(app, "/fail").status_code == 409
        (span,) = servers(span_exporter)
        assert seen == [span.context.span_id]


class TestBackgroundTasks:
    def test_background_task_gets_its_span_in_the_request_trace(
        self, instrument: Any, client_get: Get, span_exporter: InMemorySpanExporter
    ) -> None:
        """A ``BackgroundTasks`` task runs in an INTERNAL ``BackgroundTask {name}`` span,
        child of the request's span, after the server span ended."""
        seen: list[Any] = []
        app = FastAPI()

        def notify(who: str) -> None:
            seen.append(trace.get_current_span())

        @app.get("/hello")
        async def hello(tasks: BackgroundTasks) -> str:
            tasks.add_task(notify, "ann")
            return "hi"

        instrument(exclude_spans=["receive", "send"])
        assert client_get(app, "/hello").status_code == 200
        server, task = span_exporter.get_finished_spans()
        assert server.name == "GET /hello"
        assert task.name == "BackgroundTask notify"
        assert task.kind is SpanKind.INTERNAL
        assert task.parent.span_id == server.context.span_id
        assert server.end_time <= task.start_time
        assert seen[0].get_span_context().span_id == task.context.span_id

    def test_tasks_spawned_in_a_handler_see_the_request_context(
        self, instrument: Any, client_get: Get, span_exporter: InMemorySpanExporter
    ) -> None:
        """An ``asyncio`` task created in a handler runs in the request's trace, under its
        server span."""
        seen: list[Any] = []
        app = FastAPI()

        async def work() -> None:
            seen.append(trace.get_current_span().get_span_context())

        @app.get("/spawn")
        async def spawn() -> str:
            await asyncio.create_task(work())
            return "ok"

        instrument(exclude_spans=["receive", "send"])
        assert client_get(app, "/spawn").status_code == 200
        (server,) = span_exporter.get_finished_spans()
        assert seen[0].span_id == server.context.span_id
