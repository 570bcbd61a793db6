"""Driving an ASGI application the way a server does, without a server or an event loop
(shared by the ``asgi``, ``starlette`` and ``fastapi`` workloads).

The app's ``receive`` and ``send`` complete at once, so a connection never suspends: its
coroutine is run to the end with ``send(None)``, which times the app and the instrumentation,
not an event loop. An app that does suspend (a thread pool, a real wait) is refused loudly.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Callable

from . import Call

__all__ = ["ASGIApp", "build_scope", "served"]

ASGIApp = Callable[..., Awaitable[None]]

_HEADERS = [
    (b"host", b"localhost"),
    (b"user-agent", b"instrumentarium-bench/1.0"),
    (b"accept", b"*/*"),
]
_REQUEST = {"type": "http.request", "body": b"", "more_body": False}


def build_scope(
    path: str, query: str = "", headers: tuple[tuple[bytes, bytes], ...] = ()
) -> dict[str, Any]:
    """A GET request's ``http`` scope as uvicorn builds it, with ``headers`` after the usual
    ones; ``served`` copies it per call."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50312),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [*_HEADERS, *headers],
    }


def served(app: ASGIApp, scope: dict[str, Any]) -> Call:
    """One request to ``app``: a fresh copy of ``scope`` (and of its header list), the request
    body received once, the response collected. The call returns the body."""

    def call() -> bytes:
        body: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return _REQUEST

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        request = dict(scope)
        request["headers"] = list(scope["headers"])
        coroutine = app(request, receive, send)
        try:
            coroutine.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            return b"".join(body)
        coroutine.close()  # type: ignore[attr-defined]
        raise RuntimeError("the ASGI app suspended: this driver runs apps that never wait")

    return call
