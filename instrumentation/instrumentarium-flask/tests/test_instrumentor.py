"""``FlaskInstrumentor``: instrument / uninstrument (global and per app), zero-code and the
deferred import, as seen by Flask apps (the entry point, the wrappers left by ``uninstrument()``
and ``__all__``: ``tests/test_contract.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import flask
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentarium.flask import FlaskInstrumentor

ROUTE_SPAN = "GET /users/<int:user_id>"


def _span_names(exporter: InMemorySpanExporter) -> list[str]:
    return [span.name for span in exporter.get_finished_spans()]


class TestInstrument:
    def test_covers_an_app_created_before_instrument(self, make_app, instrument, span_exporter):
        """An app that exists before ``instrument()`` is traced (upstream misses such apps)."""
        app = make_app()
        instrument()

        assert app.test_client().get("/users/1").status_code == 200

        assert _span_names(span_exporter) == [ROUTE_SPAN]

    def test_covers_an_app_created_after_instrument(self, make_app, instrument, span_exporter):
        """An app created after ``instrument()`` is traced."""
        instrument()
        app = make_app()

        app.test_client().get("/users/1")

        assert _span_names(span_exporter) == [ROUTE_SPAN]

    def test_does_not_replace_the_flask_class(self, make_app, instrument):
        """``flask.Flask`` stays the same class: apps keep their type and subclasses still work."""
        flask_class = flask.Flask
        instrument()

        assert flask.Flask is flask_class
        assert type(make_app()) is flask_class

    def test_covers_a_flask_subclass_that_overrides_wsgi_app(self, instrument, span_exporter):
        """A ``Flask`` subclass that overrides ``wsgi_app`` and calls ``super()`` gets one span
        per request."""

        class CustomFlask(flask.Flask):
            def wsgi_app(self, environ: Any, start_response: Any) -> Any:
                environ["custom.seen"] = True
                return super().wsgi_app(environ, start_response)

        app = CustomFlask("custom_flask_app")

        @app.route("/users/<int:user_id>")
        def user(user_id: int) -> str:
            return "ok" if flask.request.environ["custom.seen"] else "no"

        instrument()

        assert app.test_client().get("/users/1").data == b"ok"

        assert _span_names(span_exporter) == [ROUTE_SPAN]

    def test_no_telemetry_after_uninstrument(
        self, make_app, instrument, instrumentor, span_exporter, metric_points
    ):
        """Requests after ``uninstrument()`` produce neither spans nor metrics."""
        app = make_app()
        instrument()
        client = app.test_client()
        client.get("/users/1")
        instrumentor.uninstrument()

        assert client.get("/users/2").status_code == 200
        assert client.get("/boom").status_code == 500

        assert _span_names(span_exporter) == [ROUTE_SPAN]
        [point] = metric_points()["http.server.duration"]
        assert point.count == 1

    def test_instrument_twice_gives_one_span_per_request(self, make_app, instrument, span_exporter):
        """A second ``instrument()`` is a no-op: each request still gets exactly one span."""
        app = make_app()
        instrument()
        instrument()

        app.test_client().get("/users/1")
        app.test_client().get("/users/2")

        assert _span_names(span_exporter) == [ROUTE_SPAN, ROUTE_SPAN]

    def test_uninstrument_twice_is_harmless(
        self, make_app, instrument, instrumentor, span_exporter
    ):
        """A second ``uninstrument()`` neither raises nor disturbs the app."""
        app = make_app()
        instrument()
        instrumentor.uninstrument()
        instrumentor.uninstrument()

        assert app.test_client().get("/users/1").status_code == 200
        assert span_exporter.get_finished_spans() == ()

    def test_instrument_again_after_uninstrument(
        self, make_app, instrument, instrumentor, span_exporter
    ):
        """instrument → uninstrument → instrument traces again, once per request, with the new
        configuration."""
        app = make_app()
        other_exporter = InMemorySpanExporter()
        other_provider = TracerProvider()
        other_provider.add_span_processor(SimpleSpanProcessor(other_exporter))
        instrument(tracer_provider=other_provider)
        instrumentor.uninstrument()
        instrument()

        app.test_client().get("/users/1")

        assert _span_names(span_exporter) == [ROUTE_SPAN]
        assert other_exporter.get_finished_spans() == ()


class TestInstrumentApp:
    def test_instruments_only_that_app(self, make_app, instrument_app, span_exporter):
        """``instrument_app`` traces the given app and no other."""
        traced, untraced = make_app(), make_app()
        instrument_app(traced)

        untraced.test_client().get("/health")
        traced.test_client().get("/users/1")

        assert _span_names(span_exporter) == [ROUTE_SPAN]

    def test_twice_warns_and_keeps_one_span(
        self, make_app, instrument_app, span_exporter, instrumentarium_warnings
    ):
        """A second ``instrument_app`` on the same app logs a warning and changes nothing."""
        app = make_app()
        instrument_app(app)
        instrument_app(app)

        app.test_client().get("/users/1")

        [warning] = instrumentarium_warnings()
        assert "already instrumented" in warning.getMessage()
        assert _span_names(span_exporter) == [ROUTE_SPAN]

    def test_sets_and_clears_the_instrumented_flag(self, make_app, instrument_app):
        """``_is_instrumented_by_opentelemetry`` is True after ``instrument_app`` and False after
        ``uninstrument_app``, as upstream."""
        app = make_app()
        assert not getattr(app, "_is_instrumented_by_opentelemetry", False)

        instrument_app(app)
        assert app._is_instrumented_by_opentelemetry is True

        FlaskInstrumentor.uninstrument_app(app)
        assert app._is_instrumented_by_opentelemetry is False

    def test_uninstrument_app_stops_tracing_that_app(
        self, make_app, instrument_app, span_exporter, metric_points
    ):
        """After ``uninstrument_app`` the app produces no spans and no metrics."""
        app = make_app()
        instrument_app(app)
        FlaskInstrumentor.uninstrument_app(app)

        assert app.test_client().get("/users/1").status_code == 200

        assert span_exporter.get_finished_spans() == ()
        assert metric_points() == {}

    def test_uninstrumenting_the_last_app_leaves_no_wrapper_behind(
        self, make_app, instrument_app, original_methods
    ):
        """When no app is instrumented any more, ``flask.Flask`` has its original methods again."""
        first, second = make_app(), make_app()
        instrument_app(first)
        instrument_app(second)
        FlaskInstrumentor.uninstrument_app(first)
        assert flask.Flask.__dict__["wsgi_app"] is not original_methods["wsgi_app"]

        FlaskInstrumentor.uninstrument_app(second)

        for name, original in original_methods.items():
            assert flask.Flask.__dict__[name] is original, f"Flask.{name} still wrapped"

    def test_uninstrument_app_turns_off_an_app_covered_by_instrument(
        self, make_app, instrument, span_exporter
    ):
        """Under ``instrument()``, ``uninstrument_app(app)`` turns that app off and only it."""
        off, on = make_app(), make_app()
        instrument()
        FlaskInstrumentor.uninstrument_app(off)

        off.test_client().get("/health")
        on.test_client().get("/users/1")

        assert _span_names(span_exporter) == [ROUTE_SPAN]

    def test_uninstrument_app_on_a_plain_app_warns(self, make_app, instrumentarium_warnings):
        """``uninstrument_app`` on an app that is not instrumented only logs a warning."""
        app = make_app()

        FlaskInstrumentor.uninstrument_app(app)

        [warning] = instrumentarium_warnings()
        assert "uninstrument" in warning.getMessage()
        assert app.test_client().get("/health").status_code == 200

    def test_per_app_options_win_over_global_ones(
        self, make_app, instrument, instrument_app, span_exporter
    ):
        """An app configured with ``instrument_app`` uses its own options, even under
        ``instrument()``; other apps keep the global ones."""
        own_exporter = InMemorySpanExporter()
        own_provider = TracerProvider()
        own_provider.add_span_processor(SimpleSpanProcessor(own_exporter))
        own, other = make_app(), make_app()
        instrument(excluded_urls="health")
        instrument_app(own, tracer_provider=own_provider, excluded_urls="users")

        for app in (own, other):
            client = app.test_client()
            client.get("/users/1")
            client.get("/health")

        assert _span_names(own_exporter) == ["GET /health"]
        assert _span_names(span_exporter) == [ROUTE_SPAN]

    def test_instrument_app_again_after_uninstrument_app(
        self, make_app, instrument_app, span_exporter
    ):
        """instrument_app → uninstrument_app → instrument_app traces once per request."""
        app = make_app()
        instrument_app(app)
        FlaskInstrumentor.uninstrument_app(app)
        instrument_app(app)

        app.test_client().get("/users/1")

        assert _span_names(span_exporter) == [ROUTE_SPAN]


ZERO_CODE_APP = textwrap.dedent(
    """
    from flask import Flask

    app = Flask("zero_code")

    @app.route("/users/<int:user_id>")
    def user(user_id):
        return "ok"

    print("STATUS", app.test_client().get("/users/7").status_code)
    """
)


@pytest.mark.subprocess
class TestZeroCode:
    @pytest.fixture
    def run_instrumented(self, tmp_path: Path) -> Callable[..., tuple[str, list[dict[str, Any]]]]:
        script = tmp_path / "app.py"
        script.write_text(ZERO_CODE_APP)
        agent = Path(sys.executable).with_name("opentelemetry-instrument")

        def run(**env: str) -> tuple[str, list[dict[str, Any]]]:
            environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
            environment.update(
                OTEL_TRACES_EXPORTER="console",
                OTEL_METRICS_EXPORTER="none",
                OTEL_LOGS_EXPORTER="none",
                **env,
            )
            completed = subprocess.run(
                [str(agent), sys.executable, str(script)],
                capture_output=True,
                text=True,
                env=environment,
                timeout=60,
                check=False,
            )
            assert completed.returncode == 0, completed.stderr
            status, _, rest = completed.stdout.partition("\n")
            spans: list[dict[str, Any]] = []
            decoder = json.JSONDecoder()
            rest = rest.strip()
            while rest:
                span, end = decoder.raw_decode(rest)
                spans.append(span)
                rest = rest[end:].strip()
            return status, spans

        return run

    def test_opentelemetry_instrument_traces_flask(self, run_instrumented):
        """``opentelemetry-instrument python app.py`` traces Flask through the ``flask`` entry
        point, with the route in the span name."""
        status, spans = run_instrumented()

        assert status == "STATUS 200"
        [span] = spans
        assert span["name"] == ROUTE_SPAN
        assert span["kind"] == "SpanKind.SERVER"
        assert span["attributes"]["http.route"] == "/users/<int:user_id>"

    def test_disabled_instrumentations_turns_flask_off(self, run_instrumented):
        """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=flask`` turns this instrumentor off."""
        status, spans = run_instrumented(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="flask")

        assert status == "STATUS 200"
        assert spans == []


def _run_python(code: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


@pytest.mark.subprocess
class TestDeferredImport:
    def test_importing_the_instrumentor_does_not_import_flask(self):
        """Loading the entry point (what ``opentelemetry-instrument`` does at start-up) does not
        import Flask: the patches wait for Flask's own import (DESIGN: post-import hook)."""
        output = _run_python(
            """
            import sys
            import instrumentarium.flask
            print(sorted(name for name in ("flask", "werkzeug") if name in sys.modules))
            """
        )

        assert output == "[]"

    def test_instrument_before_flask_is_imported(self):
        """``instrument()`` called before ``import flask`` traces the apps created afterwards."""
        output = _run_python(
            """
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )
            from instrumentarium.flask import FlaskInstrumentor

            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            FlaskInstrumentor().instrument(tracer_provider=provider)

            import flask

            app = flask.Flask("late")
            app.add_url_rule("/users/<int:user_id>", "user", lambda user_id: "ok")
            app.test_client().get("/users/1")
            print([span.name for span in exporter.get_finished_spans()])
            """
        )

        assert output == str([ROUTE_SPAN])
