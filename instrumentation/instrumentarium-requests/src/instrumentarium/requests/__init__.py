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

from collections.abc import Collection
from typing import Any, Optional

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from instrumentarium.util.safety import logger

from . import _send
from ._send import RequestsHandler
from .package import _instruments
from .version import __version__

__all__ = ["RequestsInstrumentor", "get_default_span_name", "__version__"]


def get_default_span_name(method: str) -> str:
    """Upstream's helper: the span name of a request with ``method`` (``HTTP`` for ``_OTHER``)."""
    from instrumentarium.util.http import MethodNormalizer  # noqa: PLC0415

    normalized = MethodNormalizer.from_env().normalize(method)[0]
    return "HTTP" if normalized == "_OTHER" else normalized


class RequestsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures requests' ``Session.send``.

    ``instrument()`` / ``instrument_session()`` keyword arguments (upstream's):

    * ``tracer_provider``, ``meter_provider``: default to the global ones;
    * ``request_hook(span, prepared_request)``: after the span starts, before the headers are
      injected and the request is sent;
    * ``response_hook(span, prepared_request, response)``: when a response arrives;
    * ``excluded_urls``: comma-separated regexes (or a list) searched in the request URL;
      default ``OTEL_PYTHON_REQUESTS_EXCLUDED_URLS``, then ``OTEL_PYTHON_EXCLUDED_URLS``;
    * ``duration_histogram_boundaries``: bucket boundaries of the duration histogram, in
      milliseconds (in seconds in the stable-only ``http`` mode; see the README).
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        _send.set_global_handler(_handler(**kwargs))

    def _uninstrument(self, **kwargs: Any) -> None:
        _send.set_global_handler(None)

    @staticmethod
    def instrument_session(
        session: Any,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        request_hook: Any = None,
        response_hook: Any = None,
        excluded_urls: Any = None,
        duration_histogram_boundaries: Any = None,
    ) -> None:
        """Instrument one session with its own options (they win over ``instrument()``'s)."""
        if _send.session_handler(session) is not None:
            logger.warning("Attempting to instrument requests session while already instrumented")
            return
        _send.set_session_handler(
            session,
            _handler(
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                request_hook=request_hook,
                response_hook=response_hook,
                excluded_urls=excluded_urls,
                duration_histogram_boundaries=duration_histogram_boundaries,
            ),
        )

    @staticmethod
    def uninstrument_session(session: Any) -> None:
        """Stop tracing ``session``, also when ``instrument()`` covers every session."""
        _send.set_session_handler(session, None)


def _handler(
    tracer_provider: Any = None,
    meter_provider: Any = None,
    request_hook: Any = None,
    response_hook: Any = None,
    excluded_urls: Any = None,
    duration_histogram_boundaries: Optional[Any] = None,
    **_ignored: Any,
) -> RequestsHandler:
    return RequestsHandler(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        request_hook=request_hook,
        response_hook=response_hook,
        excluded_urls=excluded_urls,
        duration_histogram_boundaries=duration_histogram_boundaries,
    )
