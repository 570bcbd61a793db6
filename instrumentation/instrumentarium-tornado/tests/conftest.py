"""Fixtures for the instrumentarium-tornado tests.

``TornadoInstrumentor`` patches Tornado's base classes, so every test goes through
``instrumentor``: whatever a test instruments is undone when it ends, and a wrapper left behind
fails the test that leaked it. ``serve(app, scenario)`` runs a real Tornado ``HTTPServer`` on a
free loopback port in a fresh IOLoop and awaits ``scenario(base_url, client)`` with an
``AsyncHTTPClient`` of its own; the handlers (``tornado_handlers``) are defined at import,
before anything is instrumented, as most applications are.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.testing
import tornado.web

from instrumentarium.tornado import TornadoInstrumentor

if str(Path(__file__).parent) not in sys.path:  # tornado_handlers, by import (importlib mode)
    sys.path.insert(0, str(Path(__file__).parent))

from tornado_handlers import APP, Scenario, T

PATCHED = [
    (tornado.web.RequestHandler, "_execute"),
    (tornado.web.RequestHandler, "_handle_request_exception"),
    (tornado.web.RequestHandler, "finish"),
    (tornado.httpclient.AsyncHTTPClient, "fetch"),
]
ORIGINALS = {(owner, name): owner.__dict__[name] for owner, name in PATCHED}


@pytest.fixture
def originals() -> dict[tuple[type, str], Any]:
    return dict(ORIGINALS)


@pytest.fixture
def instrumentor() -> Iterator[TornadoInstrumentor]:
    """The singleton, left uninstrumented (and Tornado unpatched) when the test ends."""
    instance = TornadoInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    for (owner, name), original in ORIGINALS.items():
        if owner.__dict__[name] is not original:
            setattr(owner, name, original)


@pytest.fixture
def serve() -> Callable[..., Any]:
    """``serve(scenario, app=APP)``: the scenario's result, run against a real server."""

    def run(scenario: Scenario[T], app: tornado.web.Application = APP) -> T:
        async def main() -> T:
            sock, port = tornado.testing.bind_unused_port()
            server = tornado.httpserver.HTTPServer(app)
            server.add_sockets([sock])
            client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
            try:
                return await scenario(f"http://127.0.0.1:{port}", client)
            finally:
                client.close()
                server.stop()
                await server.close_all_connections()

        return asyncio.run(main())

    return run
