"""The lifecycle every instrumentor keeps, and the declared options."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.starlette import StarletteInstrumentor
from instrumentarium.starlette._config import StarletteConfig
from instrumentarium.starlette._patches import ACTIVE


@pytest.fixture
def instrumentor() -> Iterator[StarletteInstrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = StarletteInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


class TestLifecycle:
    """instrument() and uninstrument() are idempotent, complete and repeatable."""

    def test_instrument_uninstrument_twice(
        self,
        instrumentor: StarletteInstrumentor,
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
        self, instrumentor: StarletteInstrumentor
    ) -> None:
        """The patches wait for the library's first import (a post-import hook)."""
        if "starlette" in sys.modules:
            pytest.skip("starlette was imported by an earlier test")
        instrumentor.instrument(skip_dep_check=True)
        assert "starlette" not in sys.modules


class TestOptions:
    """The options are declared once, in ``StarletteConfig``."""

    def test_defaults(self) -> None:
        """Nothing given: every option has its declared default."""
        config = StarletteConfig.resolve({})
        assert config.tracer_provider is None
        assert config.server_request_hook is None
        assert config.exclude_spans is None

    def test_exclude_spans_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``OTEL_PYTHON_STARLETTE_EXCLUDE_SPANS`` wins over ``OTEL_PYTHON_ASGI_EXCLUDE_SPANS``."""
        monkeypatch.setenv("OTEL_PYTHON_ASGI_EXCLUDE_SPANS", "send")
        assert StarletteConfig.resolve({}).exclude_spans == ("send",)
        monkeypatch.setenv("OTEL_PYTHON_STARLETTE_EXCLUDE_SPANS", "receive,send")
        assert StarletteConfig.resolve({}).exclude_spans == ("receive", "send")

    def test_keywords_win(self, tracer_provider: TracerProvider) -> None:
        """A keyword argument is taken as given; unknown keywords are ignored, as upstream."""
        config = StarletteConfig.resolve({"tracer_provider": tracer_provider, "unknown": 1})
        assert config.tracer_provider is tracer_provider
