"""Celery: sending a task and running one, in-process, with no broker round trip.

* ``celery-send``: ``add.apply_async((1, 2))`` to Kombu's in-memory transport (``memory://``),
  no result backend: the publish path of every ``delay``/``apply_async``, without network noise
  (the queue is purged every ``PURGE_EVERY`` calls, in every variant alike);
* ``celery-run``: what a worker does with a received message: the task's tracer (Celery's
  ``build_tracer``, the function the worker's pool calls) run on a request that carries a
  ``traceparent`` header, with the task's result ignored.

Upstream records no sending metric (its number is a span only); ours includes the messaging
metrics. Upstream records ``flower.task.runtime.seconds`` for a run; ours the messaging metrics
and that one.
"""

from __future__ import annotations

import functools
from typing import Any

from . import Call, Providers, Workload, upstream_requirement

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
PURGE_EVERY = 100
TASK = "bench.add"


@functools.cache
def _app() -> tuple[Any, Any]:
    """The app and its task, made once per process."""
    from celery import Celery

    app = Celery("bench", broker="memory://", backend=None)
    app.conf.update(task_ignore_result=True, task_default_queue="bench")

    @app.task(name=TASK, ignore_result=True)
    def add(x: int, y: int) -> int:
        return x + y

    app.finalize()
    add.apply_async((1, 2))  # connection and queue made before instrumenting: no span
    app.control.purge()
    return app, add


def _send(app: Any, add: Any) -> Call:
    apply_async = add.apply_async
    state = {"left": PURGE_EVERY}

    def call() -> bool:
        apply_async((1, 2))
        state["left"] -= 1
        if not state["left"]:
            state["left"] = PURGE_EVERY
            app.control.purge()
        return True

    return call


def _request() -> dict[str, Any]:
    """A protocol-2 request as the worker builds it from a message (headers and delivery info)."""
    task_id = "2d6f4ae0-6f3a-4e1c-9b7a-0d9c1b2e3f40"
    return {
        "lang": "py",
        "task": TASK,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "timelimit": [None, None],
        "origin": "gen1@bench",
        "hostname": "worker@bench",
        "correlation_id": task_id,
        "reply_to": "b0a1c2d3-e4f5-3a6b-8c7d-9e0f1a2b3c4d",
        "delivery_info": {
            "exchange": "",
            "routing_key": "bench",
            "priority": 0,
            "redelivered": False,
        },
        "traceparent": TRACEPARENT,
        "is_eager": False,
    }


def _run(app: Any, add: Any) -> Call:
    from celery.app.trace import build_tracer

    tracer = build_tracer(TASK, add, app=app, eager=False)
    request = _request()
    task_id = request["id"]
    args = (1, 2)

    def call() -> int:
        # a new kwargs dict per call, as the worker's message gives
        return tracer(task_id, args, {}, request).retval  # type: ignore[no-any-return]

    return call


def _instrument_ours(providers: Providers) -> None:
    from instrumentarium.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )


def _instrument_upstream(providers: Providers) -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )


def _setup(make: Any, instrument: Any = None) -> Any:
    def setup(providers: Providers) -> Call:
        app, add = _app()
        if instrument is not None:
            instrument(providers)
        return make(app, add)  # type: ignore[no-any-return]

    return setup


def _carrier() -> dict[str, object]:
    return {}


def _run_carrier() -> dict[str, object]:
    return {"HTTP_TRACEPARENT": TRACEPARENT}


_PACKAGES = ("celery",)
_UPSTREAM = (upstream_requirement("opentelemetry-instrumentation-celery"),)
_VERSIONS = ("celery", "kombu")

WORKLOADS = (
    Workload(
        name="celery-send",
        description="add.apply_async((1, 2)) to Kombu's in-memory transport, no result backend",
        bare=_setup(_send),
        instrumentarium=_setup(_send, _instrument_ours),
        upstream=_setup(_send, _instrument_upstream),
        carrier=_carrier,
        expect=True,
        packages=_PACKAGES,
        upstream_packages=_UPSTREAM,
        show_versions=_VERSIONS,
        upstream_records_duration=False,
    ),
    Workload(
        name="celery-run",
        description="the worker's run of add(1, 2) (Celery's task tracer), traceparent header",
        bare=_setup(_run),
        instrumentarium=_setup(_run, _instrument_ours),
        upstream=_setup(_run, _instrument_upstream),
        carrier=_run_carrier,
        expect=3,
        packages=_PACKAGES,
        upstream_packages=_UPSTREAM,
        show_versions=_VERSIONS,
        # upstream records flower.task.runtime.seconds: a duration, not named like one
        upstream_records_duration=False,
    ),
)
