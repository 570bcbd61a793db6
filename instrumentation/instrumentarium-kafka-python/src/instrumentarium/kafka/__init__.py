"""OpenTelemetry instrumentation for kafka-python.

Usage::

    from instrumentarium.kafka import KafkaInstrumentor

    KafkaInstrumentor().instrument()  # every KafkaProducer and KafkaConsumer

or with no code at all: ``opentelemetry-instrument python app.py`` (entry point ``kafka``; disable
with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=kafka``).

``KafkaProducer.send`` gets one PRODUCER span ``"{topic} send"`` that covers the whole call and
whose context travels in the record's headers; every record a ``KafkaConsumer`` hands out, by
iteration or by ``poll()``, gets one CONSUMER span ``"{topic} receive"``, a child of that context.
The messaging metrics (sent, consumed, operation duration) are recorded too. Importing this module
does not import kafka: the patches below are applied when kafka is imported. Options and
attributes: see the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Callable, Final, Optional

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from instrumentarium.util.patching import Patch, PatchSet

from ._telemetry import KafkaTelemetry
from .package import _instruments
from .version import __version__

__all__ = ["KafkaInstrumentor", "__version__"]

# The telemetry of instrument(); None when not instrumented.
_global: Optional[KafkaTelemetry] = None


def _global_wrapper(method: str) -> Callable[..., Any]:
    """The class-level wrapper that hands a call to the global telemetry's ``method``; made once
    per target at import, so each ``Patch`` keeps one wrapper object to recognise and remove."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        telemetry = _global
        if telemetry is None:
            return wrapped(*args, **kwargs)
        return getattr(telemetry, method)(wrapped, instance, args, kwargs)

    return wrapper


PATCHES: Final = PatchSet(
    [
        Patch("kafka", "KafkaProducer.send", _global_wrapper("send")),
        Patch("kafka", "KafkaConsumer.__next__", _global_wrapper("next")),
        Patch("kafka", "KafkaConsumer.poll", _global_wrapper("poll")),
    ]
)


class KafkaInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures kafka-python's ``KafkaProducer`` and ``KafkaConsumer``.

    ``instrument()`` keyword arguments (upstream's, plus ``meter_provider``):

    * ``tracer_provider``, ``meter_provider``: default to the global ones;
    * ``produce_hook(span, args, kwargs)``: inside the producer span, before ``send()`` runs,
      with the arguments it gets (the headers already carry the span's context);
    * ``consume_hook(span, record, args, kwargs)``: inside each record's consumer span, with the
      arguments of the ``__next__`` / ``poll()`` call that returned it.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        global _global
        if _global is not None:
            _global.active = False
        _global = KafkaTelemetry(
            tracer_provider=kwargs.get("tracer_provider"),
            meter_provider=kwargs.get("meter_provider"),
            produce_hook=kwargs.get("produce_hook"),
            consume_hook=kwargs.get("consume_hook"),
        )
        PATCHES.apply()

    def _uninstrument(self, **kwargs: Any) -> None:
        global _global
        PATCHES.remove()
        if _global is not None:
            _global.active = False
        _global = None
