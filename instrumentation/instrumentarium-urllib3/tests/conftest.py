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

import pytest
import urllib3

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
def http() -> Iterator[urllib3.PoolManager]:
    """A pool manager without retries (a refused connection fails at once)."""
    manager = urllib3.PoolManager(retries=False)
    yield manager
    manager.clear()
