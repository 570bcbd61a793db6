"""The Tornado adapter of the server core: a ``ServerRequest`` read from ``HTTPServerRequest``.

Tornado has parsed the request line and the headers before a handler exists, so the adapter
only copies what the core reads; the URL and the header list are built when the core asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Optional

from opentelemetry.propagators.textmap import Getter

from instrumentarium.util.http import ServerRequest

if TYPE_CHECKING:
    import tornado.httputil

__all__ = ["TornadoRequest", "headers_getter"]


class _HeadersGetter(Getter[Any]):
    """Reads propagation headers from Tornado's ``HTTPHeaders`` (case-insensitive)."""

    def get(self, carrier: Any, key: str) -> Optional[list[str]]:
        values = carrier.get_list(key)
        return values or None

    def keys(self, carrier: Any) -> list[str]:
        return list(carrier.keys())


headers_getter: Final = _HeadersGetter()


class TornadoRequest(ServerRequest):
    """A request as Tornado's HTTP server parsed it."""

    __slots__ = ("_request",)

    getter = headers_getter

    def __init__(self, request: tornado.httputil.HTTPServerRequest) -> None:
        headers = request.headers
        get = headers.get
        self._request = request
        self.carrier = headers
        self.method = request.method or ""
        self.scheme = request.protocol
        host = get("Host")
        self.host = host
        # Without a Host header (HTTP/1.0) Tornado names the host itself.
        self.server_name = None if host else request.host_name
        self.server_port = None
        self.protocol = request.version
        self.user_agent = get("User-Agent")
        self.target = request.uri
        self.path = request.path or "/"
        self.query = request.query
        remote_ip = request.remote_ip  # the client's, behind a proxy with xheaders=True
        self.peer_address = remote_ip
        self.peer_port = None
        address = getattr(request.connection, "context", None)
        address = getattr(address, "address", None)
        if isinstance(address, tuple) and len(address) >= 2 and address[0] == remote_ip:
            self.peer_port = address[1]
        self.peer_name = None

    def url(self) -> str:
        return self._request.full_url()

    def headers(self) -> Iterable[tuple[str, str]]:
        return self.carrier.get_all()  # type: ignore[no-any-return]
