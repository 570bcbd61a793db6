"""The options of ``PyramidInstrumentor.instrument()`` and ``instrument_config()``, declared once.

Upstream's ``instrument()`` takes no option (global providers only); these three are the ones
every instrumentarium server instrumentor has, so that a test or a second provider can be used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional, Union

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.util.config import Config, option

__all__ = ["PyramidConfig"]


class PyramidConfig(Config):
    """Pyramid's options."""

    tracer_provider: Optional[TracerProvider] = option(None, doc="where spans go (global)")
    meter_provider: Optional[MeterProvider] = option(None, doc="where metrics go (global)")
    excluded_urls: Union[str, Iterable[str], None] = option(
        None,
        env=("OTEL_PYTHON_PYRAMID_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="comma-separated regexes (or a list) searched in the full request URL, query included",
    )
