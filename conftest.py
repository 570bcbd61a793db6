"""Fixtures shared by every test in the monorepo: a real SDK with in-memory exporters.

Every test runs without the developer's ``OTEL_*`` variables and with ``warn_once`` reset.

Each test gets a fresh ``TracerProvider`` (simple processor, in-memory exporter) and
``MeterProvider`` (in-memory reader); pass them to the instrumentor under test explicitly, as
``tracer_provider=`` / ``meter_provider=``. ``metric_points`` reads what was recorded.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, settings
from opentelemetry import trace
from opentelemetry.sdk.metrics import Meter, MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentarium.util import safety

# Property tests run on shared, noisy machines: no per-example deadline, no "too slow" failure.
settings.register_profile(
    "instrumentarium", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("instrumentarium")


pytest_plugins = ["tests.support.http_server", "tests.support.tls"]


@pytest.fixture(autouse=True)
def spans_end_once_and_context_is_restored(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """After every test: the SDK never saw a span ended twice, and no span is left current."""
    yield
    misuse = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.name.startswith("opentelemetry.sdk.trace") and "ended span" in record.getMessage()
    ]
    assert misuse == [], "a span was ended twice or written after its end"
    assert not trace.get_current_span().get_span_context().is_valid, "a span leaked as current"


@pytest.fixture(autouse=True)
def clean_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without OTEL_* variables, whatever the developer's shell exports."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    """``warn_once`` forgets what it has reported, so each test sees its first warning."""
    safety._warned.clear()
    yield
    safety._warned.clear()


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(metric_reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[metric_reader])
    yield provider
    provider.shutdown()


def collect_metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Every data point recorded so far, by instrument name (all scopes together)."""
    points: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    if data is None:
        return points
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


@pytest.fixture
def instrument(
    instrumentor: Any, tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Any:
    """``instrument(**kwargs)``: the package's ``instrumentor`` fixture instrumented with the
    test's providers (a kwarg overrides them); returns the instrumentor."""

    def run(**kwargs: Any) -> Any:
        kwargs.setdefault("tracer_provider", tracer_provider)
        kwargs.setdefault("meter_provider", meter_provider)
        instrumentor.instrument(**kwargs)
        return instrumentor

    return run


@pytest.fixture
def metric_points(metric_reader: InMemoryMetricReader) -> Any:
    """Call it to get ``{instrument name: [data points]}`` recorded so far."""
    return lambda: collect_metric_points(metric_reader)


class GuardLog:
    """What the guards logged about a step that ``broken_step`` broke."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def sites(self) -> dict[str, list[int]]:
        """``{message: [level, ...]}``: one message per guard that caught the failure."""
        sites: dict[str, list[int]] = {}
        for record in self._caplog.records:
            if (
                record.name == "instrumentarium"
                and record.exc_info is not None
                and str(record.exc_info[1]) == "broken step"
            ):
                sites.setdefault(record.getMessage(), []).append(record.levelno)
        return sites

    def once_per_site(self, failures: int) -> bool:
        """Each guard that caught the failure did so ``failures`` times, and logged it at
        WARNING the first time only."""
        sites = self.sites()
        return bool(sites) and all(
            levels == [logging.WARNING] + [logging.DEBUG] * (failures - 1)
            for levels in sites.values()
        )


@pytest.fixture
def broken_step(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Callable[[object, str], GuardLog]:
    """``broken_step(owner, "method")`` makes that step of our telemetry raise
    ``RuntimeError("broken step")``; the ``GuardLog`` it returns tells what the guards logged.
    Every guard starts the test as if it had never failed (a guard warns once per process)."""
    caplog.set_level(logging.DEBUG, logger="instrumentarium")
    for name, module in list(sys.modules.items()):
        if name.startswith("instrumentarium."):
            for value in list(vars(module).values()):
                if isinstance(value, safety.Guard):
                    monkeypatch.setattr(value, "failed", False)

    def breaks(owner: object, method: str) -> GuardLog:
        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("broken step")

        monkeypatch.setattr(owner, method, broken)
        return GuardLog(caplog)

    return breaks


@pytest.fixture(scope="session")
def sdk_takes_advisory_buckets() -> bool:
    """Whether this SDK honours ``explicit_bucket_boundaries_advisory`` (1.30 and newer); on
    older ones instrumentarium's histograms fall back to the SDK's default boundaries."""
    parameters = inspect.signature(Meter.create_histogram).parameters
    return "explicit_bucket_boundaries_advisory" in parameters


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


# -- a failure report that survives a long log -------------------------------------------------

_REPORT_FILE = os.environ.get("INSTRUMENTARIUM_TEST_REPORT")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With ``INSTRUMENTARIUM_TEST_REPORT=FILE`` (set by tox.ini), every failed or rerun test
    phase is appended to FILE: ``scripts/tox`` prints them all after the matrix, where a log cut
    to its last lines still shows which test failed, or passed only when run again, and why."""
    if not _REPORT_FILE or not (report.failed or report.outcome == "rerun"):
        return
    outcome = "RERUN" if report.outcome == "rerun" else "FAILED"
    text = report.longreprtext.strip()
    if len(text) > 4000:
        text = "...\n" + text[-4000:]
    # Captured stdout, stderr and log of the test (a rerun's report repeats the earlier ones).
    for title, content in dict.fromkeys(report.sections):
        if content.strip():
            text += f"\n----- {title} -----\n" + content.strip()[-2000:]
    with open(_REPORT_FILE, "a", encoding="utf-8") as out:
        out.write(f"{outcome} {report.nodeid} ({report.when})\n")
        out.write("".join(f"    {line}\n" for line in text.splitlines()))
