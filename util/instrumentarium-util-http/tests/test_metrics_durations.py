"""``instrumentarium.util.metrics``: the shared ``histogram`` and the old-ms / stable-s
``DurationHistograms`` pair."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from instrumentarium.util.metrics import DURATION_BUCKETS_S, DurationHistograms, histogram
from instrumentarium.util.semconv import DEFAULT, DUP, STABLE, SemconvMode

NAMES = {
    "new_name": "thing.call.duration",
    "new_description": "Stable.",
    "old_name": "thing.duration",
    "old_description": "Old.",
}


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter(reader: InMemoryMetricReader) -> Any:
    return MeterProvider(metric_readers=[reader]).get_meter("test")


def _points(reader: InMemoryMetricReader) -> dict[str, tuple[str, list[Any]]]:
    found: dict[str, tuple[str, list[Any]]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            if scope.scope.name == "test":
                for metric in scope.metrics:
                    found[metric.name] = (metric.unit, list(metric.data.data_points))
    return found


class TestHistogram:
    def test_one_instrument_per_meter_and_name(self, meter: Any) -> None:
        """Asking twice for the same histogram on one meter gives the same instrument."""
        first = histogram(meter, "h", unit="s", description="d", buckets=DURATION_BUCKETS_S)
        again = histogram(meter, "h", unit="s", description="d", buckets=DURATION_BUCKETS_S)
        assert first is again


class TestDurationHistograms:
    @pytest.mark.parametrize(
        ("mode", "old", "new"),
        [(DEFAULT, True, False), (STABLE, False, True), (DUP, True, True), (None, False, True)],
    )
    def test_instruments_per_mode(
        self, meter: Any, mode: SemconvMode | None, old: bool, new: bool
    ) -> None:
        """The old mode creates the ms histogram, the stable mode the s one, ``/dup`` both; no
        mode (database, messaging) the stable one only."""
        pair = DurationHistograms(meter, mode, **NAMES)
        assert (pair.ms is not None, pair.s is not None) == (old, new)

    def test_records_one_duration_in_both_units(
        self, meter: Any, reader: InMemoryMetricReader
    ) -> None:
        """One nanosecond duration goes to the old histogram in ms, to the stable one in s,
        each with its own attributes."""
        DurationHistograms(meter, DUP, **NAMES).record(2_500_000, {"old": 1}, {"new": 2})
        points = _points(reader)
        unit, (old,) = points["thing.duration"]
        assert (unit, old.sum, dict(old.attributes)) == ("ms", 2.5, {"old": 1})
        unit, (new,) = points["thing.call.duration"]
        assert (unit, new.sum, dict(new.attributes)) == ("s", 0.0025, {"new": 2})

    def test_whole_milliseconds(self, meter: Any, reader: InMemoryMetricReader) -> None:
        """``whole_ms`` rounds the old value to whole milliseconds (HTTP's histograms)."""
        DurationHistograms(meter, DEFAULT, whole_ms=True, **NAMES).record(2_600_000, {}, {})
        (point,) = _points(reader)["thing.duration"][1]
        assert point.sum == 3
