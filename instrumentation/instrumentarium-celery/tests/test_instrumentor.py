"""The lifecycle every instrumentor keeps, and the declared options."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.celery import CeleryInstrumentor
from instrumentarium.celery._config import CeleryConfig
from instrumentarium.celery._patches import ACTIVE


@pytest.fixture
def instrumentor() -> Iterator[CeleryInstrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = CeleryInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


class TestLifecycle:
    """instrument() and uninstrument() are idempotent, complete and repeatable."""

    def test_instrument_uninstrument_twice(
        self,
        instrumentor: CeleryInstrumentor,
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

    def test_instrument_does_not_import_the_library(self) -> None:
        """The hooks wait for Celery's first import (a post-import hook), then connect."""
        code = (
            "import sys\n"
            "from instrumentarium.celery import CeleryInstrumentor\n"
            "CeleryInstrumentor().instrument()\n"
            "assert 'celery' not in sys.modules\n"
            "import celery.signals, celery.app.base\n"
            "receivers = celery.signals.task_prerun.receivers\n"
            "assert any('instrumentarium' in str(r) for r in receivers)\n"
            "assert hasattr(celery.app.base.Celery.send_task, '__wrapped__')\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

    def test_uninstrument_disconnects_the_receivers(
        self, instrumentor: CeleryInstrumentor, tracer_provider: TracerProvider
    ) -> None:
        """uninstrument() leaves no receiver and no wrapper behind."""
        import celery.app.base
        import celery.signals

        instrumentor.instrument(tracer_provider=tracer_provider)
        assert hasattr(celery.app.base.Celery.send_task, "__wrapped__")
        instrumentor.uninstrument()
        assert not hasattr(celery.app.base.Celery.send_task, "__wrapped__")
        for name in ("before_task_publish", "task_prerun", "task_postrun", "task_failure"):
            receivers = getattr(celery.signals, name).receivers
            assert not any("instrumentarium" in str(key) for key, _ in receivers)


class TestOptions:
    """The options are declared once, in ``CeleryConfig``."""

    def test_defaults(self) -> None:
        """Nothing given: every option has its declared default."""
        config = CeleryConfig.resolve({})
        assert config.tracer_provider is None
        assert config.meter_provider is None
        assert config.use_span_links is False

    def test_keywords_win(self, tracer_provider: TracerProvider) -> None:
        """A keyword argument is taken as given; unknown keywords are ignored, as upstream."""
        config = CeleryConfig.resolve({"tracer_provider": tracer_provider, "unknown": 1})
        assert config.tracer_provider is tracer_provider
