"""The options of ``DjangoInstrumentor.instrument()``, declared once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Callable, Optional, Union

from opentelemetry.trace import Span

from instrumentarium.util.config import ProviderConfig, option

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase  # type: ignore[import-untyped, unused-ignore]

__all__ = ["DjangoConfig", "RequestHook", "ResponseHook"]

RequestHook = Callable[[Span, "HttpRequest"], None]
ResponseHook = Callable[[Span, "HttpRequest", "HttpResponseBase"], None]


class DjangoConfig(ProviderConfig):
    """Django's options, in the order upstream's ``instrument()`` reads them."""

    excluded_urls: Union[str, Iterable[str], None] = option(
        None,
        env=("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="regexes (a comma string or a list) searched (``re.search``) in the absolute URL"
        " without its query (``http://host/path/``, as upstream); a match is neither traced nor"
        " measured",
    )
    request_hook: Optional[RequestHook] = option(
        None, doc="``hook(span, request)``, called when the span starts"
    )
    response_hook: Optional[ResponseHook] = option(
        None, doc="``hook(span, request, response)``, called before the span ends"
    )
    is_sql_commentor_enabled: bool = option(
        False, doc="append a sqlcommenter comment to every query a request runs"
    )
    commenter_options: Optional[Mapping[str, bool]] = option(
        None,
        doc="tags ``framework``, ``controller``, ``route``, ``app_name``, ``opentelemetry``,"
        " ``db_driver``; ``False`` drops one (default: Django's ``SQLCOMMENTER_WITH_*`` settings,"
        " else all)",
    )
    middleware_position: Optional[int] = option(
        None,
        env="OTEL_PYTHON_DJANGO_MIDDLEWARE_POSITION",
        doc="index in ``MIDDLEWARE`` (0); the keyword wins over the variable; out of range or not"
        " an integer: 0, with a warning",
    )
    traced_request_attributes: Optional[list[str]] = option(
        None,
        env="OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS",
        doc="``HttpRequest`` attributes recorded as ``name = str(value)`` (e.g."
        " ``path_info,content_type``); under ASGI also request headers of those names",
    )
