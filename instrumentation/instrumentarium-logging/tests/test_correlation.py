"""``set_logging_format`` / ``OTEL_PYTHON_LOG_CORRELATION``: the format and the level, whether
the application configured logging before or after ``instrument()``."""

from __future__ import annotations

import io
import logging
import logging.config
from pathlib import Path
from typing import Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.logging import LoggingInstrumentor
from instrumentarium.logging._config import DEFAULT_LOGGING_FORMAT
from instrumentarium.logging._correlation import CorrelationFormatter

Instrument = Callable[..., LoggingInstrumentor]
log = logging.getLogger("app")
FORMAT = "%(message)s [span_id=%(otelSpanID)s service=%(otelServiceName)s]"


def only_root(root: logging.Logger) -> None:
    """No handler on the root logger, not even pytest's capture handlers (they are put back
    by the ``root`` fixture)."""
    root.handlers.clear()


def stream_handler(root: logging.Logger, formatter: logging.Formatter | None = None) -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    if formatter is not None:
        handler.setFormatter(formatter)
    root.addHandler(handler)
    return stream


def log_in_span(tracer_provider: TracerProvider, message: str, level: int = logging.WARNING) -> str:
    with tracer_provider.get_tracer("t").start_as_current_span("s") as span:
        log.log(level, message)
    return f"{span.get_span_context().span_id:016x}"


class TestConfiguredBefore:
    def test_existing_handler_gets_the_format(
        self, instrument: Instrument, root: logging.Logger, tracer_provider: TracerProvider
    ) -> None:
        """The application called ``basicConfig`` first (upstream's own ``basicConfig`` then
        does nothing and the ids never show): its handler prints the correlation format."""
        only_root(root)
        stream = stream_handler(root, logging.Formatter("%(levelname)s:%(message)s"))
        instrument(set_logging_format=True, logging_format=FORMAT)
        span_id = log_in_span(tracer_provider, "hello")
        assert stream.getvalue() == f"hello [span_id={span_id} service=svc]\n"

    def test_no_handler_gets_a_stream_handler_as_basic_config(
        self,
        instrument: Instrument,
        root: logging.Logger,
        tracer_provider: TracerProvider,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Nothing configured: a ``StreamHandler`` on stderr with the format, as upstream's
        ``basicConfig`` adds; the default format is upstream's."""
        only_root(root)
        instrument(set_logging_format=True)
        span_id = log_in_span(tracer_provider, "hello")
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, CorrelationFormatter)
        assert root.handlers[0].formatter._fmt == DEFAULT_LOGGING_FORMAT
        err = capsys.readouterr().err
        assert f"span_id={span_id} resource.service.name=svc trace_sampled=True] - hello" in err

    def test_a_formatter_class_of_its_own_is_kept(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """A handler whose formatter is a class of its own (JSON, colours) keeps it: it decides
        its own output, and the fields are on every record for it to use."""

        class Json(logging.Formatter):
            pass

        only_root(root)
        custom = Json()
        stream_handler(root, custom)
        instrument(set_logging_format=True)
        assert root.handlers[0].formatter is custom
        assert len(root.handlers) == 1  # no second handler either

    def test_opentelemetry_handler_is_left_alone(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """The SDK's exporting handler keeps no formatter (it would become the exported body);
        being the root's only handler, a stream handler is added beside it."""
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler

        only_root(root)
        exporting = LoggingHandler(logger_provider=LoggerProvider())
        root.addHandler(exporting)
        instrument(set_logging_format=True)
        assert exporting.formatter is None
        assert len(root.handlers) == 2
        assert isinstance(root.handlers[1], logging.StreamHandler)

    def test_level_is_set_on_the_root_logger(
        self, instrument: Instrument, root: logging.Logger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``OTEL_PYTHON_LOG_LEVEL=debug`` sets the root logger to DEBUG: debug lines print."""
        only_root(root)
        monkeypatch.setenv("OTEL_PYTHON_LOG_CORRELATION", "true")
        monkeypatch.setenv("OTEL_PYTHON_LOG_LEVEL", "debug")
        monkeypatch.setenv("OTEL_PYTHON_LOG_FORMAT", "%(levelname)s %(message)s")
        stream = stream_handler(root)
        instrument()
        assert root.level == logging.DEBUG
        log.debug("fine detail")
        assert stream.getvalue() == "DEBUG fine detail\n"

    def test_default_level_is_info(self, instrument: Instrument, root: logging.Logger) -> None:
        only_root(root)
        instrument(set_logging_format=True, log_level=0)
        assert root.level == logging.INFO

    def test_level_keyword_as_a_name(self, instrument: Instrument, root: logging.Logger) -> None:
        only_root(root)
        instrument(set_logging_format=True, log_level="error")
        assert root.level == logging.ERROR

    def test_without_correlation_nothing_is_configured(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """Not asked: handlers, formatters and level stay as they are."""
        only_root(root)
        instrument()
        assert root.handlers == []
        assert root.level == logging.WARNING


class TestConfiguredAfter:
    def test_basic_config_after_start_up(
        self, instrument: Instrument, root: logging.Logger, tracer_provider: TracerProvider
    ) -> None:
        """The application calls ``basicConfig(level=INFO)`` after start-up (the dice app):
        it does nothing (our handler is there), the format and the level stay."""
        only_root(root)
        instrument(set_logging_format=True, logging_format=FORMAT, log_level=logging.DEBUG)
        handler = root.handlers[0]
        logging.basicConfig(level=logging.INFO)
        assert root.handlers == [handler]
        assert root.level == logging.DEBUG

    def test_basic_config_force_after_start_up(
        self, instrument: Instrument, root: logging.Logger, tracer_provider: TracerProvider
    ) -> None:
        """``basicConfig(force=True, stream=...)`` replaces the handlers: its new handler gets
        the format, and the level is ours again."""
        only_root(root)
        instrument(set_logging_format=True, logging_format=FORMAT)
        stream = io.StringIO()
        logging.basicConfig(force=True, stream=stream, level=logging.ERROR)
        assert root.level == logging.INFO
        span_id = log_in_span(tracer_provider, "after force", logging.INFO)
        assert stream.getvalue() == f"after force [span_id={span_id} service=svc]\n"

    def test_dict_config_after_start_up(
        self, instrument: Instrument, root: logging.Logger, tracer_provider: TracerProvider
    ) -> None:
        """``dictConfig`` (Django, uvicorn) replaces the root handlers after start-up: its
        plain-formatted handler prints the correlation format."""
        only_root(root)
        instrument(set_logging_format=True, logging_format=FORMAT)
        stream = io.StringIO()
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"plain": {"format": "%(levelname)s %(message)s"}},
                "handlers": {
                    "out": {
                        "class": "logging.StreamHandler",
                        "formatter": "plain",
                        "stream": stream,
                    }
                },
                "root": {"handlers": ["out"], "level": "WARNING"},
            }
        )
        span_id = log_in_span(tracer_provider, "configured by dict")
        assert stream.getvalue() == f"configured by dict [span_id={span_id} service=svc]\n"

    def test_file_config_after_start_up(
        self,
        instrument: Instrument,
        root: logging.Logger,
        tracer_provider: TracerProvider,
        tmp_path: Path,
    ) -> None:
        """``fileConfig`` likewise."""
        only_root(root)
        instrument(set_logging_format=True, logging_format=FORMAT)
        output = tmp_path / "app.log"
        ini = tmp_path / "logging.ini"
        ini.write_text(
            "[loggers]\nkeys=root\n[handlers]\nkeys=file\n[formatters]\nkeys=plain\n"
            "[logger_root]\nlevel=WARNING\nhandlers=file\n"
            f"[handler_file]\nclass=FileHandler\nformatter=plain\nargs=({str(output)!r},)\n"
            "[formatter_plain]\nformat=%(message)s\n"
        )
        logging.config.fileConfig(ini, disable_existing_loggers=False)
        span_id = log_in_span(tracer_provider, "configured by file")
        for handler in root.handlers:
            handler.flush()
        assert output.read_text() == f"configured by file [span_id={span_id} service=svc]\n"


class TestGuideFormat:
    def test_the_guides_example_prints_the_span_id(
        self,
        instrument: Instrument,
        root: logging.Logger,
        tracer_provider: TracerProvider,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The guide's ``%(msg)s [span_id=%(span_id)s]``: upstream fails on every record
        (``span_id`` is not a record attribute); here ``%(span_id)s`` reads ``otelSpanID``."""
        monkeypatch.setenv("OTEL_PYTHON_LOG_CORRELATION", "true")
        monkeypatch.setenv("OTEL_PYTHON_LOG_FORMAT", "%(msg)s [span_id=%(span_id)s]")
        only_root(root)
        stream = stream_handler(root)
        instrument()
        span_id = log_in_span(tracer_provider, "rolled")
        log.warning("outside")
        assert stream.getvalue() == f"rolled [span_id={span_id}]\noutside [span_id=0]\n"

    def test_every_alias(self, instrument: Instrument, root: logging.Logger) -> None:
        """``trace_id``, ``span_id``, ``trace_sampled``, ``service_name``: the otel* fields."""
        only_root(root)
        stream = stream_handler(root)
        instrument(
            set_logging_format=True,
            logging_format="%(trace_id)s %(span_id)s %(trace_sampled)s %(service_name)s",
        )
        log.warning("x")
        assert stream.getvalue() == "0 0 False svc\n"

    def test_invalid_format_falls_back_to_the_default(
        self,
        instrument: Instrument,
        root: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A format with no ``%(...)`` field: one warning naming the variable, upstream's
        default format instead (upstream's ``basicConfig`` raises ValueError at start-up)."""
        monkeypatch.setenv("OTEL_PYTHON_LOG_CORRELATION", "true")
        monkeypatch.setenv("OTEL_PYTHON_LOG_FORMAT", "no fields here")
        stream_handler(root)
        instrument()
        assert "OTEL_PYTHON_LOG_FORMAT" in caplog.text
        formatter = root.handlers[-1].formatter
        assert isinstance(formatter, CorrelationFormatter)
        assert formatter._fmt == DEFAULT_LOGGING_FORMAT

    def test_unknown_field_is_reported_and_kept(
        self, instrument: Instrument, root: logging.Logger, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A field that is no record attribute may come from ``extra=``: kept, and named in
        one warning (records without it fail to format, as in plain logging)."""
        stream = stream_handler(root)
        instrument(set_logging_format=True, logging_format="%(user)s %(message)s")
        assert "%(user)s" in caplog.text
        assert "logging_format" in caplog.text
        log.warning("x", extra={"user": "ann"})
        assert stream.getvalue().endswith("\nann x\n")

    def test_record_made_without_our_factory_formats(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """A record made by ``makeLogRecord`` (a socket listener, a queue) has no fields: it
        prints as outside a span instead of failing."""
        only_root(root)
        stream = stream_handler(root)
        instrument(set_logging_format=True, logging_format=FORMAT)
        root.handle(logging.makeLogRecord({"msg": "from afar", "levelno": logging.WARNING}))
        assert stream.getvalue() == "from afar [span_id=0 service=svc]\n"


class TestRestore:
    def test_uninstrument_gives_back_formatter_level_and_handler(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """``uninstrument()`` puts back each handler's formatter and the level, and removes
        the handler it added (upstream leaves its ``basicConfig`` in place)."""
        only_root(root)
        plain = logging.Formatter("%(message)s")
        stream_handler(root, plain)
        root.setLevel(logging.ERROR)
        instrumentor = instrument(set_logging_format=True)
        assert root.handlers[0].formatter is not plain
        instrumentor.uninstrument()
        assert root.handlers[0].formatter is plain
        assert root.level == logging.ERROR

        only_root(root)
        instrumentor = instrument(set_logging_format=True)
        assert len(root.handlers) == 1
        instrumentor.uninstrument()
        assert root.handlers == []

    def test_after_uninstrument_config_calls_are_plain(
        self, instrument: Instrument, root: logging.Logger
    ) -> None:
        """Once uninstrumented, ``basicConfig`` no longer applies the format."""
        only_root(root)
        instrument(set_logging_format=True).uninstrument()
        logging.basicConfig(format="%(message)s")
        formatter = root.handlers[0].formatter
        assert formatter is not None
        assert type(formatter) is logging.Formatter
