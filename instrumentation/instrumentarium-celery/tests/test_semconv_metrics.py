"""The messaging conventions under ``OTEL_SEMCONV_STABILITY_OPT_IN`` and the metrics."""

from __future__ import annotations

from typing import Any

import celery_app
import pytest
from celery_testing import TIMEOUT, spans_named, wait_for_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

OLD_ONLY = ("messaging.destination", "messaging.destination_kind", "messaging.conversation_id")
NEW_ONLY = (
    "messaging.system",
    "messaging.operation.type",
    "messaging.operation.name",
    "messaging.destination.name",
)


@pytest.mark.usefixtures("worker")
class TestModes:
    @pytest.mark.parametrize("mode", ["", "messaging", "messaging/dup"])
    def test_attribute_names(
        self,
        mode: str,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        app: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Default: upstream's names; ``messaging``: the current ones; ``/dup``: both. Span
        names and ``celery.*`` attributes are the same in every mode."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", mode)
        instrument()
        celery_app.add.delay(1, 2).get(timeout=TIMEOUT)
        (run,) = wait_for_spans(span_exporter, 1, "run/t.add")
        (send,) = spans_named(span_exporter, "apply_async/t.add")
        queue = app.conf.task_default_queue
        for span in (send, run):
            assert span.attributes["celery.task_name"] == "t.add"
            assert ("messaging.destination" in span.attributes) == (mode != "messaging")
            assert ("messaging.destination.name" in span.attributes) == bool(mode)
        assert ("messaging.destination_kind" in send.attributes) == (mode != "messaging")
        if mode:
            assert send.attributes["messaging.system"] == "celery"
            assert send.attributes["messaging.operation.type"] == "send"
            assert send.attributes["messaging.operation.name"] == "apply_async"
            assert send.attributes["messaging.destination.name"] == queue
            assert run.attributes["messaging.operation.type"] == "process"
            assert run.attributes["messaging.operation.name"] == "run"
            assert run.attributes["messaging.destination.name"] == queue
        else:
            assert not any(key in span.attributes for key in NEW_ONLY for span in (send, run))
        schema = send.instrumentation_scope.schema_url
        assert schema.endswith("1.27.0" if mode else "1.11.0")

    def test_error_type_in_stable_mode(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        app: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A failed run carries ``error.type`` under the current conventions."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "messaging")
        instrument()
        with pytest.raises(ValueError, match="nope"):
            celery_app.fail.delay("x").get(timeout=TIMEOUT)
        (run,) = wait_for_spans(span_exporter, 1, "run/t.fail")
        assert run.status.status_code is StatusCode.ERROR
        assert run.attributes["error.type"] == "ValueError"


@pytest.mark.usefixtures("worker")
class TestMetrics:
    def test_sent_consumed_and_durations(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter, metric_points: Any
    ) -> None:
        """Each send and each run is counted once, with its duration, under bounded attributes
        (no task id or name); upstream's task runtime is recorded per task and worker."""
        instrument()
        for i in range(3):
            celery_app.add.delay(i, i).get(timeout=TIMEOUT)
        wait_for_spans(span_exporter, 3, "run/t.add")
        points = metric_points()
        queue = app.conf.task_default_queue
        (sent,) = points["messaging.client.sent.messages"]
        assert sent.value == 3
        assert dict(sent.attributes) == {
            "messaging.system": "celery",
            "messaging.operation.name": "apply_async",
            "messaging.operation.type": "send",
            "messaging.destination.name": queue,
        }
        (consumed,) = points["messaging.client.consumed.messages"]
        assert consumed.value == 3
        assert dict(consumed.attributes)["messaging.operation.type"] == "process"
        (send_duration,) = points["messaging.client.operation.duration"]
        assert send_duration.count == 3
        (process,) = points["messaging.process.duration"]
        assert process.count == 3
        assert dict(process.attributes) == dict(consumed.attributes)
        (runtime,) = points["flower.task.runtime.seconds"]
        assert runtime.count == 3
        assert dict(runtime.attributes)["task"] == "t.add"

    def test_failed_run_has_error_type(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter, metric_points: Any
    ) -> None:
        """A failed run's duration and count carry ``error.type``; a ``throws`` one does not."""
        instrument()
        for kind in ("x", "expected"):
            with pytest.raises(Exception):  # noqa: B017 (both kinds)
                celery_app.fail.delay(kind).get(timeout=TIMEOUT)
        wait_for_spans(span_exporter, 2, "run/t.fail")
        points = metric_points()
        errors = sorted(
            dict(p.attributes).get("error.type", "")
            for p in points["messaging.client.consumed.messages"]
        )
        assert errors == ["", "ValueError"]

    def test_stable_mode_drops_the_flower_metric(
        self,
        monkeypatch: pytest.MonkeyPatch,
        instrument: Any,
        app: Any,
        span_exporter: InMemorySpanExporter,
        metric_points: Any,
    ) -> None:
        """``messaging``: only the conventions' metrics."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "messaging")
        instrument()
        celery_app.add.delay(1, 1).get(timeout=TIMEOUT)
        wait_for_spans(span_exporter, 1, "run/t.add")
        points = metric_points()
        assert "flower.task.runtime.seconds" not in points
        assert "messaging.process.duration" in points


class TestEagerMetrics:
    def test_eager_send_is_not_counted_as_sent(
        self, instrument: Any, eager_app: Any, metric_points: Any
    ) -> None:
        """Under ``task_always_eager`` nothing reaches a broker: runs are counted, sends not."""
        instrument()
        celery_app.add.delay(1, 1)
        points = metric_points()
        assert "messaging.client.sent.messages" not in points
        (consumed,) = points["messaging.client.consumed.messages"]
        assert consumed.value == 1
