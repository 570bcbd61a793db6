"""Fixtures for the instrumentarium-pyramid tests.

``PyramidInstrumentor`` patches ``pyramid.router.Router`` itself, so every test goes through
``instrumentor``: whatever a test instruments (globally or per configurator) is undone when it
ends. Apps come from ``make_app`` (a small app with the routes most tests need, configured
before anything is instrumented, as most tests do); ``client`` drives one in process (WebTest),
``serve`` runs one on a real threaded Werkzeug server on loopback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import webtest
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound, HTTPInternalServerError
from pyramid.request import Request
from pyramid.response import Response
from pyramid.router import Router
from werkzeug.serving import make_server

from instrumentarium.pyramid import PyramidInstrumentor
from instrumentarium.pyramid._telemetry import ACTIVE

# Saved when the test session imports this file, before any test instruments anything.
ORIGINAL_METHODS = {name: Router.__dict__[name] for name in ("__call__", "invoke_request")}


@pytest.fixture
def original_methods() -> dict[str, Any]:
    return dict(ORIGINAL_METHODS)


@pytest.fixture
def configs() -> list[Configurator]:
    return []


@pytest.fixture
def instrumentor(configs: list[Configurator]) -> Iterator[PyramidInstrumentor]:
    """The singleton, left uninstrumented (globally and for every configurator) at the end."""
    instance = PyramidInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    for config in configs:
        from instrumentarium.pyramid._telemetry import registry_mark

        ACTIVE.set_own(registry_mark(config.registry), None)
    # A wrapper left behind would stack under the next test's: restore the originals so that
    # one leak fails one test (test_instrumentor pins it), not every test after it.
    for name, original in ORIGINAL_METHODS.items():
        if Router.__dict__[name] is not original:
            setattr(Router, name, original)


def hello(request: Request) -> Response:
    return Response(f"hello {request.matchdict['name']}")


def boom(request: Request) -> Response:
    raise ValueError("bad")


def redirect(request: Request) -> Response:
    raise HTTPFound(location="/hello/there")


def internal_error(request: Request) -> Response:
    raise HTTPInternalServerError("nope")


def unavailable(request: Request) -> Response:
    return Response("down", status=503)


def created(request: Request) -> Response:
    return Response("created", status=201)


def stream(request: Request) -> Response:
    def body() -> Iterator[bytes]:
        yield b"one;"
        yield b"two"

    return Response(app_iter=body(), content_type="text/plain")


ROUTES = [
    ("hello", "/hello/{name}", hello, "GET"),
    ("items", "/items", created, "POST"),
    ("boom", "/boom", boom, None),
    ("redirect", "/redirect", redirect, None),
    ("internal", "/internal", internal_error, None),
    ("unavailable", "/unavailable", unavailable, None),
    ("stream", "/stream", stream, None),
    ("health", "/health", lambda request: Response("ok"), None),
]


@pytest.fixture
def make_config(configs: list[Configurator]) -> Callable[..., Configurator]:
    """``make_config(settings=None)``: a configurator with the shared routes."""

    def make(settings: Any = None) -> Configurator:
        config = Configurator(settings=settings)
        for name, pattern, view, method in ROUTES:
            config.add_route(name, pattern)
            config.add_view(view, route_name=name, request_method=method)
        configs.append(config)
        return config

    return make


@pytest.fixture
def make_app(make_config: Callable[..., Configurator]) -> Callable[..., Router]:
    """``make_app(settings=None)``: a WSGI app with the shared routes."""
    return lambda settings=None: make_config(settings).make_wsgi_app()


@pytest.fixture
def client() -> Callable[[Any], webtest.TestApp]:
    """``client(app)``: WebTest's in-process client (its WSGI lint on)."""
    return webtest.TestApp


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
    """The number of requests in flight now (sum of ``http.server.active_requests``)."""
    return lambda: sum(p.value for p in metric_points().get("http.server.active_requests", []))
