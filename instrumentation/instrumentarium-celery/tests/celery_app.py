"""The Celery app every test uses, in-process and in worker subprocesses (``celery -A
celery_app worker``, with this folder on ``PYTHONPATH``).

Broker and result backend: the Redis server of ``scripts/services`` (``tests/support/services.py``
says where; ``INSTRUMENTARIUM_REDIS_URL`` here, since a worker subprocess cannot import the
repository's tests package). Each test module uses its own queue, so parallel test workers and
other checkouts sharing the server never take each other's messages.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery
from celery.exceptions import Reject

BROKER = os.environ.get("INSTRUMENTARIUM_REDIS_URL") or "redis://127.0.0.1:{}/0".format(
    os.environ.get("INSTRUMENTARIUM_REDIS_PORT") or "6390"
)

app = Celery("instrumentarium_celery_tests", broker=BROKER, backend=BROKER)
app.conf.update(
    task_default_queue=os.environ.get("CELERY_TEST_QUEUE", "instrumentarium-celery-tests"),
    broker_connection_retry_on_startup=True,
    result_expires=300,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
)


class Expected(Exception):
    """A failure the task declares in ``throws``: not an error."""


@app.task(name="t.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="t.fail", throws=(Expected,))
def fail(kind: str) -> None:
    if kind == "expected":
        raise Expected("declared")
    raise ValueError("nope")


@app.task(name="t.retry", bind=True, max_retries=2)
def retry(self: Any) -> str:
    if self.request.retries == 0:
        raise self.retry(exc=RuntimeError("again"), countdown=0)
    return "done"


@app.task(name="t.reject")
def reject() -> None:
    raise Reject("no", requeue=False)


@app.task(name="t.parent")
def parent() -> int:
    """Sends another task from inside a task (by object and by name) and returns."""
    add.delay(1, 1)
    app.send_task("t.add", (2, 2))
    return 1


@app.task(name="t.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task(name="t.sum")
def total(values: list[int]) -> int:
    return sum(values)
