"""OpenTelemetry instrumentation for Jinja2 templates.

Usage::

    from instrumentarium.jinja2 import Jinja2Instrumentor

    Jinja2Instrumentor().instrument()

or with no code at all: ``opentelemetry-instrument python app.py`` (entry point ``jinja2``;
disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=jinja2``).

Loading a template is an INTERNAL span ``jinja2.load`` (with a ``jinja2.compile`` child when
it is compiled rather than taken from the cache), rendering one is ``jinja2.render`` (also
``render_async`` and a ``generate`` stream, until its end); each carries
``jinja2.template_name``. A template error is recorded on its span and propagates unchanged.
Nothing is traced inside ``suppress_instrumentation()``. The README lists what is emitted.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from ._config import Jinja2Config
from ._patches import ACTIVE, Jinja2Telemetry
from .package import _instruments
from .version import __version__

__all__ = ["Jinja2Instrumentor", "__version__"]


class Jinja2Instrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces Jinja2's template loading, compiling and rendering.

    Options (generated from Jinja2Config by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(Jinja2Telemetry(Jinja2Config.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)
