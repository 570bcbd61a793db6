"""OpenTelemetry ASGI middleware: one server span and the HTTP server metrics per request.

Usage::

    from instrumentarium.asgi import OpenTelemetryMiddleware

    app = OpenTelemetryMiddleware(app)

Each ``http`` and ``websocket`` connection gets one SERVER span (INTERNAL under an already
current span) named ``"{METHOD} {path}"``, current while the app runs; it ends when the last
body chunk has been sent (a websocket: when the app returns). Each ``send`` and ``receive`` gets
an INTERNAL span, as upstream's, unless ``exclude_spans`` (or ``OTEL_PYTHON_ASGI_EXCLUDE_SPANS``)
drops it. ``lifespan`` is never traced. Frameworks that know their routes build on it
(``instrumentarium.starlette``, ``instrumentarium.fastapi``). See the README for every option,
environment variable, attribute and metric.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional, Union

from opentelemetry.metrics import Meter, MeterProvider
from opentelemetry.trace import Tracer, TracerProvider

from instrumentarium.util.http import ASGIGetter, ASGISetter, asgi_getter, asgi_setter

from ._config import (
    AsgiConfig,
    ClientRequestHook,
    ClientResponseHook,
    DefaultSpanDetails,
    ServerRequestHook,
)
from ._telemetry import App, AsgiTelemetry, Receive, Scope, Send, get_default_span_details, serve
from .version import __version__

__all__ = [
    "OpenTelemetryMiddleware",
    "ServerRequestHook",
    "ClientRequestHook",
    "ClientResponseHook",
    "ASGIGetter",
    "ASGISetter",
    "asgi_getter",
    "asgi_setter",
    "get_default_span_details",
    "__version__",
]


class OpenTelemetryMiddleware:
    """ASGI middleware that traces and measures every ``http`` and ``websocket`` connection.

    Options (generated from AsgiConfig by scripts/generate):
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_ASGI_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): comma-separated regexes (or a list) searched in
      ``scheme://host/path``; a match is neither traced nor measured
    * ``default_span_details`` (default ``None``): ``details(scope) -> (span_name, attributes)``;
      default ``"{METHOD} {path}"``
    * ``server_request_hook`` (default ``None``): ``hook(span, scope)``, called once the server span
      has started
    * ``client_request_hook`` (default ``None``): ``hook(span, scope, message)``, called with each
      ``receive`` span
    * ``client_response_hook`` (default ``None``): ``hook(span, scope, message)``, called with each
      ``send`` span, before the send
    * ``tracer_provider`` (default ``None``): defaults to the global one
    * ``meter_provider`` (default ``None``): defaults to the global one
    * ``tracer`` (default ``None``): a tracer to use instead of the provider's
    * ``meter`` (default ``None``): a meter to use instead of the provider's
    * ``http_capture_headers_server_request`` (default ``None``; environment
      ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST``): request headers to capture
      (regexes matching the whole name)
    * ``http_capture_headers_server_response`` (default ``None``; environment
      ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE``): response headers to capture
      (regexes matching the whole name)
    * ``http_capture_headers_sanitize_fields`` (default ``None``; environment
      ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS``): captured headers whose value
      becomes ``[REDACTED]`` (regexes searched in the name)
    * ``exclude_spans`` (default ``None``; environment ``OTEL_PYTHON_ASGI_EXCLUDE_SPANS``): internal
      spans not to emit: ``receive``, ``send`` or both (``receive,send``)
    """

    def __init__(
        self,
        app: Any,
        excluded_urls: Union[str, Iterable[str], None] = None,
        default_span_details: Optional[DefaultSpanDetails] = None,
        server_request_hook: Optional[ServerRequestHook] = None,
        client_request_hook: Optional[ClientRequestHook] = None,
        client_response_hook: Optional[ClientResponseHook] = None,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        tracer: Optional[Tracer] = None,
        meter: Optional[Meter] = None,
        http_capture_headers_server_request: Optional[list[str]] = None,
        http_capture_headers_server_response: Optional[list[str]] = None,
        http_capture_headers_sanitize_fields: Optional[list[str]] = None,
        exclude_spans: Optional[list[str]] = None,
    ) -> None:
        options = dict(locals())
        del options["self"], options["app"]
        self.app: App = _single_callable(app)
        self._telemetry = AsgiTelemetry(AsgiConfig.resolve(options))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve(self._telemetry, self.app, None, scope, receive, send)


def _single_callable(app: Any) -> App:
    """An ASGI 2 app (``app(scope)`` returning ``instance(receive, send)``) as an ASGI 3 one,
    through asgiref when it is installed (upstream's behaviour); ASGI 3 apps are unchanged."""
    try:
        from asgiref.compatibility import guarantee_single_callable  # noqa: PLC0415
    except ImportError:  # pragma: no cover - asgiref is in most ASGI stacks
        return app  # type: ignore[no-any-return]
    return guarantee_single_callable(app)  # type: ignore[no-untyped-call,no-any-return]
