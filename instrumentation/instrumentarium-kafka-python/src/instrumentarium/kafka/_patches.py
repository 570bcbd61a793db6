"""What ``KafkaInstrumentor`` patches, and the telemetry in force that the patches call.

``ACTIVE`` holds the ``KafkaTelemetry`` of ``instrument()`` and applies ``PATCHES`` while it is
set; each wrapper hands its call to that telemetry, or to the plain call when there is none.
"""

from __future__ import annotations

from typing import Any, Callable, Final

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import is_suppressed

from ._telemetry import KafkaTelemetry

__all__ = ["ACTIVE", "PATCHES"]

_Run = Callable[[KafkaTelemetry, Any, Any, Any, Any], Any]


def _handing_to(run: _Run) -> Callable[..., Any]:
    """The class-level wrapper that hands a call to ``run(telemetry, ...)``; made once per target
    at import, so each ``Patch`` keeps one wrapper object to recognise and remove."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        telemetry = ACTIVE.global_
        if telemetry is None or is_suppressed():
            return wrapped(*args, **kwargs)
        return run(telemetry, wrapped, instance, args, kwargs)

    return wrapper


PATCHES: Final = PatchSet(
    [
        Patch("kafka", "KafkaProducer.send", _handing_to(KafkaTelemetry.send)),
        Patch("kafka", "KafkaConsumer.__next__", _handing_to(KafkaTelemetry.next)),
        Patch("kafka", "KafkaConsumer.poll", _handing_to(KafkaTelemetry.poll)),
    ]
)
ACTIVE: Final = ActiveConfig[KafkaTelemetry]("_instrumentarium_kafka_config", PATCHES)
