"""Every synchronous server instrumentor: a request for an excluded URL runs with the
instrumentation below it suppressed (a health check's database or HTTP client call makes no
orphan root span: a deliberate difference from upstream), only while it runs;
``OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS=false`` restores upstream's behaviour. (The ASGI family and
Django have their own tests, in their packages.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest

from instrumentarium.util.safety import is_suppressed

# Each driver instruments its framework with excluded_urls="health", serves GET /health then
# GET /items, and returns what the view saw: [is_suppressed() at /health, at /items].
Driver = Callable[[], list[bool]]


def _wsgi() -> list[bool]:
    from werkzeug.test import Client

    from instrumentarium.wsgi import OpenTelemetryMiddleware

    seen: list[bool] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        seen.append(is_suppressed())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    client = Client(OpenTelemetryMiddleware(app, excluded_urls="health"))
    client.get("/health")
    client.get("/items")
    return seen


def _flask() -> list[bool]:
    import flask

    from instrumentarium.flask import FlaskInstrumentor

    seen: list[bool] = []
    app = flask.Flask(__name__)

    @app.route("/<name>")
    def view(name: str) -> str:
        seen.append(is_suppressed())
        return name

    FlaskInstrumentor().instrument_app(app, excluded_urls="health")
    try:
        client = app.test_client()
        client.get("/health")
        client.get("/items")
    finally:
        FlaskInstrumentor().uninstrument_app(app)
    return seen


def _pyramid() -> list[bool]:
    from pyramid.config import Configurator
    from pyramid.response import Response
    from webtest import TestApp

    from instrumentarium.pyramid import PyramidInstrumentor

    seen: list[bool] = []

    def view(request: Any) -> Response:
        seen.append(is_suppressed())
        return Response("ok")

    PyramidInstrumentor().instrument(excluded_urls="health")
    try:
        with Configurator() as config:
            config.add_route("any", "/{name}")
            config.add_view(view, route_name="any")
            app = TestApp(config.make_wsgi_app())
        app.get("/health")
        app.get("/items")
    finally:
        PyramidInstrumentor().uninstrument()
    return seen


def _falcon() -> list[bool]:
    import falcon
    import falcon.testing

    from instrumentarium.falcon import FalconInstrumentor

    seen: list[bool] = []

    class Resource:
        def on_get(self, req: Any, resp: Any, name: str) -> None:
            seen.append(is_suppressed())
            resp.text = name

    FalconInstrumentor().instrument(excluded_urls="health")
    try:
        app = falcon.App()
        app.add_route("/{name}", Resource())
        client = falcon.testing.TestClient(app)
        client.simulate_get("/health")
        client.simulate_get("/items")
    finally:
        FalconInstrumentor().uninstrument()
    return seen


def _tornado() -> list[bool]:
    import tornado.httpclient
    import tornado.testing
    import tornado.web

    from instrumentarium.tornado import TornadoInstrumentor

    seen: list[bool] = []

    class Handler(tornado.web.RequestHandler):
        async def get(self, name: str) -> None:
            seen.append(is_suppressed())
            self.write(name)

    async def serve() -> None:
        app = tornado.web.Application([(r"/(\w+)", Handler)])
        sock, port = tornado.testing.bind_unused_port()
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        try:
            for path in ("/health", "/items"):
                await client.fetch(f"http://127.0.0.1:{port}{path}")
        finally:
            client.close()
            server.stop()

    import tornado.httpserver

    TornadoInstrumentor().instrument(excluded_urls="health")
    try:
        asyncio.run(serve())
    finally:
        TornadoInstrumentor().uninstrument()
    return seen


DRIVERS: dict[str, Driver] = {
    "wsgi": _wsgi,
    "flask": _flask,
    "pyramid": _pyramid,
    "falcon": _falcon,
    "tornado": _tornado,
}


@pytest.fixture(autouse=True)
def _nothing_suppressed_around() -> Iterator[None]:
    assert not is_suppressed()
    yield
    assert not is_suppressed()


@pytest.mark.parametrize("framework", sorted(DRIVERS))
@pytest.mark.parametrize(("switch", "at_health"), [(None, True), ("false", False)])
def test_instrumentation_below_an_excluded_url_is_suppressed(
    framework: str, switch: Optional[str], at_health: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if switch is not None:
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS", switch)
    assert DRIVERS[framework]() == [at_health, False]
