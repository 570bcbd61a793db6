"""The app a worker subprocess runs (``celery -A worker_app worker``): the tasks of
``celery_app``, and the SDK set up as ``CELERY_TEST_TELEMETRY`` says:

* ``per-child``: in each prefork child, after the fork (``worker_process_init``), as upstream and
  our README tell users to;
* ``main``: at import, in the worker's main process (the solo and threads pools);
* unset: nothing (``opentelemetry-instrument`` sets the SDK up).

Spans go, one JSON object a line, to the file ``CELERY_TEST_SPANS`` through a batch processor
whose delay is ``CELERY_TEST_EXPORT_DELAY_MS``: a long one means that only a flush exports them.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import worker_process_init
from celery_app import app  # noqa: F401 (celery -A worker_app finds it here)

_MODE = os.environ.get("CELERY_TEST_TELEMETRY", "")


def _set_up() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    from instrumentarium.celery import CeleryInstrumentor

    out = open(os.environ["CELERY_TEST_SPANS"], "a", buffering=1)  # noqa: SIM115 (process-long)
    exporter = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
    delay = int(os.environ.get("CELERY_TEST_EXPORT_DELAY_MS", "200"))
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=delay))
    trace.set_tracer_provider(provider)
    CeleryInstrumentor().instrument(tracer_provider=provider)


if _MODE == "main":
    _set_up()
elif _MODE == "per-child":

    @worker_process_init.connect(weak=False)
    def _per_child(**_: Any) -> None:
        _set_up()
