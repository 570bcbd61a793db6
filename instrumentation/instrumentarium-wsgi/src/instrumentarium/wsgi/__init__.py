"""OpenTelemetry WSGI middleware: one server span and the HTTP server metrics per request.

Usage::

    from instrumentarium.wsgi import OpenTelemetryMiddleware

    application = OpenTelemetryMiddleware(application)

The span is named ``"{METHOD} {PATH_INFO}"`` (upstream's name; frameworks that know the route,
like ``instrumentarium.flask``, name it by the route instead), is current while the app runs and
while the body is read, and ends when the server closes the body, so a streamed response is timed
to its last byte and a body that raises mid-stream ends the span ERROR. See the README for every
option, environment variable and attribute. The per-request core is
``instrumentarium.util.http``'s server core; its names are re-exported here, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Callable, Final, Optional, Union

from opentelemetry import context as otel_context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.util.http import (
    Environ,
    ResponseIterable,
    ServerCall,
    ServerTelemetry,
    StartResponse,
    WSGIGetter,
    WsgiRequest,
    request_url,
    traced_start_response,
    wsgi_getter,
)

from ._config import RequestHook, ResponseHook, WsgiConfig
from ._helpers import (
    ResponsePropagationSetter,
    add_response_attributes,
    collect_custom_request_headers_attributes,
    collect_custom_response_headers_attributes,
    collect_request_attributes,
    default_response_propagation_setter,
    get_default_span_name,
)
from ._telemetry import WsgiTelemetry
from .version import __version__

__all__ = [
    "OpenTelemetryMiddleware",
    "RequestHook",
    "ResponseHook",
    "WSGIGetter",
    "wsgi_getter",
    "collect_request_attributes",
    "collect_custom_request_headers_attributes",
    "collect_custom_response_headers_attributes",
    "add_response_attributes",
    "get_default_span_name",
    "ResponsePropagationSetter",
    "default_response_propagation_setter",
    "request_url",
    "ServerCall",
    "ServerTelemetry",
    "ResponseIterable",
    "__version__",
]

WSGIApplication = Callable[[Environ, StartResponse], Iterable[bytes]]
_attach: Final = otel_context.attach
_detach: Final = otel_context.detach


class OpenTelemetryMiddleware:
    """WSGI middleware that traces and measures every request of ``wsgi``.

    A raising hook is logged and the request goes on. Besides ``wsgi``, the application to
    wrap, upstream's keyword arguments.

    Options (generated from WsgiConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``request_hook`` (default ``None``): ``hook(span, environ)``, called once the span has started
    * ``response_hook`` (default ``None``): ``hook(span, environ, status, response_headers)``,
      called in ``start_response`` before the server's
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_WSGI_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): regexes (a comma string or a list) searched (``re.search``) in
      the full request URL; a match is neither traced nor measured

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
        self._telemetry = WsgiTelemetry(
            WsgiConfig.resolve(
                {
                    "request_hook": request_hook,
                    "response_hook": response_hook,
                    "tracer_provider": tracer_provider,
                    "meter_provider": meter_provider,
                    "excluded_urls": excluded_urls,
                }
            )
        )

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        telemetry = self._telemetry
        call = telemetry.start(environ)
        if call is None:  # excluded, or our own step failed (logged): the app runs untraced
            return telemetry.run_declined(WsgiRequest(environ), self.wsgi, environ, start_response)
        token = _attach(call.context)  # type: ignore[arg-type]
        try:
            result = self.wsgi(
                environ, traced_start_response(call, start_response, telemetry.response_hook)
            )
        except BaseException as exc:
            call.finish(exc)
            raise
        finally:
            _detach(token)
        return call.wrap_response(result)
