"""The options of ``RequestsInstrumentor``, declared once.

``instrument()`` and ``instrument_session()`` resolve them into a ``RequestsConfig``; the README's
options table and the instrumentor's docstring are generated from this declaration
(``scripts/generate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Callable, Optional, Union

from opentelemetry.trace import Span

from instrumentarium.util.config import option
from instrumentarium.util.http import HttpClientConfig

if TYPE_CHECKING:
    import requests

__all__ = ["RequestHook", "RequestsConfig", "ResponseHook"]

RequestHook = Callable[[Span, "requests.PreparedRequest"], None]
ResponseHook = Callable[[Span, "requests.PreparedRequest", "requests.Response"], None]


class RequestsConfig(HttpClientConfig):
    """The options of ``instrument()`` and ``instrument_session()`` (upstream's keywords): the
    providers of ``HttpClientConfig``, then these."""

    request_hook: Optional[RequestHook] = option(
        None,
        doc="``hook(span, prepared_request)``, called after the span starts, before injection"
        " and sending (headers it adds are sent)",
    )
    response_hook: Optional[ResponseHook] = option(
        None, doc="``hook(span, prepared_request, response)``, called when a response arrives"
    )
    excluded_urls: Union[str, Sequence[str], None] = option(
        None,
        env=("OTEL_PYTHON_REQUESTS_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="regexes (a comma string or a list) searched (``re.search``) in the request URL;"
        " a match is neither traced, measured nor given a ``traceparent``",
    )
    duration_histogram_boundaries: Optional[Sequence[float]] = option(
        None,
        doc="bucket boundaries of the duration histogram, in milliseconds (in seconds in the"
        " stable-only ``http`` mode); None: the specification's buckets",
    )
