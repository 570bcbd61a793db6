"""The lifecycle every instrumentor keeps, and the declared options.

TODO: spans and metrics against a real server or client of the library,
tornado (see the requests and redis tests), in files named for what they pin
down: ``test_spans.py``, ``test_metrics.py``, ``test_failures.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.tornado import TornadoInstrumentor
from instrumentarium.tornado._config import TornadoConfig
from instrumentarium.tornado._patches import ACTIVE


@pytest.fixture
def instrumentor() -> Iterator[TornadoInstrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = TornadoInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


class TestLifecycle:
    """instrument() and uninstrument() are idempotent, complete and repeatable."""

    def test_instrument_uninstrument_twice(
        self,
        instrumentor: TornadoInstrumentor,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
    ) -> None:
        """Each instrument() activates the configuration, each uninstrument() removes it."""
        for _ in range(2):
            instrumentor.instrument(
                tracer_provider=tracer_provider, meter_provider=meter_provider, skip_dep_check=True
            )
            instrumentor.instrument(skip_dep_check=True)  # a second call changes nothing
            assert ACTIVE.active
            instrumentor.uninstrument()
            assert not ACTIVE.active

    def test_instrument_does_not_import_the_library(
        self, instrumentor: TornadoInstrumentor
    ) -> None:
        """The patches wait for the library's first import (a post-import hook)."""
        if "tornado" in sys.modules:
            pytest.skip("tornado was imported by an earlier test")
        instrumentor.instrument(skip_dep_check=True)
        assert "tornado" not in sys.modules


class TestOptions:
    """The options are declared once, in ``TornadoConfig``."""

    def test_defaults(self) -> None:
        """Nothing given: every option has its declared default."""
        config = TornadoConfig.resolve({})
        assert config.tracer_provider is None
        assert config.request_hook is None

    def test_keywords_win(self, tracer_provider: TracerProvider) -> None:
        """A keyword argument is taken as given; unknown keywords are ignored, as upstream."""
        config = TornadoConfig.resolve({"tracer_provider": tracer_provider, "unknown": 1})
        assert config.tracer_provider is tracer_provider
