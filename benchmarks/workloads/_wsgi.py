"""Driving a WSGI application the way a server does, without a server (shared by workloads)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Optional

from . import Call

__all__ = ["WSGIApp", "build_environ", "served"]

# Any WSGI callable: Flask types its environ as a dict, middlewares as a MutableMapping.
WSGIApp = Callable[..., Iterable[bytes]]

# What a real server adds to the environ besides the request line and the Host header.
_SERVER_ENVIRON = {"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50312"}
_HEADERS = [("User-Agent", "instrumentarium-bench/1.0"), ("Accept", "*/*")]


def build_environ(path: str, query: str = "") -> dict[str, Any]:
    """A GET request's environ, built once by Werkzeug; ``served`` copies it per call."""
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path=path,
        query_string=query,
        method="GET",
        headers=_HEADERS,
        environ_base=_SERVER_ENVIRON,
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    # Servers (gunicorn, uWSGI, Werkzeug's own) put the query in the raw request target;
    # EnvironBuilder leaves it out.
    target = f"{path}?{query}" if query else path
    environ["RAW_URI"] = environ["REQUEST_URI"] = target
    return environ


def _write(data: bytes) -> None:
    """The ``write`` callable of ``start_response``: the bytes go nowhere."""


def _start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Optional[object] = None
) -> Callable[[bytes], None]:
    return _write


def served(app: WSGIApp, environ: dict[str, Any]) -> Call:
    """One request to ``app`` as a server makes it: a fresh copy of ``environ``, the body
    iterated to its end, then ``close()``d. The call returns the body."""

    def call() -> bytes:
        result = app(dict(environ), _start_response)
        try:
            return b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    return call
