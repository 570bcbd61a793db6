"""The options of ``OpenTelemetryMiddleware``: its keywords after ``wsgi``, declared once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Callable, Optional, Union

from opentelemetry.trace import Span

from instrumentarium.util.config import ProviderConfig, option
from instrumentarium.util.http import Environ

__all__ = ["RequestHook", "ResponseHook", "WsgiConfig"]

RequestHook = Callable[[Span, Environ], None]
ResponseHook = Callable[[Span, Environ, str, "list[tuple[str, str]]"], None]


class WsgiConfig(ProviderConfig):
    """The middleware's options, resolved when it is constructed."""

    request_hook: Optional[RequestHook] = option(
        None, doc="``hook(span, environ)``, called once the span has started"
    )
    response_hook: Optional[ResponseHook] = option(
        None,
        doc="``hook(span, environ, status, response_headers)``, called in ``start_response``"
        " before the server's",
    )
    excluded_urls: Union[str, Iterable[str], None] = option(
        None,
        env=("OTEL_PYTHON_WSGI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="regexes (a comma string or a list) searched (``re.search``) in the full request URL;"
        " a match is neither traced nor measured",
    )
