"""Starlette apps under ``StarletteInstrumentor``: names, coverage, exceptions, websockets."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from instrumentarium.starlette import StarletteInstrumentor
from tests.support.asgi import drive, websocket_scope

MakeApp = Callable[..., Starlette]
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
        """``"{METHOD} {route}"`` with ``http.route``, from the first request on."""
        instrument()
        assert client_get(app_factory(), "/users/7").text == "user 7"
        (span,) = servers(span_exporter)
        assert span.name == "GET /users/{user_id}"
        assert span.attributes["http.route"] == "/users/{user_id}"
        assert span.attributes["http.target"] == "/users/7"
        internal = [s.name for s in span_exporter.get_finished_spans() if s is not span]
        assert "GET /users/{user_id} http send" in internal

    def test_mounts_give_the_full_template(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Through two mounts and a sub-app (itself instrumented): one span, named by the full
        template, not the mount prefix (upstream gives ``GET /api``)."""
        instrument()
        assert client_get(app_factory(), "/api/v1/items/3").status_code == 200
        (span,) = servers(span_exporter)
        assert span.name == "GET /api/v1/items/{item_id}"
        assert span.attributes["http.route"] == "/api/v1/items/{item_id}"

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
        assert client_get(app, "/nowhere/123").status_code == 404
        assert client_get(app, "/users/7", method="POST").status_code == 405
        names = [s.name for s in servers(span_exporter)]
        assert names == ["GET", "POST /users/{user_id}"]
        assert "http.route" not in servers(span_exporter)[0].attributes

    def test_websocket_is_named_by_its_route(
        self, instrument: Any, app_factory: MakeApp, span_exporter: InMemorySpanExporter
    ) -> None:
        """A websocket connection is one SERVER span named by its route (upstream's
        Starlette name), with no span per message when those are excluded."""
        instrument(exclude_spans=["receive", "send"])
        incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]
        sent = drive(app_factory(), websocket_scope(), incoming)
        assert {"type": "websocket.send", "text": "hi"} in sent
        (span,) = span_exporter.get_finished_spans()
        assert span.name == "/ws"
        assert span.kind is SpanKind.SERVER


class TestCoverage:
    def test_apps_created_before_instrument_are_traced(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The patch is on the class: an app made before ``instrument()`` is covered."""
        app = app_factory()
        instrument()
        client_get(app, "/users/1")
        assert [s.name for s in servers(span_exporter)] == ["GET /users/{user_id}"]

    def test_apps_wrapped_in_middleware_are_traced(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """An app wrapped from the outside (CORS) or with its own middleware (GZip) is traced
        once, the preflight request too."""
        instrument(exclude_spans=["receive", "send"])
        wrapped = CORSMiddleware(
            app_factory(middleware=[Middleware(GZipMiddleware)]),
            allow_origins=["*"],
            allow_methods=["*"],
        )
        assert client_get(wrapped, "/users/2").status_code == 200
        names = [s.name for s in servers(span_exporter)]
        assert names == ["GET /users/{user_id}"]

    def test_instrument_app_and_uninstrument_app(
        self,
        instrumentor: StarletteInstrumentor,
        tracer_provider: TracerProvider,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """``instrument_app`` traces one app (a second call warns and changes nothing), the
        other stays untraced; ``uninstrument_app`` stops it."""
        app, other = app_factory(), app_factory()
        StarletteInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
        with caplog.at_level(logging.WARNING, "instrumentarium"):
            StarletteInstrumentor.instrument_app(app, tracer_provider=tracer_provider)
        assert "already instrumented" in caplog.text
        client_get(app, "/users/1")
        client_get(other, "/users/1")
        assert len(servers(span_exporter)) == 1
        StarletteInstrumentor.uninstrument_app(app)
        client_get(app, "/users/1")
        assert len(servers(span_exporter)) == 1

    def test_uninstrument_app_under_instrument(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``uninstrument_app`` keeps one app untraced while ``instrument()`` covers the rest."""
        instrument()
        app, other = app_factory(), app_factory()
        StarletteInstrumentor.uninstrument_app(app)
        client_get(app, "/users/1")
        client_get(other, "/users/1")
        assert len(servers(span_exporter)) == 1

    def test_lifespan_is_not_traced(
        self, instrument: Any, app_factory: MakeApp, span_exporter: InMemorySpanExporter
    ) -> None:
        """Start-up and shut-down (the ``lifespan`` protocol) give no span."""
        instrument()
        incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent = drive(app_factory(), {"type": "lifespan"}, incoming)
        assert sent[0]["type"] == "lifespan.startup.complete"
        assert span_exporter.get_finished_spans() == ()

    def test_excluded_urls_from_the_environment(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``OTEL_PYTHON_STARLETTE_EXCLUDED_URLS`` leaves matching requests untraced."""
        monkeypatch.setenv("OTEL_PYTHON_STARLETTE_EXCLUDED_URLS", "/users/1$")
        instrument()
        app = app_factory()
        client_get(app, "/users/1")
        client_get(app, "/users/2")
        assert [s.attributes["http.target"] for s in servers(span_exporter)] == ["/users/2"]

    def test_exclude_spans_from_the_environment(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``OTEL_PYTHON_STARLETTE_EXCLUDE_SPANS=receive,send``: one span a request."""
        monkeypatch.setenv("OTEL_PYTHON_STARLETTE_EXCLUDE_SPANS", "receive,send")
        instrument()
        client_get(app_factory(), "/users/1")
        assert len(span_exporter.get_finished_spans()) == 1


class TestFailures:
    def test_handler_exception_is_error_with_one_event_and_a_measured_500(
        self,
        instrument: Any,
        app_factory: MakeApp,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
        metric_points: Any,
    ) -> None:
        """A view that raises: ERROR, one ``exception`` event, ``http.status_code`` 500 on the
        span and in the duration metric."""
        instrument()
        assert client_get(app_factory(), "/boom").status_code == 500
        (span,) = servers(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"]
        assert span.attributes["http.status_code"] == 500
        (point,) = metric_points()["http.server.duration"]
        assert point.attributes["http.status_code"] == 500
        assert point.attributes["http.target"] == "/boom"

    def test_logs_in_exception_handlers_carry_the_span(
        self,
        instrument: Any,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """An exception handler runs inside the server span (upstream #3007: span id 0)."""
        seen: list[int] = []

        async def handler(request: Any, exc: Exception) -> PlainTextResponse:
            seen.append(trace.get_current_span().get_span_context().span_id)
            return PlainTextResponse("handled", status_code=418)

        async def fail(request: Any) -> None:
            raise KeyError("x")

        app = Starlette(routes=[Route("/fail", fail)], exception_handlers={KeyError: handler})
        instrument()
        assert client_get(app, "/fail").status_code == 418
        (span,) = servers(span_exporter)
        assert seen == [span.context.span_id]


class TestResponses:
    def test_streamed_response_ends_with_its_last_chunk(
        self,
        instrument: Any,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A ``StreamingResponse``: the span is open while chunks are produced and ends once."""
        open_during: list[bool] = []

        async def chunks() -> Any:
            for chunk in (b"a", b"b", b"c"):
                open_during.append(trace.get_current_span().is_recording())
                yield chunk

        async def stream(request: Any) -> StreamingResponse:
            return StreamingResponse(chunks())

        instrument(exclude_spans=["receive", "send"])
        response = client_get(Starlette(routes=[Route("/stream", stream)]), "/stream")
        assert response.content == b"abc"
        assert open_during == [True, True, True]
        assert [s.name for s in span_exporter.get_finished_spans()] == ["GET /stream"]

    def test_background_tasks_see_the_request_context(
        self,
        instrument: Any,
        client_get: Get,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A ``BackgroundTask`` runs after the response in the request's trace."""
        seen: list[Any] = []
        tracer = trace.get_tracer(__name__)

        def task() -> None:
            seen.append(trace.get_current_span().get_span_context())

        async def view(request: Any) -> PlainTextResponse:
            return PlainTextResponse("ok", background=BackgroundTask(task))

        del tracer
        instrument()
        client_get(Starlette(routes=[Route("/bg", view)]), "/bg")
        (span,) = servers(span_exporter)
        assert seen[0].trace_id == span.context.trace_id
