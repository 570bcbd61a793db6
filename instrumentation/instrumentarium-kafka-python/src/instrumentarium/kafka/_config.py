"""``KafkaConfig``: the options of ``KafkaInstrumentor().instrument()``, declared once."""

from __future__ import annotations

from typing import Any, Callable, Optional

from opentelemetry.trace import Span

from instrumentarium.util.config import ProviderConfig, option

__all__ = ["ConsumeHook", "KafkaConfig", "ProduceHook"]

# produce_hook(span, args, kwargs): the arguments of KafkaProducer.send.
ProduceHook = Callable[[Span, tuple[Any, ...], dict[str, Any]], None]
# consume_hook(span, record, args, kwargs): the record and the __next__ / poll() arguments.
ConsumeHook = Callable[[Span, Any, tuple[Any, ...], dict[str, Any]], None]


class KafkaConfig(ProviderConfig):
    """The resolved options of one ``instrument()``."""

    produce_hook: Optional[ProduceHook] = option(
        None,
        doc="``hook(span, args, kwargs)``: inside the producer span, before ``send()`` runs"
        " (the headers already carry the span's context)",
    )
    consume_hook: Optional[ConsumeHook] = option(
        None,
        doc="``hook(span, record, args, kwargs)``: inside each record's consumer span, with the"
        " arguments of the ``__next__`` / ``poll()`` call that returned it",
    )
