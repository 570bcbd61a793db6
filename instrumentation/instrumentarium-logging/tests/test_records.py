"""The four fields every record carries, the hook, and failures that never leave logging."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from instrumentarium.logging import LoggingInstrumentor, _records

from .conftest import Records

FIELDS = ("otelTraceID", "otelSpanID", "otelTraceSampled", "otelServiceName")
Instrument = Callable[..., LoggingInstrumentor]
log = logging.getLogger("test")


def fields(record: logging.LogRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in FIELDS)


class TestFields:
    def test_outside_a_span_zeros_and_the_service_name(
        self, instrument: Instrument, records: Records
    ) -> None:
        """Outside any span: ``"0"``, ``"0"``, ``False`` and the resource's service name, as
        upstream observed."""
        instrument()
        log.info("outside")
        assert fields(records.records[0]) == ("0", "0", False, "svc")

    def test_inside_a_span_its_ids_in_hex(
        self, instrument: Instrument, records: Records, tracer_provider: TracerProvider
    ) -> None:
        """Inside a span: the trace id in 32 and the span id in 16 lowercase hex digits, the
        sampled flag as a bool; the next record of the same span gets the same values."""
        instrument()
        with tracer_provider.get_tracer("t").start_as_current_span("s") as span:
            log.info("one")
            log.warning("two")
        context = span.get_span_context()
        expected = (f"{context.trace_id:032x}", f"{context.span_id:016x}", True, "svc")
        assert [fields(r) for r in records.records] == [expected, expected]
        assert len(expected[0]) == 32
        assert len(expected[1]) == 16

    def test_nested_spans_each_record_has_the_current_one(
        self, instrument: Instrument, records: Records, tracer_provider: TracerProvider
    ) -> None:
        """A record made in a child span has the child's id; back in the parent, the parent's."""
        instrument()
        tracer = tracer_provider.get_tracer("t")
        with tracer.start_as_current_span("parent") as parent:
            with tracer.start_as_current_span("child") as child:
                log.info("in child")
            log.info("in parent")
        span_ids = [r.otelSpanID for r in records.records]
        assert span_ids == [
            f"{child.get_span_context().span_id:016x}",
            f"{parent.get_span_context().span_id:016x}",
        ]

    def test_unsampled_span_has_ids_and_sampled_false(
        self, instrumentor: LoggingInstrumentor, records: Records
    ) -> None:
        """An unsampled span (not recording) still has a valid context: its ids, sampled False."""
        provider = TracerProvider(sampler=ALWAYS_OFF)
        instrumentor.instrument(tracer_provider=provider)
        with provider.get_tracer("t").start_as_current_span("s") as span:
            log.info("unsampled")
        record = records.records[0]
        assert record.otelSpanID == f"{span.get_span_context().span_id:016x}"
        assert record.otelTraceSampled is False

    def test_remote_parent_context_is_used(self, instrument: Instrument, records: Records) -> None:
        """A non-recording span carrying a propagated context (a caller's) gives its ids."""
        instrument()
        context = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
        with trace.use_span(NonRecordingSpan(context)):
            log.info("remote")
        assert fields(records.records[0]) == ("abc".zfill(32), "def".zfill(16), True, "svc")

    def test_invalid_span_context_counts_as_outside(
        self, instrument: Instrument, records: Records
    ) -> None:
        """A current span with an invalid context (suppressed, failed extraction) gives zeros."""
        instrument()
        with trace.use_span(NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)):
            log.info("invalid")
        assert fields(records.records[0]) == ("0", "0", False, "svc")

    def test_no_resource_gives_an_empty_service_name(
        self, instrumentor: LoggingInstrumentor, records: Records
    ) -> None:
        """A provider without a resource (the API's default one) gives ``""``."""
        instrumentor.instrument(tracer_provider=trace.NoOpTracerProvider())
        log.info("x")
        assert records.records[0].otelServiceName == ""

    def test_global_provider_set_after_instrument_names_the_service(
        self, instrumentor: LoggingInstrumentor, records: Records, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Instrumented before the SDK's provider is set globally (the API's proxy then has no
        resource): the service name is looked up again once a span records."""
        from opentelemetry.sdk.resources import Resource

        proxy = trace.ProxyTracerProvider()
        monkeypatch.setattr(trace, "get_tracer_provider", lambda: proxy)
        instrumentor.instrument()
        log.info("before")
        provider = TracerProvider(resource=Resource.create({"service.name": "later"}))
        monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
        with provider.get_tracer("t").start_as_current_span("s"):
            log.info("inside")
        log.info("after")
        assert [r.otelServiceName for r in records.records] == ["", "later", "later"]

    def test_every_logger_and_level_gets_the_fields(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """The fields come from the record factory: every logger's records have them, also
        those made directly with ``makeRecord``."""
        instrument()
        record = logging.getLogger("some.other").makeRecord(
            "some.other", logging.DEBUG, "f.py", 1, "m", (), None
        )
        assert fields(record) == ("0", "0", False, "svc")


class TestLogHook:
    def test_called_with_the_span_and_the_record_inside_a_span(
        self, instrument: Instrument, records: Records, tracer_provider: TracerProvider
    ) -> None:
        """``log_hook(span, record)`` runs for a record made in a span (after the fields are
        set), and not for one made outside; what it sets on the record stays."""
        seen: list[tuple[Any, str]] = []

        def hook(span: Any, record: logging.LogRecord) -> None:
            seen.append((span, record.otelSpanID))
            record.custom = "from the hook"

        instrument(log_hook=hook)
        log.info("outside")
        with tracer_provider.get_tracer("t").start_as_current_span("s") as span:
            log.info("inside")
        assert seen == [(span, f"{span.get_span_context().span_id:016x}")]
        assert records.records[1].custom == "from the hook"
        assert not hasattr(records.records[0], "custom")

    def test_called_for_an_unsampled_span(
        self, instrumentor: LoggingInstrumentor, records: Records
    ) -> None:
        """As upstream: any valid span context, sampled or not."""
        provider = TracerProvider(sampler=ALWAYS_OFF)
        calls: list[object] = []
        instrumentor.instrument(tracer_provider=provider, log_hook=lambda s, r: calls.append(s))
        with provider.get_tracer("t").start_as_current_span("s"):
            log.info("x")
        assert len(calls) == 1

    def test_a_failing_hook_is_logged_once_and_records_go_on(
        self,
        instrument: Instrument,
        records: Records,
        tracer_provider: TracerProvider,
        caplog: pytest.LogCaptureFixture,
        broken_step: Any,
    ) -> None:
        """A hook that raises: each record is still logged with its fields; the failure is
        logged at WARNING once, then DEBUG, and never loops (the report's own record passes
        through the hook too)."""

        def hook(span: Any, record: logging.LogRecord) -> None:
            raise RuntimeError("hook broke")

        instrument(log_hook=hook)
        with tracer_provider.get_tracer("t").start_as_current_span("s"):
            log.info("one")
            log.info("two")
        assert [r.getMessage() for r in records.records] == ["one", "two"]
        assert all(r.otelSpanID != "0" for r in records.records)
        reports = [r for r in caplog.records if r.name == "instrumentarium"]
        assert [r.levelno for r in reports] == [logging.WARNING, logging.DEBUG]
        assert all("log_hook" in r.getMessage() for r in reports)

    def test_a_hook_that_is_not_callable_is_ignored(
        self, instrument: Instrument, records: Records, tracer_provider: TracerProvider
    ) -> None:
        """Upstream checks ``callable``: anything else is no hook."""
        instrument(log_hook="not a function")
        with tracer_provider.get_tracer("t").start_as_current_span("s"):
            log.info("x")
        assert records.records[0].otelSpanID != "0"


class TestNeverRaises:
    def test_our_failure_is_logged_once_and_the_record_is_kept(
        self,
        instrument: Instrument,
        records: Records,
        tracer_provider: TracerProvider,
        broken_step: Any,
    ) -> None:
        """A failure while adding the fields reaches neither the caller nor logging's error
        handler: the record is emitted, the failure is logged once at WARNING then at DEBUG,
        without recursion (the report's own record passes through the factory too)."""
        instrument()
        guards = broken_step(_records.LoggingTelemetry, "inject")
        with tracer_provider.get_tracer("t").start_as_current_span("s"):
            log.info("one")
            log.info("two")
        assert [r.getMessage() for r in records.records] == ["one", "two"]
        assert guards.once_per_site(2), guards.sites()

    def test_the_previous_factorys_exception_is_not_ours(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """An exception of the factory we chain to propagates unchanged (it is not ours to
        hide), exactly as without instrumentation."""
        error = ValueError("theirs")

        def failing(*args: Any, **kwargs: Any) -> logging.LogRecord:
            raise error

        logging.setLogRecordFactory(failing)
        instrument()
        with pytest.raises(ValueError) as raised:
            logging.getLogger("x").makeRecord("x", logging.INFO, "f", 1, "m", (), None)
        assert raised.value is error


def test_uninstrumented_records_have_no_fields(
    instrumentor: LoggingInstrumentor, records: Records, tracer_provider: TracerProvider
) -> None:
    """After ``uninstrument()`` no field is added any more."""
    instrumentor.instrument(tracer_provider=tracer_provider)
    instrumentor.uninstrument()
    log.info("x")
    assert not any(hasattr(records.records[0], name) for name in FIELDS)
    assert _records.installed_factory() is None
