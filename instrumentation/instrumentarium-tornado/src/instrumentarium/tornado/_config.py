"""The options of ``TornadoInstrumentor.instrument()``, declared once.

``instrument()`` resolves them into a ``TornadoConfig``; the README's options table and the
instrumentor's docstring are generated from this declaration (``scripts/generate``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable, Optional, Union

from opentelemetry.trace import Span

from instrumentarium.util.config import ProviderConfig, option, split_comma_list

if TYPE_CHECKING:
    from concurrent.futures import Future

    import tornado.httpclient
    import tornado.web

__all__ = ["ClientRequestHook", "ClientResponseHook", "ServerRequestHook", "TornadoConfig"]

ServerRequestHook = Callable[[Span, "tornado.web.RequestHandler"], None]
ClientRequestHook = Callable[[Span, "tornado.httpclient.HTTPRequest"], None]
ClientResponseHook = Callable[[Span, "Future[tornado.httpclient.HTTPResponse]"], None]


class TornadoConfig(ProviderConfig):
    """The options of ``instrument()``, in the order of upstream's keywords (the providers of
    ``ProviderConfig`` first), then the two its environment variables configure."""

    server_request_hook: Optional[ServerRequestHook] = option(
        None,
        doc="``hook(span, handler)``, called when the server span starts, before ``prepare()``",
    )
    client_request_hook: Optional[ClientRequestHook] = option(
        None,
        doc="``hook(span, request)``, called when the client span starts, before the trace"
        " context is injected (headers it adds are sent)",
    )
    client_response_hook: Optional[ClientResponseHook] = option(
        None,
        doc="``hook(span, future)``, called with the finished ``fetch`` future before the client"
        " span ends",
    )
    excluded_urls: Union[str, Iterable[str], None] = option(
        None,
        env=("OTEL_PYTHON_TORNADO_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="regexes (a comma string or a list) searched (``re.search``) in the request URI"
        " (path and query); a match is neither traced nor measured (server side only)",
    )
    traced_request_attributes: Optional[list[str]] = option(
        None,
        env="OTEL_PYTHON_TORNADO_TRACED_REQUEST_ATTRS",
        parse=split_comma_list,
        doc="``HTTPServerRequest`` attributes (``uri,query``) copied onto the server span as text",
    )
