"""Plays the server's side of ASGI connections in-process, for the ASGI family's tests:
``drive(app, scope, incoming)`` runs one connection with every message under the test's control
(no threads, no sockets); ``http_scope`` / ``websocket_scope`` build scopes as uvicorn does;
``hello_app`` is a minimal app (http, websocket and lifespan)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Callable, Optional

Scope = dict[str, Any]
Message = dict[str, Any]


def http_scope(path: str = "/items/7", method: str = "GET", **extra: Any) -> Scope:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"user-agent", b"pytest")],
        "server": ("127.0.0.1", 8000),
        "client": ("10.0.0.2", 51000),
    }
    scope.update(extra)
    return scope


def websocket_scope(path: str = "/ws") -> Scope:
    scope = http_scope(path)
    del scope["method"]
    scope.update(type="websocket", scheme="ws", subprotocols=[])
    return scope


async def _drive(
    app: Callable[..., Awaitable[None]], scope: Scope, incoming: list[Message]
) -> list[Message]:
    sent: list[Message] = []
    queue = list(incoming)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def drive(
    app: Callable[..., Awaitable[None]],
    scope: Optional[Scope] = None,
    incoming: Optional[list[Message]] = None,
) -> list[Message]:
    """Run one connection of ``app``: ``incoming`` messages are what ``receive`` returns (then
    ``http.disconnect``); the messages the app sent come back."""
    if incoming is None:
        incoming = [{"type": "http.request", "body": b"", "more_body": False}]
    return asyncio.run(_drive(app, scope if scope is not None else http_scope(), incoming))


async def hello_app(scope: Scope, receive: Any, send: Any) -> None:
    """Reads the request body, answers 200 with a 5-byte body and ``Content-Length``."""
    if scope["type"] == "lifespan":
        message = await receive()
        await send({"type": "lifespan.startup.complete"})
        return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message.get("text", "")})
        await send({"type": "websocket.close"})
        return
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})
