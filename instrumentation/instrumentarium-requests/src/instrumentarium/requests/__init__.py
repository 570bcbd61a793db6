"""OpenTelemetry instrumentation for requests.

Usage::

    from instrumentarium.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument()              # every session, including existing ones
    RequestsInstrumentor.instrument_session(session)  # or one session, with its own options
    RequestsInstrumentor.uninstrument_session(other)  # or every session but this one

or with no code at all: ``opentelemetry-instrument python app.py`` (entry point ``requests``;
disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=requests``).

Each ``Session.send`` gets one CLIENT span named by the method (``GET``; ``HTTP`` for a method
outside the known list), the HTTP client duration metric, and the span's context injected into
the outgoing headers. urllib3 underneath runs with HTTP instrumentation suppressed, so a request
is one span whether or not urllib3 is instrumented too, and the redirects requests follows
inside one ``send`` belong to its span (which ends with the final response). Options,
environment variables and attributes are listed in the README.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.util.config import OFF
from instrumentarium.util.safety import logger

from ._config import RequestHook, RequestsConfig, ResponseHook
from ._send import ACTIVE, RequestsTelemetry
from .package import _instruments
from .version import __version__

if TYPE_CHECKING:
    import requests

__all__ = ["RequestsInstrumentor", "get_default_span_name", "__version__"]


def get_default_span_name(method: str) -> str:
    """Upstream's helper: the span name of a request with ``method`` (``HTTP`` for ``_OTHER``)."""
    from instrumentarium.util.http import MethodNormalizer  # noqa: PLC0415

    normalized = MethodNormalizer.from_env().normalize(method)[0]
    return "HTTP" if normalized == "_OTHER" else normalized


class RequestsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures requests' ``Session.send``.

    Options (generated from RequestsConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``request_hook`` (default ``None``): ``hook(span, prepared_request)``, called after the span
      starts, before injection and sending (headers it adds are sent)
    * ``response_hook`` (default ``None``): ``hook(span, prepared_request, response)``, called when
      a response arrives
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_REQUESTS_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): regexes (a comma string or a list) searched (``re.search``) in
      the request URL; a match is neither traced, measured nor given a ``traceparent``
    * ``duration_histogram_boundaries`` (default ``None``): bucket boundaries of the duration
      histogram, in milliseconds (in seconds in the stable-only ``http`` mode); None: the
      specification's buckets
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(RequestsTelemetry(RequestsConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)

    @staticmethod
    def instrument_session(
        session: requests.Session,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        request_hook: Optional[RequestHook] = None,
        response_hook: Optional[ResponseHook] = None,
        excluded_urls: Union[str, Sequence[str], None] = None,
        duration_histogram_boundaries: Optional[Sequence[float]] = None,
    ) -> None:
        """Instrument one session with its own options (they win over ``instrument()``'s)."""
        config = RequestsConfig.resolve(locals())  # every parameter but session is an option
        own = ACTIVE.own(session)
        if own is not None and own is not OFF:
            logger.warning("Attempting to instrument requests session while already instrumented")
            return
        ACTIVE.set_own(session, RequestsTelemetry(config))

    @staticmethod
    def uninstrument_session(session: requests.Session) -> None:
        """Stop tracing ``session``, also when ``instrument()`` covers every session."""
        ACTIVE.set_own(session, OFF)
