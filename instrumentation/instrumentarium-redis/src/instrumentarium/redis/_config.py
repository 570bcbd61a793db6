"""``RedisConfig``: the options of ``instrument()`` and ``instrument_client()``, declared once."""

from __future__ import annotations

from typing import Any, Callable, Final, Optional

from opentelemetry.trace import Span

from instrumentarium.util.config import ProviderConfig, option

__all__ = ["SANITIZE_ENV", "RedisConfig", "RequestHook", "ResponseHook"]

SANITIZE_ENV: Final = "OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS"

# request_hook(span, instance, args, kwargs): before a command is sent.
RequestHook = Callable[[Span, Any, tuple[Any, ...], dict[str, Any]], None]
# response_hook(span, instance, response): after a command or pipeline returns.
ResponseHook = Callable[[Span, Any, Any], None]

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def parse_flag(text: str) -> bool:
    """``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``, any case."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("not a boolean (use true or false)")


class RedisConfig(ProviderConfig):
    """The resolved options of one ``instrument()`` or ``instrument_client()``."""

    request_hook: Optional[RequestHook] = option(
        None,
        doc="``hook(span, instance, args, kwargs)``: before a command is sent (not for"
        " pipelines, as upstream)",
    )
    response_hook: Optional[ResponseHook] = option(
        None,
        doc="``hook(span, instance, response)``: after a command or pipeline returns (``None``"
        " on a pipeline's ``WatchError``)",
    )
    sanitize_query: bool = option(
        True,
        env=SANITIZE_ENV,
        parse=parse_flag,
        doc="True: ``SET ? ?`` in ``db.statement`` / ``db.query.text``; False: the arguments"
        " recorded, each cut to 100 characters",
    )
