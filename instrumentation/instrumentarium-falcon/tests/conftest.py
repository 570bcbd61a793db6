"""Fixtures for the instrumentarium-falcon tests.

``FalconInstrumentor`` patches Falcon's classes themselves, so every test goes through
``instrumentor``: whatever a test instruments is undone when it ends. Apps come from
``make_app`` (the resources most tests need, created before anything is instrumented, as most
tests do); ``client`` drives one in process (``falcon.testing``), ``serve`` runs one on a real
threaded Werkzeug server on loopback. Their ASGI twins: ``make_asgi_app`` (the same routes,
async resources), ``asgi_client`` (``falcon.testing`` on an event loop of the test's own),
``serve_asgi`` (a real uvicorn in a thread, on loopback).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Callable

import falcon
import falcon.app
import falcon.asgi
import falcon.asgi.app
import falcon.asgi.request
import falcon.asgi.response
import falcon.request
import falcon.testing
import pytest
import uvicorn
from werkzeug.serving import make_server

from instrumentarium.falcon import FalconInstrumentor

PATCHED = [
    (falcon.app.App, "__call__"),
    (falcon.request.Request, "__init__"),
    (falcon.app.App, "_get_responder"),
    (falcon.app.App, "_handle_exception"),
    (falcon.app.App, "_get_body"),
    (falcon.asgi.app.App, "__call__"),
    (falcon.asgi.request.Request, "__init__"),
    (falcon.asgi.app.App, "_handle_exception"),
    (falcon.asgi.response.Response, "_asgi_headers"),
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


class Async:
    """The shared resources for ASGI apps: coroutine responders, the same class names."""

    class User:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int):
            resp.text = f"user {user_id}"

    class Items:
        async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.status = falcon.HTTP_201
            resp.text = "created"

    class Boom:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            raise ValueError("bad")

    class Missing:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            raise falcon.HTTPNotFound()

    class Unavailable:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            raise falcon.HTTPServiceUnavailable()

    class Stream:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            async def body() -> AsyncIterator[bytes]:
                yield b"one;"
                yield b"two"

            resp.stream = body()

    class Health:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.text = "ok"


def add_async_routes(app: falcon.asgi.App) -> falcon.asgi.App:
    app.add_route("/users/{user_id:int}", Async.User())
    app.add_route("/items", Async.Items())
    app.add_route("/boom", Async.Boom())
    app.add_route("/missing", Async.Missing())
    app.add_route("/unavailable", Async.Unavailable())
    app.add_route("/stream", Async.Stream())
    app.add_route("/health", Async.Health())
    return app


@pytest.fixture
def make_app() -> Callable[..., falcon.App]:
    """``make_app(**App_kwargs)``: a WSGI app with the shared routes."""
    return lambda **kwargs: add_routes(falcon.App(**kwargs))


@pytest.fixture
def make_asgi_app() -> Callable[..., falcon.asgi.App]:
    """``make_asgi_app(**App_kwargs)``: an ASGI app with the shared routes."""
    return lambda **kwargs: add_async_routes(falcon.asgi.App(**kwargs))


@pytest.fixture
def client() -> Callable[[Any], falcon.testing.TestClient]:
    """``client(app)``: Falcon's in-process test client."""
    return falcon.testing.TestClient


@pytest.fixture
def asgi_client() -> Iterator[Callable[[Any], falcon.testing.TestClient]]:
    """``asgi_client(app)``: Falcon's test client for an ASGI app, on an event loop of the
    test's own. Falcon's client runs the app on the thread's current loop; on Python 3.9 there
    is none once an earlier test's ``asyncio.run()`` has ended."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield falcon.testing.TestClient
    asyncio.set_event_loop(None)
    loop.close()


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
def serve_asgi() -> Iterator[Callable[[Any], int]]:
    """``serve_asgi(asgi_app)`` runs it on a real uvicorn (its own thread and event loop, on a
    loopback socket of ours) and returns the port once uvicorn accepts connections."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []
    sockets: list[socket.socket] = []

    def start(asgi_app: Any) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sockets.append(sock)
        sock.bind(("127.0.0.1", 0))
        # ws="none": no websocket protocol to import (websockets.legacy warns on some versions)
        config = uvicorn.Config(
            asgi_app, log_level="warning", lifespan="on", access_log=False, ws="none"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("uvicorn did not start")
            time.sleep(0.01)
        return int(sock.getsockname()[1])

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(10)
    for sock in sockets:
        sock.close()


class Flavor:
    """One side of a test that runs on both: ``wsgi`` (``falcon.App``) or ``asgi``
    (``falcon.asgi.App``), with the app, the client and the callables Falcon wants on that
    side (ASGI wants coroutine functions for responders, middleware and error handlers)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.asgi = name == "asgi"

    def __repr__(self) -> str:
        return self.name

    def app(self, **kwargs: Any) -> Any:
        """An app with the shared routes."""
        if self.asgi:
            return add_async_routes(falcon.asgi.App(**kwargs))
        return add_routes(falcon.App(**kwargs))

    def client(self, app: Any) -> falcon.testing.TestClient:
        return falcon.testing.TestClient(app)

    def resource(self, on_get: Callable[[Any, Any], None]) -> Any:
        """A resource whose ``on_get(req, resp)`` runs ``on_get``."""
        if self.asgi:

            class AsyncResource:
                async def on_get(self, req: Any, resp: Any) -> None:
                    on_get(req, resp)

            return AsyncResource()

        class Resource:
            def on_get(self, req: Any, resp: Any) -> None:
                on_get(req, resp)

        return Resource()

    def error_handler(self, handler: Callable[[Any, Any, Any, Any], None]) -> Any:
        """``handler(req, resp, ex, params)`` as this side's error handler."""
        if not self.asgi:
            return handler

        async def async_handler(req: Any, resp: Any, ex: Any, params: Any) -> None:
            handler(req, resp, ex, params)

        return async_handler

    def middleware(self, process_request: Callable[[Any, Any], None]) -> Any:
        """A middleware whose ``process_request(req, resp)`` runs ``process_request``."""
        if self.asgi:

            class AsyncMiddleware:
                async def process_request(self, req: Any, resp: Any) -> None:
                    process_request(req, resp)

            return AsyncMiddleware()

        class Middleware:
            def process_request(self, req: Any, resp: Any) -> None:
                process_request(req, resp)

        return Middleware()


@pytest.fixture(params=["wsgi", "asgi"])
def flavor(request: pytest.FixtureRequest) -> Iterator[Flavor]:
    """Each side in turn; the ASGI side gets an event loop of its own (see ``asgi_client``)."""
    chosen = Flavor(request.param)
    if not chosen.asgi:
        yield chosen
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield chosen
    asyncio.set_event_loop(None)
    loop.close()


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
