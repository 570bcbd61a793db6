"""``CeleryConfig``: the options of ``CeleryInstrumentor().instrument()``, declared once.

The README's options table and the instrumentor's docstring are generated from this declaration
(``scripts/generate``).
"""

from __future__ import annotations

from typing import Optional

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.util.config import Config, option

__all__ = ["CeleryConfig"]


class CeleryConfig(Config):
    """The resolved options of one ``instrument()`` (upstream's keywords, in its order)."""

    tracer_provider: Optional[TracerProvider] = option(
        None, doc="where spans go; None: the global tracer provider"
    )
    meter_provider: Optional[MeterProvider] = option(
        None, doc="where metrics go; None: the global meter provider"
    )
    use_span_links: bool = option(
        False,
        doc="the run span gets a link to the sending span instead of having it as parent (the"
        " baggage the message carries is still current while the task runs)",
    )
