"""Fixtures for the instrumentarium-fastapi tests.

``FastAPIInstrumentor`` patches ``FastAPI.__call__`` and ``BackgroundTask.__call__`` on their
classes, so every test goes through ``instrumentor``, which undoes whatever the test
instrumented. ``make_app()`` builds a small app; ``client_get(app, path)`` sends one request
through httpx's in-process ASGI transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Callable

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, WebSocket
from fastapi.applications import FastAPI as FastAPIClass
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from starlette.background import BackgroundTask

from instrumentarium.fastapi import FastAPIInstrumentor

ORIGINALS = {
    (FastAPIClass, "__call__"): FastAPIClass.__dict__["__call__"],
    (BackgroundTask, "__call__"): BackgroundTask.__dict__["__call__"],
}


@pytest.fixture
def instrumentor() -> Iterator[FastAPIInstrumentor]:
    """The singleton, uninstrumented (and the patched methods checked) when the test ends."""
    instance = FastAPIInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    leaked = [owner for (owner, name), f in ORIGINALS.items() if owner.__dict__[name] is not f]
    for (owner, name), original in ORIGINALS.items():
        setattr(owner, name, original)
    assert not leaked, f"a wrapper was left on {leaked}"


@pytest.fixture
def instrument(
    instrumentor: FastAPIInstrumentor,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
) -> Callable[..., None]:
    def run(**kwargs: Any) -> None:
        kwargs.setdefault("tracer_provider", tracer_provider)
        kwargs.setdefault("meter_provider", meter_provider)
        instrumentor.instrument(**kwargs)

    return run


def make_app() -> FastAPI:
    """``/items/{item_id}``, ``/boom`` (raises), ``/teapot`` (HTTPException 418), ``/ws`` (echo),
    ``/api/v1/users/{user_id}`` (a router in a router)."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("boom")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=418)

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    users = APIRouter()

    @users.get("/users/{user_id}")
    async def user(user_id: str) -> dict[str, str]:
        return {"user_id": user_id}

    v1 = APIRouter()
    v1.include_router(users, prefix="/v1")
    app.include_router(v1, prefix="/api")
    return app


def get(app: Any, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    """One request through httpx's ASGI transport (no server, no thread)."""

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(run())


@pytest.fixture
def app_factory() -> Callable[..., FastAPI]:
    return make_app


@pytest.fixture
def client_get() -> Callable[..., httpx.Response]:
    return get


@pytest.fixture(params=["default", "http", "http/dup"])
def semconv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each semconv mode in turn, set in ``OTEL_SEMCONV_STABILITY_OPT_IN``."""
    if request.param != "default":
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", request.param)
    return str(request.param)
