"""The ASGI adapter of the server core: a request read from a scope, and its header helpers.

``AsgiRequest(scope)`` is the ``ServerRequest`` of an ASGI ``http`` or ``websocket`` scope, for
every ASGI front (``instrumentarium.asgi`` and the frameworks built on it). The attributes follow
upstream's ASGI middleware: the host is the server's own address (with its port when it is not
80), ``http.server_name`` the ``Host`` header, ``http.target`` the path without the query, and
``http.url`` the full URL (the front adds it; see ``request_url``). ``asgi_getter`` reads
propagation headers from a scope, ``asgi_setter`` writes them into a response message.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any, Final, Optional

from opentelemetry.propagators.textmap import Getter, Setter

from ._server import ServerRequest, _int

__all__ = [
    "ASGIGetter",
    "ASGISetter",
    "AsgiRequest",
    "Scope",
    "asgi_getter",
    "asgi_setter",
    "header_value",
]

Scope = MutableMapping[str, Any]


def _text(value: bytes) -> str:
    """Header bytes as text: UTF-8, else Latin-1 (which never fails), as upstream falls back."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class ASGIGetter(Getter[Scope]):
    """Reads request headers (``traceparent``, ``baggage``, ...) from a scope, case-insensitively:
    every value of a repeated header."""

    def get(self, carrier: Scope, key: str) -> Optional[list[str]]:
        headers = carrier.get("headers")
        if not headers:
            return None
        wanted = key.lower().encode("latin-1")
        found = [_text(value) for name, value in headers if name.lower() == wanted]
        return found or None

    def keys(self, carrier: Scope) -> list[str]:
        return [_text(name) for name, _ in carrier.get("headers") or ()]


asgi_getter: Final = ASGIGetter()


class ASGISetter(Setter[MutableMapping[str, Any]]):
    """Appends a header to an ASGI message (``http.response.start``'s ``headers``)."""

    def set(self, carrier: MutableMapping[str, Any], key: str, value: str) -> None:
        headers = carrier.get("headers")
        pair = [key.lower().encode("latin-1"), value.encode("latin-1")]
        if headers is None:
            carrier["headers"] = [pair]
        elif isinstance(headers, list):
            headers.append(pair)
        else:  # a tuple or another sequence: a new list, the message's own left as it was
            carrier["headers"] = [*headers, pair]


asgi_setter: Final = ASGISetter()


def header_value(headers: Any, name: bytes) -> Optional[bytes]:
    """The first value of header ``name`` (lower case) in ASGI ``headers``; None when absent."""
    for key, value in headers or ():
        if key == name or key.lower() == name:
            return value  # type: ignore[no-any-return]
    return None


def _listed(value: Any) -> list[Any]:
    """A scope's ``headers`` (and each of its pairs), ``server`` or ``client`` given as another
    iterable than a list or a tuple (the ASGI spec allows any; Falcon's test client passes
    iterators) as a list, which goes back into the scope: read once by us, the app that reads
    it after us still finds it all."""
    try:
        return list(value)
    except TypeError:
        return []


class AsgiRequest(ServerRequest):
    """An ASGI ``http`` or ``websocket`` scope as the server core reads it.

    The headers are read in one pass over ``scope["headers"]`` (only ``Host``, ``User-Agent``
    and ``Content-Length`` are kept; servers send names in lower case, as ASGI asks); the rest
    are slots filled from the scope's own keys.
    """

    __slots__ = ("content_length",)

    getter = asgi_getter

    content_length: Optional[int]  # the Content-Length request header: the request size

    def __init__(self, scope: Scope) -> None:
        host = user_agent = length = None
        headers = scope.get("headers")
        if headers is not None and type(headers) is not list and type(headers) is not tuple:
            headers = scope["headers"] = [
                pair if type(pair) is tuple or type(pair) is list else _listed(pair)
                for pair in _listed(headers)
            ]
        for name, value in headers or ():
            if name == b"host":
                host = value
            elif name == b"user-agent":
                user_agent = value
            elif name == b"content-length":
                length = value
        self.content_length = _int(length) if length is not None else None
        self.carrier = scope
        websocket = scope["type"] == "websocket"
        self.method = "" if websocket else scope.get("method") or ""
        self.scheme = scope.get("scheme") or ("ws" if websocket else "http")
        server = scope.get("server")
        if server is not None and type(server) is not tuple and type(server) is not list:
            server = scope["server"] = _listed(server)
        if server:
            address, port = server[0], server[1] if len(server) > 1 else None
            self.host = f"{address}:{port}" if port is not None and port != 80 else address
            self.server_port = port
        else:
            self.host = "0.0.0.0"
            self.server_port = 80
        self.server_name = _text(host) if host is not None else None
        self.protocol = None if websocket else scope.get("http_version")
        self.user_agent = _text(user_agent) if user_agent is not None else None
        self.path = scope.get("path") or "/"
        query = scope.get("query_string")
        self.query = query.decode("latin-1") if query else None
        self.target = self.path
        client = scope.get("client")
        if client is not None and type(client) is not tuple and type(client) is not list:
            client = scope["client"] = _listed(client)
        if client:
            self.peer_address, self.peer_port = client[0], client[1]
        else:
            self.peer_address = self.peer_port = None
        self.peer_name = None

    def url(self) -> str:
        """``scheme://Host + path``, without the query: what upstream matches excluded URLs
        against (the server's address stands in for a missing ``Host``)."""
        return f"{self.scheme}://{self.server_name or self.host}{self.path}"

    def full_url(self) -> str:
        """The URL with its query: upstream's ``http.url`` (the caller redacts it)."""
        query = self.query
        base = self.url()
        return f"{base}?{query}" if query else base

    def headers(self) -> Iterator[tuple[str, str]]:
        for name, value in self.carrier.get("headers") or ():
            yield _text(name), _text(value)
