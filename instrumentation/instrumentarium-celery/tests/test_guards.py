"""Instrumentation never breaks the application: a failure in one of our steps is logged once
(WARNING, then DEBUG), the task is sent and runs, and no span or context is left behind."""

from __future__ import annotations

import logging
from typing import Any

import celery_app
import pytest
from celery_testing import TIMEOUT, wait_for_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentarium.celery import _telemetry
from instrumentarium.celery._patches import ACTIVE


class _Broken:
    """Stands for the tracer or an instrument: every use raises."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"broken {name}")


def _levels(caplog: pytest.LogCaptureFixture, what: str) -> list[int]:
    return [
        r.levelno for r in caplog.records if r.name == "instrumentarium" and what in r.getMessage()
    ]


@pytest.fixture
def broken(instrument: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any) -> Any:
    """``broken(attribute)``: instrument(), then make that attribute of the telemetry in force
    raise on use."""

    def make(attribute: str) -> None:
        instrument()
        telemetry = ACTIVE.global_
        assert telemetry is not None
        monkeypatch.setattr(telemetry, attribute, _Broken())
        for value in vars(_telemetry).values():
            if isinstance(value, type(_telemetry._RUN_END)):
                monkeypatch.setattr(value, "failed", False)
        caplog.set_level(logging.DEBUG, logger="instrumentarium")

    return make


@pytest.mark.usefixtures("worker")
class TestGuards:
    def test_failing_tracer_sends_and_runs_plain(
        self, broken: Any, app: Any, caplog: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """No span can start: tasks are sent and run untraced, each failing step is logged at
        WARNING once, then at DEBUG."""
        broken("tracer")
        assert celery_app.add.delay(1, 2).get(timeout=TIMEOUT) == 3
        assert celery_app.add.delay(2, 2).get(timeout=TIMEOUT) == 4
        assert span_exporter.get_finished_spans() == ()
        assert _levels(caplog, "starting the celery publish span") == [
            logging.WARNING,
            logging.DEBUG,
        ]

    def test_failing_metrics_still_end_the_spans(
        self, broken: Any, app: Any, caplog: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """The duration histograms raise: both spans still end once, the result arrives."""
        broken("send_duration")
        assert celery_app.add.delay(1, 2).get(timeout=TIMEOUT) == 3
        names = sorted(s.name for s in wait_for_spans(span_exporter, 2))
        assert names == ["apply_async/t.add", "run/t.add"]
        assert _levels(caplog, "ending the celery publish span") == [logging.WARNING]


class TestSendFailure:
    def test_broker_down_ends_the_span_as_error(
        self, instrument: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A send that raises (no broker): the exception propagates unchanged, the send span
        ends as ERROR and the caller's context is restored (the autouse check)."""
        from celery import Celery

        down = Celery("down", broker="redis://127.0.0.1:1/0")
        down.conf.broker_transport_options = {"max_retries": 0, "interval_start": 0}
        down.conf.broker_connection_retry = False
        down.conf.task_publish_retry = False
        instrument()
        with pytest.raises(Exception) as raised:
            down.send_task("t.add", (1, 1))
        (span,) = span_exporter.get_finished_spans()
        assert span.name == "apply_async/t.add"
        assert span.status.status_code.name == "ERROR"
        assert [e.attributes["exception.type"].rsplit(".", 1)[-1] for e in span.events] == [
            type(raised.value).__name__
        ]
