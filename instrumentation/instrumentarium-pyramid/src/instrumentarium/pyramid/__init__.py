"""OpenTelemetry instrumentation for Pyramid.

Usage::

    from instrumentarium.pyramid import PyramidInstrumentor

    PyramidInstrumentor().instrument()               # every app, including ones made earlier
    PyramidInstrumentor.instrument_config(config)    # or one configurator's app, on its own

or with no code at all: ``opentelemetry-instrument python app.py`` (entry point ``pyramid``;
disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=pyramid``). ``config.include(
"instrumentarium.pyramid")`` is ``instrument_config(config)``; the tween upstream's explicit
``pyramid.tweens`` lists name is ``instrumentarium.pyramid.trace_tween_factory``.

Each request gets one SERVER span named ``"{METHOD} {route pattern}"`` (just the method when no
route matched: never the raw path), with ``http.route`` and the WSGI request attributes, the
HTTP server metrics, context extraction from the request headers, and the span current while
the tweens and the view run. The router itself is traced, so the tweens an app lists do not
matter. Options, environment variables and attributes are listed in the README.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, Optional, Union

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.util.config import OFF

from ._config import PyramidConfig
from ._telemetry import ACTIVE, PyramidTelemetry, registry_mark, trace_tween_factory
from .package import _instruments
from .version import __version__

if TYPE_CHECKING:
    from pyramid.config import Configurator

__all__ = ["PyramidInstrumentor", "includeme", "trace_tween_factory", "__version__"]


class PyramidInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures Pyramid requests.

    Options (generated from PyramidConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go (global)
    * ``meter_provider`` (default ``None``): where metrics go (global)
    * ``excluded_urls`` (default ``None``; environment ``OTEL_PYTHON_PYRAMID_EXCLUDED_URLS``, then
      ``OTEL_PYTHON_EXCLUDED_URLS``): comma-separated regexes (or a list) searched in the full
      request URL, query included
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(PyramidTelemetry(PyramidConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)

    @staticmethod
    def instrument_config(
        config: Configurator,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
    ) -> None:
        """Trace the app of ``config`` (made before or after this call) with these options,
        whether or not ``instrument()`` runs; they win over ``instrument()``'s."""
        telemetry = PyramidTelemetry(PyramidConfig.resolve(locals()))
        ACTIVE.set_own(registry_mark(config.registry), telemetry)

    @staticmethod
    def uninstrument_config(config: Configurator) -> None:
        """Leave the app of ``config`` untraced, also while ``instrument()`` covers every app."""
        ACTIVE.set_own(registry_mark(config.registry), OFF)


def includeme(config: Configurator) -> None:
    """``config.include("instrumentarium.pyramid")``: ``instrument_config(config)``."""
    PyramidInstrumentor.instrument_config(config)
