"""The solo pool (tasks run in the worker's consumer thread), in-process: the same parentage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import celery_app
import pytest
from celery_testing import TIMEOUT, spans_named, wait_for_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

QUEUE = f"instrumentarium-celery-solo-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def solo_worker(broker: str) -> Iterator[Any]:
    from celery.contrib.testing.worker import start_worker

    celery_app.app.conf.task_always_eager = False
    with start_worker(
        celery_app.app, pool="solo", perform_ping_check=False, queues=[QUEUE], loglevel="ERROR"
    ) as running:
        yield running


@pytest.mark.usefixtures("solo_worker")
def test_runs_are_children_of_sends(
    instrument: Any, app: Any, span_exporter: InMemorySpanExporter
) -> None:
    """Each run under the solo pool is the child of its send span, once."""
    instrument()
    results = [celery_app.add.apply_async((i, 1), queue=QUEUE) for i in range(3)]
    assert [r.get(timeout=TIMEOUT) for r in results] == [1, 2, 3]
    runs = wait_for_spans(span_exporter, 3, "run/t.add")
    sends = {s.context.span_id: s for s in spans_named(span_exporter, "apply_async/t.add")}
    assert len(runs) == 3
    for run in runs:
        send = sends[run.parent.span_id]
        assert send.attributes["messaging.message.id"] == run.attributes["messaging.message.id"]
