"""Fixtures for the instrumentarium-flask tests.

``FlaskInstrumentor`` is a process-wide singleton that patches ``flask.Flask`` itself, so every
test goes through ``instrumentor``: whatever a test instruments (globally or per app) is undone
when it ends. Apps come from ``make_app`` (a small app with the routes most tests need; a test
adds its own views before its first request). ``instrument`` / ``instrument_app`` pass the test's
SDK providers explicitly. ``serve`` runs an app on a real threaded Werkzeug server.

Two guards run around every test: the SDK never complains about a span being ended (or written)
twice, and no span is left current once the test is over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import flask
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from werkzeug.serving import make_server

from instrumentarium.flask import FlaskInstrumentor

# Saved when the test session imports this file, before any test instruments anything.
ORIGINAL_METHODS = {
    "wsgi_app": flask.Flask.__dict__["wsgi_app"],
    "full_dispatch_request": flask.Flask.__dict__["full_dispatch_request"],
}


@pytest.fixture
def original_methods() -> dict[str, Any]:
    """``flask.Flask.wsgi_app`` / ``full_dispatch_request`` as they were before any test."""
    return dict(ORIGINAL_METHODS)


@pytest.fixture
def created_apps() -> list[flask.Flask]:
    return []


@pytest.fixture
def instrumentor(created_apps: list[flask.Flask]) -> Iterator[FlaskInstrumentor]:
    """The singleton, left uninstrumented (globally and for every app) when the test ends."""
    instance = FlaskInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    for app in created_apps:
        if getattr(app, "_is_instrumented_by_opentelemetry", False):
            FlaskInstrumentor.uninstrument_app(app)
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    # A wrapper left behind would stack under the next test's and double its spans. Restore the
    # originals so one leak fails one test (TestInstrument pins it), not every test after it.
    for name, original in ORIGINAL_METHODS.items():
        if flask.Flask.__dict__[name] is not original:
            setattr(flask.Flask, name, original)


@pytest.fixture
def instrument_app(
    instrumentor: FlaskInstrumentor,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
) -> Callable[..., None]:
    """``instrument_app(app, **kwargs)`` with the test's providers (a kwarg overrides them)."""

    def instrument_app(app: flask.Flask, **kwargs: Any) -> None:
        kwargs.setdefault("tracer_provider", tracer_provider)
        kwargs.setdefault("meter_provider", meter_provider)
        FlaskInstrumentor.instrument_app(app, **kwargs)

    return instrument_app


def build_app() -> flask.Flask:
    """The routes most tests share; each view is as small as the behaviour it serves."""
    app = flask.Flask("instrumentarium_flask_tests", root_path=str(Path(__file__).parent))
    app.logger.disabled = True  # the 500 tests would otherwise print a traceback each

    @app.route("/users/<int:user_id>")
    def user(user_id: int) -> str:
        return f"user {user_id}"

    @app.route("/items", methods=["POST"])
    def create_item() -> tuple[str, int]:
        return "created", 201

    @app.route("/health")
    def health() -> str:
        return "ok"

    @app.route("/boom")
    def boom() -> str:
        raise ValueError("boom")

    @app.route("/unavailable")
    def unavailable() -> str:
        flask.abort(503)

    @app.route("/custom", methods=["FOO"])
    def custom() -> str:
        return "custom"

    @app.route("/stream")
    def stream() -> flask.Response:
        def body() -> Iterator[bytes]:
            yield b"one;"
            yield b"two"

        return flask.Response(body(), mimetype="text/plain")

    return app


@pytest.fixture
def make_app(
    created_apps: list[flask.Flask], instrumentor: FlaskInstrumentor
) -> Callable[[], flask.Flask]:
    """A new app with the shared routes, uninstrumented again when the test ends."""

    def make() -> flask.Flask:
        app = build_app()
        created_apps.append(app)
        return app

    return make


@pytest.fixture
def serve() -> Iterator[Callable[[Any], int]]:
    """``serve(wsgi_app)`` runs it on a threaded Werkzeug server and returns the port."""
    running: list[tuple[Any, threading.Thread]] = []

    def start(wsgi_app: Any) -> int:
        server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        running.append((server, thread))
        return int(server.server_port)

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def wait_until() -> Callable[[Callable[[], bool]], None]:
    """Waits for something another thread does (a server closing a body); fails after 10 s."""

    def wait(predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail("timed out waiting for the server")
            time.sleep(0.005)

    return wait


@pytest.fixture
def active_requests(metric_points: Any) -> Callable[[], int]:
    """Call it for the number of requests in flight now: the sum of the
    ``http.server.active_requests`` points (0 when the counter reports none)."""
    return lambda: sum(p.value for p in metric_points().get("http.server.active_requests", []))


@pytest.fixture
def instrumentarium_warnings(
    caplog: pytest.LogCaptureFixture,
) -> Callable[[], list[logging.LogRecord]]:
    """Call it to get the WARNING records logged by instrumentarium so far in this test."""
    caplog.set_level(logging.WARNING, logger="instrumentarium")

    def records() -> list[logging.LogRecord]:
        return [
            record
            for record in caplog.records
            if record.name == "instrumentarium" and record.levelno == logging.WARNING
        ]

    return records
