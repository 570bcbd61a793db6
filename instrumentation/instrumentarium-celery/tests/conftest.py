"""Fixtures for the instrumentarium-celery tests: a real broker (the Redis server of
``scripts/services``) and workers, in-process (``start_worker``, threads pool) or subprocesses.

``CeleryInstrumentor`` is a process-wide singleton that connects Celery's signals: every test goes
through ``instrumentor``, which undoes whatever the test instrumented.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from instrumentarium.celery import CeleryInstrumentor
from tests.support.services import REDIS_URL, listens

HERE = Path(__file__).resolve().parent

os.environ.setdefault("INSTRUMENTARIUM_REDIS_URL", REDIS_URL)
# The default queue of this test process: no other xdist worker or checkout consumes it.
QUEUE = f"instrumentarium-celery-{uuid.uuid4().hex[:12]}"
os.environ["CELERY_TEST_QUEUE"] = QUEUE
sys.path.insert(0, str(HERE))  # celery_app, as the worker subprocesses import it
import celery_app  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """A worker started in-process sets up logging as Celery's worker does (the root logger's
    level among it, to the worker's ``loglevel`` on some releases); the tests of other packages
    that follow must find the root logger as it was."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.fixture(scope="session")
def broker() -> str:
    """The broker URL; skips the test when no Redis server listens there."""
    address = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    if not listens(address):
        pytest.skip(f"no Redis server at {address}; start one with: scripts/services start redis")
    return REDIS_URL


@pytest.fixture
def instrumentor() -> Iterator[CeleryInstrumentor]:
    """The singleton, uninstrumented again when the test ends."""
    instance = CeleryInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


@pytest.fixture
def app() -> Any:
    """The test app, sending to the broker (not eager)."""
    celery_app.app.conf.task_always_eager = False
    return celery_app.app


@pytest.fixture
def eager_app() -> Iterator[Any]:
    """The test app with ``task_always_eager``: tasks run in the caller."""
    celery_app.app.conf.task_always_eager = True
    celery_app.app.conf.task_eager_propagates = False
    yield celery_app.app
    celery_app.app.conf.task_always_eager = False


@pytest.fixture(scope="module")
def worker(broker: str) -> Iterator[Any]:
    """An in-process worker (threads pool) consuming this process's queue, shared by the
    module."""
    from celery.contrib.testing.worker import start_worker

    app = celery_app.app
    app.conf.task_always_eager = False
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        queues=[QUEUE],
        loglevel="ERROR",
    ) as running:
        yield running
