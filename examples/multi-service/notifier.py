"""The notifier (a Celery worker, Redis as the broker): the orders service hands it each new
order (``confirm_order.delay``); the task marks the order confirmed in Redis.

Run as ``celery -A notifier worker`` (``demo_stack.py`` adds the queue, the pool and a node
name of the run's own); the orders service imports this module only to send the task. It
prints ``READY port=0`` once the worker consumes (Celery's ``worker_ready`` signal).

The store it writes through is a Redis client of its own; with the demo's
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=redis`` in this process and in the orders service
(why: ``demo_stack.py``) that write is not traced, and the run span is the worker's one span.
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready
from service_common import CELERY_QUEUE, KEY_PREFIX, REDIS_URL, announce_ready

app = Celery("notifier", broker=REDIS_URL)
app.conf.update(
    task_default_queue=CELERY_QUEUE,
    task_ignore_result=True,  # nothing waits for a result: no result backend
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
)

_store: redis.Redis | None = None


@app.task(name="notifier.confirm_order")
def confirm_order(order_id: str) -> None:
    global _store  # one client per pool process, made on its first task (after the fork)
    if _store is None:
        _store = redis.Redis.from_url(REDIS_URL)
    _store.set(f"{KEY_PREFIX}confirmed:{order_id}", "confirmed")


@worker_ready.connect(weak=False)
def _ready(**_: Any) -> None:
    announce_ready(0)
