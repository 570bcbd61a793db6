"""OpenTelemetry WSGI middleware: one server span and the HTTP server metrics per request.

Usage::

    from instrumentarium.wsgi import OpenTelemetryMiddleware

    application = OpenTelemetryMiddleware(application)

The span is named ``"{METHOD} {PATH_INFO}"`` (upstream's name; frameworks that know the route,
like ``instrumentarium.flask``, name it by the route instead), is current while the app runs and
while the body is read, and ends when the server closes the body, so a streamed response is timed
to its last byte and a body that raises mid-stream ends the span ERROR. See the README for every
option, environment variable and attribute.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Callable, Optional, Union

from opentelemetry import context as otel_context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, TracerProvider

from instrumentarium.util.http import MethodNormalizer
from instrumentarium.util.safety import safe_hook

from ._environ import Environ, WSGIGetter, request_url, wsgi_getter
from ._server import (
    ResponseIterable,
    ServerCall,
    ServerTelemetry,
    StartResponse,
    collect_request_attributes,
)
from .version import __version__

__all__ = [
    "OpenTelemetryMiddleware",
    "RequestHook",
    "ResponseHook",
    "WSGIGetter",
    "wsgi_getter",
    "collect_request_attributes",
    "get_default_span_name",
    "request_url",
    "ServerCall",
    "ServerTelemetry",
    "ResponseIterable",
    "__version__",
]

WSGIApplication = Callable[[Environ, StartResponse], Iterable[bytes]]
RequestHook = Callable[[Span, Environ], None]
ResponseHook = Callable[[Span, Environ, str, "list[tuple[str, str]]"], None]


def get_default_span_name(environ: Environ) -> str:
    """Upstream's WSGI span name: ``"{METHOD} {PATH_INFO}"``, ``"HTTP"`` for unknown methods.

    Reads the method variables on each call; the middleware resolves them once instead.
    """
    method, _ = MethodNormalizer.from_env().normalize(environ.get("REQUEST_METHOD") or "")
    return _span_name(method, environ)


def _span_name(method: str, environ: Environ) -> str:
    if method == "_OTHER":
        return "HTTP"
    path = (environ.get("PATH_INFO") or "").strip()
    return f"{method} {path}" if path else method


class OpenTelemetryMiddleware:
    """WSGI middleware that traces and measures every request of ``wsgi``.

    Args:
        wsgi: the WSGI application to wrap.
        request_hook: ``hook(span, environ)``, called once the span has started.
        response_hook: ``hook(span, environ, status, response_headers)``, called in
            ``start_response`` before the server's.
        tracer_provider: defaults to the global one.
        meter_provider: defaults to the global one.
        excluded_urls: comma-separated regexes (or a list) searched in the full request URL;
            defaults to ``OTEL_PYTHON_WSGI_EXCLUDED_URLS``, then ``OTEL_PYTHON_EXCLUDED_URLS``.

    A raising hook is logged and the request goes on.
    """

    def __init__(
        self,
        wsgi: WSGIApplication,
        request_hook: Optional[RequestHook] = None,
        response_hook: Optional[ResponseHook] = None,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
    ) -> None:
        self.wsgi = wsgi
        self._telemetry = ServerTelemetry(
            scope="instrumentarium.wsgi",
            version=__version__,
            library="WSGI",
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            excluded_urls=excluded_urls,
        )
        self._request_hook = safe_hook(request_hook, "request_hook")
        self._response_hook = safe_hook(response_hook, "response_hook")

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        telemetry = self._telemetry
        if telemetry.excluded is not None and telemetry.is_excluded(environ):
            return self.wsgi(environ, start_response)
        call = telemetry.begin(environ)
        span = call.start_span(_span_name(call.method, environ))
        if self._request_hook is not None:
            self._request_hook(span, environ)
        response_hook = self._response_hook
        hook = None
        if response_hook is not None:

            def hook(span: Span, status: str, headers: list[tuple[str, str]]) -> None:
                response_hook(span, environ, status, headers)

        token = otel_context.attach(call.context)  # type: ignore[arg-type]
        try:
            result = self.wsgi(environ, call.wrap_start_response(start_response, hook))
        except BaseException as exc:
            call.finish(exc)
            raise
        finally:
            otel_context.detach(token)
        return call.wrap_response(result)
