"""The options of ``StarletteInstrumentor.instrument()`` and ``instrument_app()``, declared once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional, Union

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.asgi import ClientRequestHook, ClientResponseHook, ServerRequestHook
from instrumentarium.asgi._config import parse_exclude_spans
from instrumentarium.util.config import Config, option

__all__ = ["StarletteConfig"]


class StarletteConfig(Config):
    """Starlette's options: upstream's ``instrument_app`` keywords, then the ASGI middleware's
    that upstream's Starlette cannot pass (excluded URLs as a keyword, header lists, spans)."""

    server_request_hook: Optional[ServerRequestHook] = option(
        None, doc="``hook(span, scope)``, called once the server span has started"
    )
    client_request_hook: Optional[ClientRequestHook] = option(
        None, doc="``hook(span, scope, message)``, called with each ``receive`` span"
    )
    client_response_hook: Optional[ClientResponseHook] = option(
        None, doc="``hook(span, scope, message)``, called with each ``send`` span, before the send"
    )
    meter_provider: Optional[MeterProvider] = option(None, doc="defaults to the global one")
    tracer_provider: Optional[TracerProvider] = option(None, doc="defaults to the global one")
    excluded_urls: Union[str, Iterable[str], None] = option(
        None,
        env=("OTEL_PYTHON_STARLETTE_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="comma-separated regexes (or a list) searched in ``scheme://host/path``; a match is"
        " neither traced nor measured",
    )
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
        env=("OTEL_PYTHON_STARLETTE_EXCLUDE_SPANS", "OTEL_PYTHON_ASGI_EXCLUDE_SPANS"),
        parse=parse_exclude_spans,
        doc="internal spans not to emit: ``receive``, ``send`` or both (``receive,send``)",
    )
