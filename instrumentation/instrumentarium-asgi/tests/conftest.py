"""Fixtures for the instrumentarium-asgi tests: ``middleware(app, **kwargs)`` wraps an app
(default ``hello_app``) with the test's SDK providers; connections are driven in-process by
``tests.support.asgi.drive``."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.asgi import OpenTelemetryMiddleware
from tests.support.asgi import hello_app


@pytest.fixture
def middleware(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Callable[..., OpenTelemetryMiddleware]:
    def make(app: Any = hello_app, **kwargs: Any) -> OpenTelemetryMiddleware:
        kwargs.setdefault("tracer_provider", tracer_provider)
        kwargs.setdefault("meter_provider", meter_provider)
        return OpenTelemetryMiddleware(app, **kwargs)

    return make


@pytest.fixture(params=["default", "http", "http/dup"])
def semconv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each semconv mode in turn, set in ``OTEL_SEMCONV_STABILITY_OPT_IN``."""
    if request.param != "default":
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", request.param)
    return str(request.param)
