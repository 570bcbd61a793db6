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
does not import kafka: the patches (``_patches``) are applied when kafka is imported. Options and
attributes: see the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from ._config import KafkaConfig
from ._patches import ACTIVE
from ._telemetry import KafkaTelemetry
from .package import _instruments
from .version import __version__

__all__ = ["KafkaInstrumentor", "__version__"]


class KafkaInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures kafka-python's ``KafkaProducer`` and ``KafkaConsumer``.

    ``instrument()`` takes upstream's keyword arguments, plus ``meter_provider``.

    Options (generated from KafkaConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``produce_hook`` (default ``None``): ``hook(span, args, kwargs)``: inside the producer span,
      before ``send()`` runs (the headers already carry the span's context)
    * ``consume_hook`` (default ``None``): ``hook(span, record, args, kwargs)``: inside each
      record's consumer span, with the arguments of the ``__next__`` / ``poll()`` call that returned
      it

    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(KafkaTelemetry(KafkaConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)
