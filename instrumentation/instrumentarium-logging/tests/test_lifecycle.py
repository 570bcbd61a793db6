"""instrument() / uninstrument(): the record factory chain, restored exactly; the options."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.logging import LoggingInstrumentor
from instrumentarium.logging._config import DEFAULT_LOGGING_FORMAT, LoggingConfig
from instrumentarium.logging._correlation import ACTIVE
from instrumentarium.logging._records import installed_factory

from .conftest import Records

Instrument = Callable[..., LoggingInstrumentor]
log = logging.getLogger("test")


def tagging_factory(previous: Callable[..., logging.LogRecord], tag: str) -> Any:
    """Another library's factory, the documented way: wraps the one it found."""

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.__dict__.setdefault("tags", []).append(tag)
        return record

    return factory


class TestLifecycle:
    def test_uninstrument_restores_the_factory_exactly(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """The factory in place before ``instrument()`` is the very object in place after
        ``uninstrument()``; twice in a row, and instrumenting twice adds one layer only."""
        before = logging.getLogRecordFactory()
        for _ in range(2):
            instrumentor = instrument()
            instrument()  # a second call changes nothing
            assert logging.getLogRecordFactory() is installed_factory()
            assert ACTIVE.active
            instrumentor.uninstrument()
            instrumentor.uninstrument()
            assert logging.getLogRecordFactory() is before
            assert not ACTIVE.active

    def test_uninstrument_removes_every_wrapper(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """``basicConfig``, ``dictConfig`` and ``fileConfig`` are the originals again."""
        import logging.config

        originals = (logging.basicConfig, logging.config.dictConfig, logging.config.fileConfig)
        instrument().uninstrument()
        after = (logging.basicConfig, logging.config.dictConfig, logging.config.fileConfig)
        assert all(now is original for now, original in zip(after, originals))


class TestChaining:
    def test_a_factory_installed_before_is_called_and_kept(
        self, instrument: Instrument, records: Records, root: logging.Logger
    ) -> None:
        """Another library's factory set before ``instrument()`` still runs under ours, and is
        the factory again after ``uninstrument()``."""
        theirs = tagging_factory(logging.getLogRecordFactory(), "theirs")
        logging.setLogRecordFactory(theirs)
        instrumentor = instrument()
        log.info("x")
        assert records.records[0].tags == ["theirs"]
        assert records.records[0].otelServiceName == "svc"
        instrumentor.uninstrument()
        assert logging.getLogRecordFactory() is theirs

    def test_a_factory_installed_after_keeps_working_after_uninstrument(
        self, instrument: Instrument, records: Records, root: logging.Logger
    ) -> None:
        """A factory set after ours wraps ours: ``uninstrument()`` cannot remove ours from
        that chain without clobbering it, so ours stops adding fields and theirs stays."""
        instrumentor = instrument()
        theirs = tagging_factory(logging.getLogRecordFactory(), "theirs")
        logging.setLogRecordFactory(theirs)
        log.info("both")
        instrumentor.uninstrument()
        assert logging.getLogRecordFactory() is theirs
        log.info("theirs only")
        first, second = records.records
        assert (first.tags, first.otelTraceID) == (["theirs"], "0")
        assert second.tags == ["theirs"]
        assert not hasattr(second, "otelTraceID")

    def test_instrument_again_on_top_of_a_later_factory(
        self,
        instrument: Instrument,
        records: Records,
        tracer_provider: TracerProvider,
        root: logging.Logger,
    ) -> None:
        """Instrumented again after that: one layer adds the fields (the stranded one stays a
        pass-through), theirs still runs, and ``uninstrument()`` restores theirs."""
        instrumentor = instrument()
        theirs = tagging_factory(logging.getLogRecordFactory(), "theirs")
        logging.setLogRecordFactory(theirs)
        instrumentor.uninstrument()
        hooked: list[object] = []
        instrument(log_hook=lambda span, record: hooked.append(record))
        with tracer_provider.get_tracer("t").start_as_current_span("s"):
            log.info("x")
        assert records.records[0].tags == ["theirs"]
        assert records.records[0].otelSpanID != "0"
        assert hooked == [records.records[0]]  # one layer ran the hook
        instrumentor.uninstrument()
        assert logging.getLogRecordFactory() is theirs

    def test_their_factory_put_back_under_us_is_reused(
        self, instrument: Instrument, records: Records, root: logging.Logger
    ) -> None:
        """When the library that wrapped ours puts ours back, ``instrument()`` reuses our
        layer instead of stacking a second one."""
        instrumentor = instrument()
        ours = logging.getLogRecordFactory()
        logging.setLogRecordFactory(tagging_factory(ours, "theirs"))
        instrumentor.uninstrument()
        logging.setLogRecordFactory(ours)  # they uninstall themselves
        instrument()
        assert logging.getLogRecordFactory() is ours
        log.info("x")
        assert records.records[0].otelTraceID == "0"


class TestOptions:
    def test_defaults(self) -> None:
        """Nothing given: no format applied, upstream's default format, level INFO later."""
        config = LoggingConfig.resolve({})
        assert config.set_logging_format is False
        assert config.logging_format is None
        assert config.log_level is None
        assert config.log_hook is None
        assert "%(otelTraceID)s" in DEFAULT_LOGGING_FORMAT

    @pytest.mark.parametrize(
        ("value", "expected"), [("true", True), ("True", True), (" TRUE ", True), ("false", False)]
    )
    def test_correlation_variable(
        self, monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
    ) -> None:
        """``OTEL_PYTHON_LOG_CORRELATION``: true or false, any case."""
        monkeypatch.setenv("OTEL_PYTHON_LOG_CORRELATION", value)
        assert LoggingConfig.resolve({}).set_logging_format is expected

    def test_keyword_wins_over_the_variable_even_false(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """As upstream: ``set_logging_format=False`` given means False, whatever the variable."""
        monkeypatch.setenv("OTEL_PYTHON_LOG_CORRELATION", "true")
        assert LoggingConfig.resolve({"set_logging_format": False}).set_logging_format is False

    def test_invalid_correlation_value_is_reported_and_false(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Upstream silently reads anything but ``true`` as false; here the value is named."""
        monkeypatch.setenv("OTEL_PYTHON_LOG_CORRELATION", "yes please")
        assert LoggingConfig.resolve({}).set_logging_format is False
        assert "OTEL_PYTHON_LOG_CORRELATION" in caplog.text

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("debug", logging.DEBUG),
            ("info", logging.INFO),
            ("warning", logging.WARNING),
            ("error", logging.ERROR),
            ("DEBUG", logging.DEBUG),
            ("warn", logging.WARNING),
            ("critical", logging.CRITICAL),
        ],
    )
    def test_level_variable(
        self, monkeypatch: pytest.MonkeyPatch, value: str, expected: int
    ) -> None:
        """``OTEL_PYTHON_LOG_LEVEL``: the guide's four names, and any standard level name in
        any case (upstream turns ``DEBUG`` or ``warn`` silently into INFO)."""
        monkeypatch.setenv("OTEL_PYTHON_LOG_LEVEL", value)
        assert LoggingConfig.resolve({}).log_level == expected

    def test_invalid_level_is_reported_and_default(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An unknown level name is named in one warning; the level stays unset (INFO)."""
        monkeypatch.setenv("OTEL_PYTHON_LOG_LEVEL", "loud")
        assert LoggingConfig.resolve({}).log_level is None
        assert "OTEL_PYTHON_LOG_LEVEL" in caplog.text

    def test_format_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_PYTHON_LOG_FORMAT", "%(message)s")
        assert LoggingConfig.resolve({}).logging_format == "%(message)s"

    def test_unknown_keywords_are_ignored(self, tracer_provider: TracerProvider) -> None:
        """Upstream's handler options (``enable_log_auto_instrumentation``, ...) are accepted
        and ignored, as ``BaseInstrumentor`` passes every keyword through."""
        config = LoggingConfig.resolve(
            {"tracer_provider": tracer_provider, "enable_log_auto_instrumentation": True}
        )
        assert config.tracer_provider is tracer_provider
