"""OpenTelemetry instrumentation for Celery.

Usage::

    from instrumentarium.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument()  # in the sending process and in the worker

or with no code at all: ``opentelemetry-instrument celery -A app worker`` (entry point
``celery``; disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=celery``).

Sending a task (``apply_async``, ``delay``, ``send_task``, retries, chains, groups, chords)
gives a PRODUCER span ``apply_async/{task}`` whose context travels in the message headers; each
run in the worker gives a CONSUMER span ``run/{task}``, its child (or linked to it with
``use_span_links``). Eager mode (``task_always_eager``) gives the same two spans in one process.
In a prefork pool each child flushes its spans before it exits. Importing this module does not
import Celery: the hooks (``_patches``) are put in when Celery is imported. Attributes, metrics
and differences from upstream: see the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from ._config import CeleryConfig
from ._patches import ACTIVE
from ._telemetry import CeleryTelemetry
from .package import _instruments
from .version import __version__

__all__ = ["CeleryInstrumentor", "__version__"]


class CeleryInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures sending and running Celery tasks.

    Options (generated from CeleryConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``use_span_links`` (default ``False``): the run span gets a link to the sending span instead
      of having it as parent (the baggage the message carries is still current while the task runs)
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(CeleryTelemetry(CeleryConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)
