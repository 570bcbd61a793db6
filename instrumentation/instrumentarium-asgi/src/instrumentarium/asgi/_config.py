"""The options of ``OpenTelemetryMiddleware``: its keywords after ``app``, declared once.

``AsgiConfig`` holds what every ASGI front shares (the frameworks built on the middleware,
Starlette and FastAPI, subclass it for their own keywords and environment variables).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any, Callable, Optional, Union

from opentelemetry.metrics import Meter, MeterProvider
from opentelemetry.trace import Span, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.config import Config, option, split_comma_list

__all__ = [
    "EXCLUDE_SPANS_ENV",
    "AsgiConfig",
    "ClientRequestHook",
    "ClientResponseHook",
    "DefaultSpanDetails",
    "ServerRequestHook",
    "parse_exclude_spans",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ServerRequestHook = Callable[[Span, Scope], None]
ClientRequestHook = Callable[[Span, Scope, Message], None]
ClientResponseHook = Callable[[Span, Scope, Message], None]
DefaultSpanDetails = Callable[[Scope], "tuple[str, dict[str, AttributeValue]]"]

EXCLUDE_SPANS_ENV = "OTEL_PYTHON_ASGI_EXCLUDE_SPANS"


def parse_exclude_spans(text: str) -> tuple[str, ...]:
    """``receive,send`` (either, both, any case) as the ``exclude_spans`` list; anything else
    is refused with the accepted values named."""
    items = tuple(item.lower() for item in split_comma_list(text))
    unknown = [item for item in items if item not in ("receive", "send")]
    if unknown:
        raise ValueError(f"unknown span kind(s) {', '.join(unknown)}; use receive, send")
    return items


class AsgiConfig(Config):
    """The middleware's options, in the order of upstream's signature."""

    excluded_urls: Union[str, Iterable[str], None] = option(
        None,
        env=("OTEL_PYTHON_ASGI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="comma-separated regexes (or a list) searched in ``scheme://host/path``; a match is"
        " neither traced nor measured",
    )
    default_span_details: Optional[DefaultSpanDetails] = option(
        None,
        doc='``details(scope) -> (span_name, attributes)``; default ``"{METHOD} {path}"``',
    )
    server_request_hook: Optional[ServerRequestHook] = option(
        None, doc="``hook(span, scope)``, called once the server span has started"
    )
    client_request_hook: Optional[ClientRequestHook] = option(
        None, doc="``hook(span, scope, message)``, called with each ``receive`` span"
    )
    client_response_hook: Optional[ClientResponseHook] = option(
        None, doc="``hook(span, scope, message)``, called with each ``send`` span, before the send"
    )
    tracer_provider: Optional[TracerProvider] = option(None, doc="defaults to the global one")
    meter_provider: Optional[MeterProvider] = option(None, doc="defaults to the global one")
    tracer: Optional[Tracer] = option(None, doc="a tracer to use instead of the provider's")
    meter: Optional[Meter] = option(None, doc="a meter to use instead of the provider's")
    http_capture_headers_server_request: Optional[list[str]] = option(
        None,
        env="OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
        doc="request headers to capture (regexes matching the whole name)",
    )
    http_capture_headers_server_response: Optional[list[str]] = option(
        None,
        env="OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE",
        doc="response headers to capture (regexes matching the whole name)",
    )
    http_capture_headers_sanitize_fields: Optional[list[str]] = option(
        None,
        env="OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS",
        doc="captured headers whose value becomes ``[REDACTED]`` (regexes searched in the name)",
    )
    exclude_spans: Optional[Iterable[str]] = option(
        None,
        env=EXCLUDE_SPANS_ENV,
        parse=parse_exclude_spans,
        doc="internal spans not to emit: ``receive``, ``send`` or both (``receive,send``)",
    )
