"""Reading a WSGI environ: the request URL, headers, and the context carrier."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any, Final, Optional
from urllib.parse import quote

from opentelemetry.propagators.textmap import Getter

__all__ = ["Environ", "WSGIGetter", "request_headers", "request_url", "wsgi_getter"]

Environ = MutableMapping[str, Any]

_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
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
        value = carrier.get(_environ_key(key))
        if value is None:
            return None
        return [value]

    def keys(self, carrier: Environ) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


wsgi_getter: Final = WSGIGetter()


def request_headers(environ: Environ) -> Iterator[tuple[str, str]]:
    """The request's headers as ``(name, value)``, including ``Content-Type`` and
    ``Content-Length``, which WSGI keeps without the ``HTTP_`` prefix."""
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield key[5:].replace("_", "-"), value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            yield key.replace("_", "-"), value


def host_and_port(environ: Environ, scheme: str) -> str:
    """``Host`` as the client sent it, else ``SERVER_NAME[:SERVER_PORT]``."""
    host = environ.get("HTTP_HOST")
    if host:
        return str(host)
    host = environ.get("SERVER_NAME", "")
    port = environ.get("SERVER_PORT", "")
    if port and _DEFAULT_PORTS.get(scheme) != port:
        return f"{host}:{port}"
    return str(host)


def request_url(environ: Environ) -> str:
    """The full request URL, query included, as the client asked for it.

    The raw request target (``RAW_URI`` / ``REQUEST_URI``, set by gunicorn, uWSGI and Werkzeug) is
    used when the server provides it; otherwise the URL is rebuilt from ``SCRIPT_NAME``,
    ``PATH_INFO`` and ``QUERY_STRING`` the way ``wsgiref.util.request_uri`` does.
    """
    scheme = environ.get("wsgi.url_scheme") or "http"
    authority = host_and_port(environ, scheme)
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target and target.startswith("/"):
        return f"{scheme}://{authority}{target}"
    path = (
        quote(
            environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            safe="/;=,",
            encoding="latin1",
        )
        or "/"
    )  # wsgiref.util.request_uri: the root of the site is "/"
    query = environ.get("QUERY_STRING")
    if query:
        return f"{scheme}://{authority}{path}?{query}"
    return f"{scheme}://{authority}{path}"
