"""Fixtures for the instrumentarium-urllib3 tests.

``URLLib3Instrumentor`` is a process-wide singleton that patches
``urllib3.connectionpool.HTTPConnectionPool.urlopen``, so every test goes through
``instrumentor``: whatever a test instruments is undone when it ends. ``instrument`` passes the
test's SDK providers explicitly. ``server`` is a real threaded HTTP/1.1 server on loopback that
records what it received.

Two guards run around every test: the SDK never complains about a span ended twice, and no span
is left current once the test is over.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest
import urllib3
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.urllib3 import URLLib3Instrumentor

ORIGINAL_URLOPEN = urllib3.connectionpool.HTTPConnectionPool.__dict__["urlopen"]


@pytest.fixture
def instrumentor() -> Iterator[URLLib3Instrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = URLLib3Instrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    pool = urllib3.connectionpool.HTTPConnectionPool
    if pool.__dict__["urlopen"] is not ORIGINAL_URLOPEN:
        pool.urlopen = ORIGINAL_URLOPEN  # type: ignore[method-assign]


@pytest.fixture
def instrument(
    instrumentor: URLLib3Instrumentor,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
) -> Callable[..., URLLib3Instrumentor]:
    """``instrument(**kwargs)`` with the test's providers."""

    def run(**kwargs: Any) -> URLLib3Instrumentor:
        kwargs.setdefault("tracer_provider", tracer_provider)
        kwargs.setdefault("meter_provider", meter_provider)
        instrumentor.instrument(**kwargs)
        return instrumentor

    return run


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    """A pool manager without retries (a refused connection fails at once)."""
    manager = urllib3.PoolManager(retries=False)
    yield manager
    manager.clear()
