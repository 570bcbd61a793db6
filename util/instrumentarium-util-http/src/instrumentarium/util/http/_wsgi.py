"""The WSGI adapter of the server core: a request read from an environ, and ``start_response``.

``WsgiRequest(environ)`` is the ``ServerRequest`` of a WSGI request (Django's ``request.META`` is
one too, under WSGI and ASGI alike); ``traced_start_response`` records the status and headers on
the ``ServerCall`` before the server's ``start_response`` runs. The helpers upstream's WSGI module
exports (``wsgi_getter``, ``request_url``) live here so that every WSGI framework reads an environ
the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any, Callable, Final, Optional
from urllib.parse import quote

from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.propagators.textmap import Getter, Setter

from instrumentarium.util.net import default_port
from instrumentarium.util.safety import guard

from ._server import ServerCall, ServerRequest

__all__ = [
    "Environ",
    "StartResponse",
    "WSGIGetter",
    "WsgiRequest",
    "host_and_port",
    "request_headers",
    "request_url",
    "traced_start_response",
    "wsgi_getter",
]

Environ = MutableMapping[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
ResponseHeaders = list[tuple[str, str]]
# A front's response hook, adapted from the user's signature: (call, status, headers).
ResponseHook = Callable[[ServerCall, str, ResponseHeaders], None]

_RESPONDING: Final = guard("recording the HTTP response")
_header_keys: dict[str, str] = {}


def _environ_key(header: str) -> str:
    key = _header_keys.get(header)
    if key is None:
        key = "HTTP_" + header.upper().replace("-", "_")
        if len(_header_keys) < 256:
            _header_keys[header] = key
    return key


class WSGIGetter(Getter[Environ]):
    """Reads propagation headers (``traceparent``, ``baggage``, ...) from a WSGI environ."""

    def get(self, carrier: Environ, key: str) -> Optional[list[str]]:
        value = carrier.get(_header_keys.get(key) or _environ_key(key))
        if value is None:
            return None
        return [_text(value)]

    def keys(self, carrier: Environ) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


wsgi_getter: Final = WSGIGetter()


class WsgiRequest(ServerRequest):
    """A request described by its WSGI environ (PEP 3333 keys, plus ``RAW_URI`` /
    ``REQUEST_URI`` when the server keeps the raw target). A framework that knows better (the
    scheme of an ASGI request that Django describes with a WSGI-like ``META``) may set a slot
    after construction: the methods read the slots, not the environ, for those."""

    __slots__ = ()

    getter = wsgi_getter

    def __init__(self, environ: Environ) -> None:
        get = environ.get
        self.carrier = environ
        self.method = get("REQUEST_METHOD") or ""
        self.scheme = get("wsgi.url_scheme")
        self.host = get("HTTP_HOST")
        self.server_name = get("SERVER_NAME")
        self.server_port = get("SERVER_PORT")
        self.protocol = get("SERVER_PROTOCOL")
        self.user_agent = get("HTTP_USER_AGENT")
        self.target = get("RAW_URI") or get("REQUEST_URI")
        try:
            self.path = (get("SCRIPT_NAME") or "") + (get("PATH_INFO") or "") or "/"
        except TypeError:  # one of them bytes
            self.path = _text(get("SCRIPT_NAME") or "") + _text(get("PATH_INFO") or "") or "/"
        self.query = get("QUERY_STRING")
        self.peer_address = get("REMOTE_ADDR")
        self.peer_port = get("REMOTE_PORT")
        self.peer_name = get("REMOTE_HOST")

    def url(self) -> str:
        try:
            return _url(self.carrier, self.scheme or "http")
        except TypeError:  # bytes in the environ
            return _url(
                {k: _text(v) for k, v in self.carrier.items()}, _text(self.scheme or "http")
            )

    def authority(self) -> str:
        """``Host`` as sent, else ``SERVER_NAME[:SERVER_PORT]``: the URL's authority."""
        return host_and_port(self.carrier, self.scheme or "http")

    def headers(self) -> Iterator[tuple[str, str]]:
        return request_headers(self.carrier)


def request_headers(environ: Environ) -> Iterator[tuple[str, str]]:
    """The request's headers as ``(name, value)``, including ``Content-Type`` and
    ``Content-Length``, which WSGI keeps without the ``HTTP_`` prefix."""
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield key[5:].replace("_", "-"), _text(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            yield key.replace("_", "-"), _text(value)


def _text(value: Any) -> Any:
    """``value``, with ``bytes`` read as Latin-1 text (PEP 3333 native strings are Latin-1)."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def host_and_port(environ: Environ, scheme: str) -> str:
    """``Host`` as the client sent it, else ``SERVER_NAME[:SERVER_PORT]`` (no default port)."""
    host = environ.get("HTTP_HOST")
    if host:
        return str(host)
    host = environ.get("SERVER_NAME", "")
    port = str(environ.get("SERVER_PORT") or "")
    if port and port != str(default_port(scheme)):
        return f"{host}:{port}"
    return str(host)


def request_url(environ: Environ) -> str:
    """The full request URL, query included, as the client asked for it.

    The raw request target (``RAW_URI`` / ``REQUEST_URI``, set by gunicorn, uWSGI and Werkzeug) is
    used when the server provides it; otherwise the URL is rebuilt from ``SCRIPT_NAME``,
    ``PATH_INFO`` and ``QUERY_STRING`` the way ``wsgiref.util.request_uri`` does.
    """
    return _url(environ, environ.get("wsgi.url_scheme") or "http")


def _url(environ: Environ, scheme: str) -> str:
    authority = host_and_port(environ, scheme)
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target and target.startswith("/"):
        return f"{scheme}://{authority}{target}"
    path = (
        quote(
            environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            safe="/;=,",
            encoding="latin1",
            errors="replace",  # text outside Latin-1 (not PEP 3333 but seen) never raises
        )
        or "/"
    )  # wsgiref.util.request_uri: the root of the site is "/"
    query = environ.get("QUERY_STRING")
    if query:
        return f"{scheme}://{authority}{path}?{query}"
    return f"{scheme}://{authority}{path}"


class _HeaderListSetter(Setter[ResponseHeaders]):
    """Writes propagation headers into a WSGI header list."""

    def set(self, carrier: ResponseHeaders, key: str, value: str) -> None:
        carrier.append((key, value))


_header_list_setter: Final = _HeaderListSetter()


def traced_start_response(
    call: ServerCall,
    start_response: StartResponse,
    hook: Optional[ResponseHook] = None,
) -> StartResponse:
    """``start_response`` that first records the status and headers on ``call`` (and injects
    ``traceresponse`` when a response propagator is set), then runs ``hook(call, status,
    headers)``, then the server's ``start_response``, whose result and errors are its own."""

    def start_traced_response(
        status: str, response_headers: ResponseHeaders, *args: Any
    ) -> Callable[[bytes], object]:
        with _RESPONDING:
            propagator = get_global_response_propagator()  # type: ignore[no-untyped-call]
            if propagator is not None and call.context is not None:
                propagator.inject(response_headers, call.context, setter=_header_list_setter)
            call.on_response(status, response_headers)
            if hook is not None:
                hook(call, status, response_headers)
        return start_response(status, response_headers, *args)

    return start_traced_response
