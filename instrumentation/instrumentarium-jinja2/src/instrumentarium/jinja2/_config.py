"""The options of ``Jinja2Instrumentor``, declared once.

``instrument()`` resolves them into a ``Jinja2Config``; the README's options table and the
instrumentor's docstring are generated from this declaration (``scripts/generate``). Upstream
has one keyword and no environment variable.
"""

from __future__ import annotations

from typing import Optional

from opentelemetry.trace import TracerProvider

from instrumentarium.util.config import Config, option

__all__ = ["Jinja2Config"]


class Jinja2Config(Config):
    """The options of ``instrument()`` (upstream's keywords)."""

    tracer_provider: Optional[TracerProvider] = option(
        None, doc="where spans go; None: the global tracer provider"
    )
