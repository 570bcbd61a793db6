"""The ``jinja2.load``, ``jinja2.compile`` and ``jinja2.render`` spans, their attributes,
nesting, errors, and suppression."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jinja2
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentarium.jinja2 import Jinja2Instrumentor
from instrumentarium.jinja2._patches import ACTIVE


def names(exporter: InMemorySpanExporter) -> list[tuple[str, Any]]:
    """(span name, template name) of every finished span, in the order they ended."""
    return [
        (s.name, s.attributes.get("jinja2.template_name")) for s in exporter.get_finished_spans()
    ]


def by_name(exporter: InMemorySpanExporter, name: str) -> Any:
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


class TestSpans:
    def test_get_template_is_a_load_with_a_compile_child_then_a_cache_hit(
        self,
        instrument: Any,
        env: jinja2.Environment,
        template_dir: Path,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The first ``get_template`` is ``jinja2.load`` (with ``jinja2.template_path``) and a
        ``jinja2.compile`` child; the second, from the cache, a load span alone (upstream's
        shape). Every span is INTERNAL with ``jinja2.template_name``."""
        instrument()
        env.get_template("hello.html")
        assert names(span_exporter) == [
            ("jinja2.compile", "hello.html"),
            ("jinja2.load", "hello.html"),
        ]
        compile_span, load = span_exporter.get_finished_spans()
        assert compile_span.parent.span_id == load.context.span_id
        assert load.attributes["jinja2.template_path"] == str(template_dir / "hello.html")
        assert {s.kind for s in (compile_span, load)} == {SpanKind.INTERNAL}
        span_exporter.clear()
        env.get_template("hello.html")
        assert names(span_exporter) == [("jinja2.load", "hello.html")]

    def test_render_span_with_the_output_unchanged(
        self, instrument: Any, env: jinja2.Environment, span_exporter: InMemorySpanExporter
    ) -> None:
        """``render`` is one ``jinja2.render`` span; the output is Jinja2's."""
        template = env.get_template("hello.html")
        instrument()
        assert template.render(name="you") == "Hello you!"
        assert names(span_exporter) == [("jinja2.render", "hello.html")]
        assert by_name(span_exporter, "jinja2.render").status.status_code is StatusCode.UNSET

    def test_from_string_is_compile_and_render_named_memory(
        self, instrument: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A template from a string: ``jinja2.compile`` and ``jinja2.render`` named
        ``<memory>``, as upstream."""
        instrument()
        assert jinja2.Environment().from_string("{{ 1 + 1 }}").render() == "2"
        assert names(span_exporter) == [
            ("jinja2.compile", "<memory>"),
            ("jinja2.render", "<memory>"),
        ]

    def test_extends_loads_the_parent_inside_the_render_span(
        self, instrument: Any, env: jinja2.Environment, span_exporter: InMemorySpanExporter
    ) -> None:
        """``{% extends %}`` loads its parent while the child renders: the parent's load span
        is a child of the render span."""
        template = env.get_template("page.html")
        span_exporter.clear()
        instrument()
        assert template.render(name="x") == "<html><p>x</p></html>"
        render = by_name(span_exporter, "jinja2.render")
        loads = [s for s in span_exporter.get_finished_spans() if s.name == "jinja2.load"]
        assert [s.attributes["jinja2.template_name"] for s in loads] == ["base.html"]
        assert loads[0].parent.span_id == render.context.span_id

    def test_spans_are_children_of_the_current_span(
        self,
        instrument: Any,
        tracer_provider: TracerProvider,
        env: jinja2.Environment,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Under an application span, the load is its child, in the same trace."""
        instrument()
        with tracer_provider.get_tracer("app").start_as_current_span("view") as view:
            env.get_template("hello.html").render(name="a")
        load = by_name(span_exporter, "jinja2.load")
        assert load.parent.span_id == view.get_span_context().span_id
        assert {s.context.trace_id for s in span_exporter.get_finished_spans()} == {
            view.get_span_context().trace_id
        }


class TestStreamsAndAsync:
    def test_generate_span_lasts_until_the_stream_ends(
        self, instrument: Any, env: jinja2.Environment, span_exporter: InMemorySpanExporter
    ) -> None:
        """``generate`` (``stream``) is a ``jinja2.render`` span that ends when the stream is
        exhausted (upstream's ends before the first piece)."""
        template = env.get_template("list.html")
        span_exporter.clear()
        instrument()
        pieces = template.generate(items=[1, 2, 3])
        assert span_exporter.get_finished_spans() == ()
        assert "".join(pieces) == "1;2;3;"
        assert names(span_exporter) == [("jinja2.render", "list.html")]
        assert not trace.get_current_span().get_span_context().is_valid

    def test_abandoned_stream_ends_its_span_on_close(
        self, instrument: Any, env: jinja2.Environment, span_exporter: InMemorySpanExporter
    ) -> None:
        """A stream closed before its end still ends its span, once."""
        template = env.get_template("list.html")
        span_exporter.clear()
        instrument()
        pieces = template.generate(items=[1, 2, 3])
        next(pieces)
        pieces.close()
        assert names(span_exporter) == [("jinja2.render", "list.html")]

    def test_render_async_is_one_render_span(
        self, instrument: Any, template_dir: Path, span_exporter: InMemorySpanExporter
    ) -> None:
        """In an async environment ``render_async`` is traced (upstream does not), and the
        sync ``render``, which runs it, makes no second span."""
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(template_dir)), enable_async=True
        )
        template = env.get_template("hello.html")
        span_exporter.clear()
        instrument()
        assert asyncio.run(template.render_async(name="a")) == "Hello a!"
        loop = asyncio.new_event_loop()  # Jinja2 3.0's sync render runs the current loop
        asyncio.set_event_loop(loop)
        try:
            assert template.render(name="b") == "Hello b!"
        finally:
            asyncio.set_event_loop(None)
            loop.close()
        assert names(span_exporter) == [("jinja2.render", "hello.html")] * 2


class TestErrors:
    def test_syntax_error_is_recorded_on_compile_and_load(
        self, instrument: Any, env: jinja2.Environment, span_exporter: InMemorySpanExporter
    ) -> None:
        """A template that does not compile: Jinja2's ``TemplateSyntaxError`` propagates;
        the compile and load spans are ERROR with the exception event."""
        instrument()
        with pytest.raises(jinja2.TemplateSyntaxError):
            env.get_template("broken.html")
        for span in span_exporter.get_finished_spans():
            assert span.status.status_code is StatusCode.ERROR
            assert span.status.description.startswith("TemplateSyntaxError: ")
            assert [e.name for e in span.events] == ["exception"]
        assert [s.name for s in span_exporter.get_finished_spans()] == [
            "jinja2.compile",
            "jinja2.load",
        ]

    def test_missing_template_is_an_error_load(
        self, instrument: Any, env: jinja2.Environment, span_exporter: InMemorySpanExporter
    ) -> None:
        """``TemplateNotFound`` propagates; the load span is ERROR, with no template path."""
        instrument()
        with pytest.raises(jinja2.TemplateNotFound):
            env.get_template("nope.html")
        load = by_name(span_exporter, "jinja2.load")
        assert load.status.status_code is StatusCode.ERROR
        assert "jinja2.template_path" not in load.attributes

    def test_render_error_is_recorded(
        self, instrument: Any, env: jinja2.Environment, span_exporter: InMemorySpanExporter
    ) -> None:
        """An undefined variable while rendering: ``UndefinedError``, the same object the
        template raised, and an ERROR render span."""
        template = env.get_template("undefined.html")
        instrument()
        with pytest.raises(jinja2.UndefinedError):
            template.render()
        render = by_name(span_exporter, "jinja2.render")
        assert render.status.status_code is StatusCode.ERROR
        assert render.status.description.startswith("UndefinedError: ")

    def test_load_template_by_keyword(
        self, instrument: Any, env: jinja2.Environment, span_exporter: InMemorySpanExporter
    ) -> None:
        """``_load_template(name=...)`` works and is named (upstream raises ``IndexError``)."""
        instrument()
        env._load_template(name="hello.html", globals=None)
        assert ("jinja2.load", "hello.html") in names(span_exporter)


class TestLifecycle:
    def test_nothing_while_suppressed(
        self, instrument: Any, env: jinja2.Environment, span_exporter: InMemorySpanExporter
    ) -> None:
        """Inside ``suppress_instrumentation()`` nothing is traced; the output is the same."""
        instrument()
        with suppress_instrumentation():
            assert env.get_template("hello.html").render(name="s") == "Hello s!"
            assert "".join(env.get_template("list.html").generate(items=[1])) == "1;"
        assert span_exporter.get_finished_spans() == ()

    def test_uninstrument_and_again(
        self,
        instrument: Any,
        env: jinja2.Environment,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """After ``uninstrument()`` no span; instrumenting again (twice) gives one per call."""
        instrumentor: Jinja2Instrumentor = instrument()
        instrumentor.uninstrument()
        template = env.get_template("hello.html")
        template.render(name="a")
        assert span_exporter.get_finished_spans() == ()
        instrument()
        instrument()
        template.render(name="a")
        assert names(span_exporter) == [("jinja2.render", "hello.html")]

    def test_a_failing_span_start_leaves_rendering_alone(
        self,
        instrument: Any,
        env: jinja2.Environment,
        span_exporter: InMemorySpanExporter,
        broken_step: Any,
    ) -> None:
        """Our span start raising: templates load and render as usual; the one site logs
        WARNING once, then DEBUG (load, compile and render, then load and render: 5 times)."""
        instrumentor: Jinja2Instrumentor = instrument()
        assert ACTIVE.global_ is not None
        assert instrumentor.is_instrumented_by_opentelemetry
        log = broken_step(ACTIVE.global_.tracer, "start_span")
        for _ in range(2):
            assert env.get_template("hello.html").render(name="x") == "Hello x!"
        assert log.once_per_site(5)
        assert span_exporter.get_finished_spans() == ()
