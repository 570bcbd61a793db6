"""The options of ``FlaskInstrumentor.instrument()`` and ``instrument_app()``, declared once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Callable, Optional, Union

from opentelemetry.trace import Span

from instrumentarium.util.config import ProviderConfig, option
from instrumentarium.util.http import Environ

__all__ = ["FlaskConfig", "RequestHook", "ResponseHook"]

RequestHook = Callable[[Span, Environ], None]
ResponseHook = Callable[[Span, str, "list[tuple[str, str]]"], None]


class FlaskConfig(ProviderConfig):
    """Flask's options, in the order of upstream's ``instrument_app`` signature."""

    request_hook: Optional[RequestHook] = option(
        None, doc="``hook(span, environ)``, called when the span starts"
    )
    response_hook: Optional[ResponseHook] = option(
        None, doc="``hook(span, status, response_headers)``, called in ``start_response``"
    )
    excluded_urls: Union[str, Iterable[str], None] = option(
        None,
        env=("OTEL_PYTHON_FLASK_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="regexes (a comma string or a list) searched (``re.search``) in the full request URL,"
        " query included; a match is neither traced nor measured",
    )
    enable_commenter: bool = option(
        True, doc="expose ``framework``, ``controller``, ``route`` to SQL commenters"
    )
    commenter_options: Optional[Mapping[str, bool]] = option(
        None,
        doc='which commenter tags to expose: ``{"framework": False}`` drops that one'
        " (default: all)",
    )
