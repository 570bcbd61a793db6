"""Fixtures for the instrumentarium-falcon tests.

``FalconInstrumentor`` patches Falcon's classes themselves, so every test goes through
``instrumentor``: whatever a test instruments is undone when it ends. Apps come from
``make_app`` (the resources most tests need, created before anything is instrumented, as most
tests do); ``client`` drives one in process (``falcon.testing``), ``serve`` runs one on a real
threaded Werkzeug server on loopback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import falcon
import falcon.app
import falcon.request
import falcon.testing
import pytest
from werkzeug.serving import make_server

from instrumentarium.falcon import FalconInstrumentor

PATCHED = [
    (falcon.app.App, "__call__"),
    (falcon.request.Request, "__init__"),
    (falcon.app.App, "_get_responder"),
    (falcon.app.App, "_handle_exception"),
    (falcon.app.App, "_get_body"),
]
# Saved when the test session imports this file, before any test instruments anything.
ORIGINALS = {(owner, name): owner.__dict__[name] for owner, name in PATCHED}


@pytest.fixture
def originals() -> dict[tuple[type, str], Any]:
    return dict(ORIGINALS)


@pytest.fixture
def instrumentor() -> Iterator[FalconInstrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = FalconInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    # A wrapper left behind would stack under the next test's: restore the originals so that
    # one leak fails one test (test_instrumentor pins it), not every test after it.
    for (owner, name), original in ORIGINALS.items():
        if owner.__dict__[name] is not original:
            setattr(owner, name, original)


class User:
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        resp.text = f"user {user_id}"


class Items:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_201
        resp.text = "created"


class Boom:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise ValueError("bad")


class Missing:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPNotFound()


class Unavailable:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPServiceUnavailable()


class Stream:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        def body() -> Iterator[bytes]:
            yield b"one;"
            yield b"two"

        resp.stream = body()


class Health:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = "ok"


def add_routes(app: falcon.App) -> falcon.App:
    app.add_route("/users/{user_id:int}", User())
    app.add_route("/items", Items())
    app.add_route("/boom", Boom())
    app.add_route("/missing", Missing())
    app.add_route("/unavailable", Unavailable())
    app.add_route("/stream", Stream())
    app.add_route("/health", Health())
    return app


@pytest.fixture
def make_app() -> Callable[..., falcon.App]:
    """``make_app(**App_kwargs)``: a WSGI app with the shared routes."""
    return lambda **kwargs: add_routes(falcon.App(**kwargs))


@pytest.fixture
def client() -> Callable[[Any], falcon.testing.TestClient]:
    """``client(app)``: Falcon's in-process test client."""
    return falcon.testing.TestClient


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
