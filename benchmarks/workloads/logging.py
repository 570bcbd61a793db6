"""Logging: one ``logger.info`` with log correlation, inside a recording span and outside any.

* ``logging``: inside a recording span (the span is started once and stays current while the
  worker runs: one call is the log line, not the span);
* ``logging-outside-span``: the same line with no span current (zeros in the fields).

The logger writes through a ``StreamHandler`` with a ``%(message)s`` format to a stream that
drops the text: the record is made, handled and formatted, as in an application.

Upstream is instrumented with ``inject_trace_context=True`` (since 0.61b0 its fields are added
only on request; ours always are) and without its log-exporting handler, which
instrumentarium does not install. Neither emits a span or a metric (``emits_telemetry``):
there is no SDK floor to compare with, only upstream; each setup checks that a record carries
the fields before the timing starts.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from . import Call, Providers, Workload, upstream_requirement

LOGGER = "bench.logging"


class _Discard:
    """A text stream that drops what it is given."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:
        handler = logging.StreamHandler(_Discard())
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def _open_span(providers: Providers) -> str:
    """Start a span and make it current for good (the worker's thread); its id in hex."""
    from opentelemetry import context, trace

    span = providers.tracer_provider.get_tracer("bench.logging").start_span("request")
    context.attach(trace.set_span_in_context(span))
    return f"{span.get_span_context().span_id:016x}"


def _check(logger: logging.Logger, span_id: str) -> None:
    """One record made now carries ``otelSpanID`` = ``span_id``, or the setup fails."""
    record = logger.makeRecord(LOGGER, logging.INFO, __file__, 1, "check", (), None)
    found = getattr(record, "otelSpanID", None)
    if found != span_id:
        raise RuntimeError(f"a record carries otelSpanID={found!r}, expected {span_id!r}")


def _instrumentarium(providers: Providers) -> None:
    from instrumentarium.logging import LoggingInstrumentor

    LoggingInstrumentor().instrument(tracer_provider=providers.tracer_provider)


def _upstream(providers: Providers) -> None:
    from opentelemetry.instrumentation.logging import LoggingInstrumentor

    LoggingInstrumentor().instrument(
        tracer_provider=providers.tracer_provider,
        inject_trace_context=True,
        enable_log_auto_instrumentation=False,
    )


def _setup(instrument: Callable[[Providers], None] | None, in_span: bool) -> Callable[..., Call]:
    def setup(providers: Providers) -> Call:
        logger = _logger()
        span_id = _open_span(providers) if in_span else "0"
        if instrument is not None:
            instrument(providers)
            _check(logger, span_id)
        info = logger.info

        def call() -> None:
            info("GET /rolldice %s", 200)

        return call

    return setup


def _carrier() -> dict[str, Any]:
    return {}


_UPSTREAM = (upstream_requirement("opentelemetry-instrumentation-logging"),)

WORKLOADS = (
    Workload(
        name="logging",
        description="logger.info inside a recording span (StreamHandler, %(message)s, fields on)",
        bare=_setup(None, in_span=True),
        instrumentarium=_setup(_instrumentarium, in_span=True),
        upstream=_setup(_upstream, in_span=True),
        carrier=_carrier,
        expect=None,
        packages=(),
        upstream_packages=_UPSTREAM,
        emits_telemetry=False,
    ),
    Workload(
        name="logging-outside-span",
        description="logger.info with no span current (the fields are zeros)",
        bare=_setup(None, in_span=False),
        instrumentarium=_setup(_instrumentarium, in_span=False),
        upstream=_setup(_upstream, in_span=False),
        carrier=_carrier,
        expect=None,
        packages=(),
        upstream_packages=_UPSTREAM,
        emits_telemetry=False,
    ),
)
