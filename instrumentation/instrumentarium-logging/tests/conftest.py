"""Fixtures for the instrumentarium-logging tests.

``LoggingInstrumentor`` changes process-wide state: the ``LogRecord`` factory, the root logger's
handlers, formatters and level, and ``logging.basicConfig`` & co. Every test goes through
``instrumentor`` (uninstrumented at the end) and ``root``, which gives it a root logger of its
own for the test's duration (pytest's capture handlers aside) and puts everything back after.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.logging import LoggingInstrumentor


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, without handlers and at WARNING, restored as it was afterwards (the
    record factory too)."""
    logger = logging.getLogger()
    handlers, level, factory = logger.handlers[:], logger.level, logging.getLogRecordFactory()
    logger.handlers.clear()
    logger.setLevel(logging.WARNING)
    yield logger
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logging.setLogRecordFactory(factory)


@pytest.fixture
def instrumentor(root: logging.Logger) -> Iterator[LoggingInstrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = LoggingInstrumentor()
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


@pytest.fixture
def tracer_provider(span_exporter: Any) -> Iterator[TracerProvider]:
    """A provider whose resource names the service ``svc``."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def instrument(
    instrumentor: LoggingInstrumentor, tracer_provider: TracerProvider
) -> Callable[..., LoggingInstrumentor]:
    """``instrument(**kwargs)`` with the test's tracer provider."""

    def run(**kwargs: Any) -> LoggingInstrumentor:
        kwargs.setdefault("tracer_provider", tracer_provider)
        instrumentor.instrument(**kwargs)
        return instrumentor

    return run


class Records(logging.Handler):
    """Keeps every record it handles, and what its formatter made of it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def records() -> Iterator[Records]:
    """A handler on the logger ``test`` (propagation off, level DEBUG)."""
    handler = Records()
    logger = logging.getLogger("test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield handler
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()
