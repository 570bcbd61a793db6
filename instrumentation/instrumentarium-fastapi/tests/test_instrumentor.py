"""The lifecycle every instrumentor keeps, and the declared options."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.fastapi import FastAPIInstrumentor
from instrumentarium.fastapi._config import FastAPIConfig
from instrumentarium.fastapi._patches import ACTIVE


@pytest.fixture
def instrumentor() -> Iterator[FastAPIInstrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = FastAPIInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


class TestLifecycle:
    """instrument() and uninstrument() are idempotent, complete and repeatable."""

    def test_instrument_uninstrument_twice(
        self,
        instrumentor: FastAPIInstrumentor,
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
        self, instrumentor: FastAPIInstrumentor
    ) -> None:
        """The patches wait for the library's first import (a post-import hook)."""
        if "fastapi" in sys.modules:
            pytest.skip("fastapi was imported by an earlier test")
        instrumentor.instrument(skip_dep_check=True)
        assert "fastapi" not in sys.modules


class TestOptions:
    """The options are declared once, in ``FastAPIConfig``."""

    def test_defaults(self) -> None:
        """Nothing given: every option has its declared default."""
        config = FastAPIConfig.resolve({})
        assert config.tracer_provider is None
        assert config.server_request_hook is None

    def test_keywords_win(self, tracer_provider: TracerProvider) -> None:
        """A keyword argument is taken as given; unknown keywords are ignored, as upstream."""
        config = FastAPIConfig.resolve({"tracer_provider": tracer_provider, "unknown": 1})
        assert config.tracer_provider is tracer_provider
