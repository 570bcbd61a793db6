"""The options of ``FalconInstrumentor.instrument()``, declared once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable, Optional, Union

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, TracerProvider

from instrumentarium.util.config import Config, option

if TYPE_CHECKING:
    import falcon

__all__ = ["FalconConfig", "RequestHook", "ResponseHook"]

RequestHook = Callable[[Span, "falcon.Request"], None]
ResponseHook = Callable[[Span, "falcon.Request", "falcon.Response"], None]


class FalconConfig(Config):
    """Falcon's options, in the order upstream's ``instrument()`` reads them."""

    tracer_provider: Optional[TracerProvider] = option(None, doc="where spans go (global)")
    meter_provider: Optional[MeterProvider] = option(None, doc="where metrics go (global)")
    request_hook: Optional[RequestHook] = option(
        None, doc="``hook(span, req)``, called when Falcon has made the request object"
    )
    response_hook: Optional[ResponseHook] = option(
        None, doc="``hook(span, req, resp)``, called after the response middleware"
    )
    traced_request_attributes: Optional[list[str]] = option(
        None,
        env="OTEL_PYTHON_FALCON_TRACED_REQUEST_ATTRS",
        doc="``falcon.Request`` attributes recorded as span attributes (text), once routed",
    )
    excluded_urls: Union[str, Iterable[str], None] = option(
        None,
        env=("OTEL_PYTHON_FALCON_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="comma-separated regexes (or a list) searched in the path (``PATH_INFO``; ASGI:"
        " the scope's ``path``)",
    )
