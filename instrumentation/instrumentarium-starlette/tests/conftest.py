"""Fixtures for the instrumentarium-starlette tests.

``StarletteInstrumentor`` patches ``Starlette.__call__`` on the class, so every test goes through
``instrumentor``, which undoes whatever the test instrumented. ``make_app()`` builds a small app
with the routes most tests use; ``get(app, path)`` sends one request through httpx's in-process
ASGI transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Callable

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute

from instrumentarium.starlette import StarletteInstrumentor

ORIGINAL_CALL = Starlette.__dict__["__call__"]


@pytest.fixture
def instrumentor() -> Iterator[StarletteInstrumentor]:
    """The singleton, uninstrumented (and ``Starlette.__call__`` checked) when the test ends."""
    instance = StarletteInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    leaked = Starlette.__dict__["__call__"] is not ORIGINAL_CALL
    Starlette.__call__ = ORIGINAL_CALL  # type: ignore[method-assign]
    assert not leaked, "a wrapper was left on Starlette.__call__"


@pytest.fixture
def instrument(
    instrumentor: StarletteInstrumentor,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
) -> Callable[..., None]:
    def run(**kwargs: Any) -> None:
        kwargs.setdefault("tracer_provider", tracer_provider)
        kwargs.setdefault("meter_provider", meter_provider)
        instrumentor.instrument(**kwargs)

    return run


async def user(request: Any) -> PlainTextResponse:
    return PlainTextResponse(f"user {request.path_params['user_id']}")


async def item(request: Any) -> PlainTextResponse:
    return PlainTextResponse(f"item {request.path_params['item_id']}")


async def boom(request: Any) -> PlainTextResponse:
    raise ValueError("boom")


async def echo(websocket: Any) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(text)
    await websocket.close()


def make_app(**kwargs: Any) -> Starlette:
    """``/users/{user_id}`` (GET), ``/boom`` (raises), ``/ws`` (echo), ``/api/v1/items/{id}``
    through two mounts."""
    inner = Starlette(routes=[Route("/items/{item_id}", item)])
    return Starlette(
        routes=[
            Route("/users/{user_id}", user),
            Route("/boom", boom),
            WebSocketRoute("/ws", echo),
            Mount("/api", routes=[Mount("/v1", app=inner)]),
        ],
        **kwargs,
    )


def get(app: Any, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    """One request through httpx's ASGI transport (no server, no thread)."""

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(run())


@pytest.fixture
def app_factory() -> Callable[..., Starlette]:
    return make_app


@pytest.fixture
def client_get() -> Callable[..., httpx.Response]:
    return get
