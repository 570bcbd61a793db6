"""Spans of sending and running tasks through a real broker and an in-process worker."""

from __future__ import annotations

from typing import Any

import celery_app
import pytest
from celery_testing import TIMEOUT, describe_spans, spans_named, wait_for_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode


@pytest.mark.usefixtures("worker")
class TestThroughTheBroker:
    """apply_async/delay/send_task give a PRODUCER span; the worker's run is its child."""

    def test_send_and_run(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """One trace: the send span (PRODUCER) is the parent of the run span (CONSUMER)."""
        instrument()
        assert celery_app.add.delay(2, 3).get(timeout=TIMEOUT) == 5
        (run,) = wait_for_spans(span_exporter, 1, "run/t.add")
        (send,) = spans_named(span_exporter, "apply_async/t.add")
        assert send.kind is SpanKind.PRODUCER
        assert run.kind is SpanKind.CONSUMER
        assert run.parent.span_id == send.context.span_id
        assert run.context.trace_id == send.context.trace_id
        assert send.attributes["celery.action"] == "apply_async"
        assert send.attributes["celery.task_name"] == "t.add"
        assert send.attributes["messaging.destination"] == app.conf.task_default_queue
        assert send.attributes["messaging.destination_kind"] == "queue"
        task_id = send.attributes["messaging.message.id"]
        assert run.attributes["messaging.message.id"] == task_id
        assert run.attributes["celery.action"] == "run"
        assert run.attributes["celery.state"] == "SUCCESS"
        assert run.attributes["celery.task_name"] == "t.add"
        assert run.attributes["messaging.destination"] == app.conf.task_default_queue
        assert "celery.delivery_info" in run.attributes
        assert run.status.status_code is StatusCode.UNSET

    def test_send_task_by_name(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A task sent by name stays in the caller's trace."""
        instrument()
        result = app.send_task("t.add", (1, 2))
        assert result.get(timeout=TIMEOUT) == 3
        (run,) = wait_for_spans(span_exporter, 1, "run/t.add")
        (send,) = spans_named(span_exporter, "apply_async/t.add")
        assert run.parent.span_id == send.context.span_id

    def test_failure_is_an_error(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A task that raises: ERROR with the message and one exception event."""
        instrument()
        with pytest.raises(ValueError, match="nope"):
            celery_app.fail.delay("boom").get(timeout=TIMEOUT)
        (run,) = wait_for_spans(span_exporter, 1, "run/t.fail")
        assert run.status.status_code is StatusCode.ERROR
        assert run.status.description == "nope"
        assert [event.name for event in run.events] == ["exception"]
        assert run.attributes["celery.state"] == "FAILURE"

    def test_throws_is_not_an_error(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """An exception listed in the task's ``throws`` is an expected outcome, not an error."""
        instrument()
        with pytest.raises(celery_app.Expected):
            celery_app.fail.delay("expected").get(timeout=TIMEOUT)
        (run,) = wait_for_spans(span_exporter, 1, "run/t.fail")
        assert run.status.status_code is StatusCode.UNSET
        assert run.events == ()
        assert run.attributes["celery.state"] == "FAILURE"

    def test_retry_runs_are_one_trace(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A retry: the first run ends RETRY with the reason, republishes as its child, and the
        second run is the child of that send."""
        instrument()
        assert celery_app.retry.delay().get(timeout=TIMEOUT) == "done"
        runs = wait_for_spans(span_exporter, 2, "run/t.retry")
        sends = spans_named(span_exporter, "apply_async/t.retry")
        assert len(runs) == 2
        assert len(sends) == 2
        first, second = sorted(runs, key=lambda s: s.start_time)
        outer, inner = sorted(sends, key=lambda s: s.start_time)
        assert first.attributes["celery.state"] == "RETRY"
        assert first.attributes["celery.retry.reason"] == "Retry in 0s: RuntimeError('again')"
        assert first.parent.span_id == outer.context.span_id
        assert inner.parent.span_id == first.context.span_id
        assert second.parent.span_id == inner.context.span_id
        assert second.attributes["celery.state"] == "SUCCESS"
        assert second.attributes["celery.retries"] == 1
        assert len({s.context.trace_id for s in runs + sends}) == 1

    def test_reject_ends_the_span(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A task that rejects its message ends its run span with the REJECTED state."""
        instrument()
        celery_app.reject.delay()
        (run,) = wait_for_spans(span_exporter, 1, "run/t.reject")
        assert run.attributes["celery.state"] == "REJECTED"

    def test_task_sent_from_a_task(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """Tasks sent inside a task (by object and by name) are children of its run span."""
        instrument()
        celery_app.parent.delay().get(timeout=TIMEOUT)
        adds = wait_for_spans(span_exporter, 2, "run/t.add")
        (run,) = spans_named(span_exporter, "run/t.parent")
        sends = spans_named(span_exporter, "apply_async/t.add")
        assert len(adds) == 2
        assert {s.parent.span_id for s in sends} == {run.context.span_id}
        assert {s.parent.span_id for s in adds} == {s.context.span_id for s in sends}
        assert len({s.context.trace_id for s in [run, *adds, *sends]}) == 1

    def test_span_links(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``use_span_links``: the run span is a root with a link to the send span."""
        instrument(use_span_links=True)
        celery_app.add.delay(1, 1).get(timeout=TIMEOUT)
        (run,) = wait_for_spans(span_exporter, 1, "run/t.add")
        (send,) = spans_named(span_exporter, "apply_async/t.add")
        assert run.parent is None
        assert [link.context.span_id for link in run.links] == [send.context.span_id]

    def test_uninstrumented_sends_plain(
        self, instrumentor: Any, app: Any, span_exporter: InMemorySpanExporter, tracer_provider: Any
    ) -> None:
        """After uninstrument(): no span, no header, the task still runs."""
        instrumentor.instrument(tracer_provider=tracer_provider)
        instrumentor.uninstrument()
        assert celery_app.add.delay(1, 1).get(timeout=TIMEOUT) == 2
        assert span_exporter.get_finished_spans() == ()


class TestEager:
    """``task_always_eager``: the same two spans, in one process."""

    def test_same_shape(
        self, instrument: Any, eager_app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """The eager send span is the parent of the run span, as through a broker."""
        instrument()
        assert celery_app.add.delay(4, 5).get() == 9
        (run,) = spans_named(span_exporter, "run/t.add")
        (send,) = spans_named(span_exporter, "apply_async/t.add")
        assert send.kind is SpanKind.PRODUCER
        assert run.kind is SpanKind.CONSUMER
        assert run.parent.span_id == send.context.span_id
        assert send.attributes["messaging.message.id"] == run.attributes["messaging.message.id"]

    def test_eager_failure(
        self, instrument: Any, eager_app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """An eager failure: the run span is ERROR, the send span is not (nothing raised)."""
        instrument()
        result = celery_app.fail.delay("boom")
        assert isinstance(result.result, ValueError)
        (run,) = spans_named(span_exporter, "run/t.fail")
        (send,) = spans_named(span_exporter, "apply_async/t.fail")
        assert run.status.status_code is StatusCode.ERROR
        assert send.status.status_code is StatusCode.UNSET


@pytest.mark.usefixtures("worker")
class TestCanvas:
    """Chains, groups and chords sent under one span stay in its trace."""

    def test_chain_group_chord_keep_one_trace(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter, tracer_provider: Any
    ) -> None:
        """Every send and run of a chain, a group and a chord has the caller's trace id; each run
        is the child of its own send.

        The worker is shared by the module's tests: a task an earlier test left behind may run
        while this one waits, in a trace of its own, so the spans are counted in the caller's
        trace (a duplicate run in it still fails the count)."""
        from celery import chain, chord, group

        instrument()
        tracer = tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("caller") as caller:
            chained = chain(celery_app.add.s(1, 1), celery_app.add.s(2)).apply_async()
            grouped = group(celery_app.add.s(i, i) for i in range(3)).apply_async()
            chorded = chord([celery_app.add.s(1, 1), celery_app.add.s(2, 2)])(celery_app.total.s())
        assert chained.get(timeout=TIMEOUT) == 4
        assert grouped.get(timeout=TIMEOUT) == [0, 2, 4]
        assert chorded.get(timeout=TIMEOUT) == 6
        trace_id = caller.get_span_context().trace_id
        runs = wait_for_spans(span_exporter, 7, "run/t.add", trace_id) + wait_for_spans(
            span_exporter, 1, "run/t.sum", trace_id
        )
        sends = [
            s
            for s in span_exporter.get_finished_spans()
            if s.name.startswith("apply_async/") and s.context.trace_id == trace_id
        ]
        assert len(runs) == 8, describe_spans(span_exporter)
        assert len(sends) == 8, describe_spans(span_exporter)
        send_ids = {s.context.span_id for s in sends}
        assert all(run.parent.span_id in send_ids for run in runs), describe_spans(span_exporter)


@pytest.mark.usefixtures("worker")
class TestRevoked:
    def test_expired_message_ends_in_a_revoked_span(
        self, instrument: Any, app: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A message that expired before it ran: a ``run/{task}`` span with the REVOKED state,
        the child of the send, instead of a trace that ends at the send."""
        from datetime import datetime, timedelta, timezone

        instrument()
        expired = datetime.now(timezone.utc) - timedelta(seconds=5)
        celery_app.add.apply_async((1, 1), expires=expired)
        (run,) = wait_for_spans(span_exporter, 1, "run/t.add")
        (send,) = spans_named(span_exporter, "apply_async/t.add")
        assert run.attributes["celery.state"] == "REVOKED"
        assert run.attributes["celery.expired"] is True
        assert run.parent.span_id == send.context.span_id
