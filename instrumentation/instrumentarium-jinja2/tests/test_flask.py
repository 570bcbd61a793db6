"""Templates rendered by a Flask view: one trace, the server span with the template spans as
its children (Flask and Jinja2 both instrumented, as ``opentelemetry-instrument`` does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from instrumentarium.flask import FlaskInstrumentor


@pytest.fixture
def app(
    template_dir: Path, tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Iterator[flask.Flask]:
    """A Flask app rendering ``hello.html`` and streaming ``list.html``, instrumented."""
    app = flask.Flask(__name__, template_folder=str(template_dir))

    @app.route("/hello/<name>")
    def hello(name: str) -> str:
        return flask.render_template("hello.html", name=name)

    @app.route("/page")
    def page() -> str:
        return flask.render_template("page.html", name="p")

    FlaskInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    yield app
    FlaskInstrumentor.uninstrument_app(app)


class TestFlask:
    def test_render_is_a_child_of_the_server_span(
        self, instrument: Any, app: flask.Flask, span_exporter: InMemorySpanExporter
    ) -> None:
        """``GET /hello/you``: one trace; the SERVER span ``GET /hello/<name>`` is the parent
        of ``jinja2.load`` (with its ``jinja2.compile``) and ``jinja2.render``."""
        instrument()
        response = app.test_client().get("/hello/you")
        assert response.data == b"Hello you!"
        spans = {s.name: s for s in span_exporter.get_finished_spans()}
        assert set(spans) == {"GET /hello/<name>", "jinja2.load", "jinja2.compile", "jinja2.render"}
        server = spans["GET /hello/<name>"]
        assert server.kind is SpanKind.SERVER
        assert {s.context.trace_id for s in spans.values()} == {server.context.trace_id}
        assert spans["jinja2.render"].parent.span_id == server.context.span_id
        assert spans["jinja2.load"].parent.span_id == server.context.span_id
        assert spans["jinja2.compile"].parent.span_id == spans["jinja2.load"].context.span_id
        assert spans["jinja2.render"].attributes["jinja2.template_name"] == "hello.html"

    def test_second_request_uses_the_cache_and_extends_nest(
        self, instrument: Any, app: flask.Flask, span_exporter: InMemorySpanExporter
    ) -> None:
        """A second request loads from the cache (no compile); ``{% extends %}`` loads the
        parent inside the render span, all under the request's server span."""
        instrument()
        client = app.test_client()
        client.get("/page")
        span_exporter.clear()
        assert client.get("/page").data == b"<html><p>p</p></html>"
        spans = span_exporter.get_finished_spans()
        assert sorted(s.name for s in spans) == [
            "GET /page",
            "jinja2.load",
            "jinja2.load",
            "jinja2.render",
        ]
        (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
        (render,) = [s for s in spans if s.name == "jinja2.render"]
        parents = {
            s.attributes["jinja2.template_name"]: s.parent.span_id
            for s in spans
            if s.name == "jinja2.load"
        }
        assert parents == {"page.html": server.context.span_id, "base.html": render.context.span_id}
