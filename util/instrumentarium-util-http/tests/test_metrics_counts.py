"""``instrumentarium.util.metrics``: counts kept in a dict and observed, the synchronous fallback
for SDK 1.28.0, the sharing registry, and an OTLP encode of what they export on this SDK."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.version import __version__ as sdk_version

from instrumentarium.util import metrics
from instrumentarium.util.http import ActiveRequests, active_requests, names
from instrumentarium.util.metrics import ObservedCounts, observables_export_correctly, shared_counts

GET = {"http.request.method": "GET"}
POST = {"http.request.method": "POST"}
FLAVOURS = pytest.mark.parametrize("observable", [True, False], ids=["observed", "synchronous"])


def _counts(provider: MeterProvider, monotonic: bool, observable: bool | None) -> ObservedCounts:
    return ObservedCounts(
        provider.get_meter("test"),
        "test.counts",
        unit="{thing}",
        description="Things.",
        monotonic=monotonic,
        observable=observable,
    )


def _only_metric(reader: InMemoryMetricReader) -> Any:
    """The one metric the test recorded (newer SDKs add their own, scope ``opentelemetry-sdk``,
    from the second collection on)."""
    data = reader.get_metrics_data()
    assert data is not None
    (metric,) = [
        m
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        if sm.scope.name != "opentelemetry-sdk"
        for m in sm.metrics
    ]
    return metric


def _values(metric: Any) -> dict[Any, Any]:
    return {tuple(sorted(p.attributes.items())): p.value for p in metric.data.data_points}


def _encode(data: MetricsData | None) -> Any:
    """The OTLP protobuf request the OTLP exporters send, serialised and parsed back."""
    assert data is not None
    request = encode_metrics(data)
    return type(request).FromString(request.SerializeToString())


class TestDetection:
    def test_only_sdk_1_28_0_is_detected_as_broken(self) -> None:
        """The API's version stands for the SDK's: observables are used on every SDK but
        1.28.0."""
        assert observables_export_correctly() is (sdk_version != "1.28.0")

    def test_forced_observables_fail_to_encode_exactly_where_detected(
        self, meter_provider: MeterProvider, metric_reader: InMemoryMetricReader
    ) -> None:
        """An asynchronous counter's export breaks the OTLP encoder on the SDKs the detection
        names and encodes everywhere else (the reason for the fallback, checked on this SDK)."""
        _counts(meter_provider, monotonic=True, observable=True).add(1, GET)
        data = metric_reader.get_metrics_data()
        if observables_export_correctly():
            assert _encode(data).resource_metrics
        else:
            with pytest.raises(Exception, match="to_bytes"):
                _encode(data)


class TestObservedCounts:
    @FLAVOURS
    def test_monotonic_sums_per_attribute_set(
        self, meter_provider: MeterProvider, metric_reader: InMemoryMetricReader, observable: bool
    ) -> None:
        """A monotonic ``ObservedCounts`` exports a cumulative monotonic sum per attribute set,
        with its name, unit and description, in either flavour."""
        counts = _counts(meter_provider, monotonic=True, observable=observable)
        assert counts.observed is observable
        counts.add(2, GET)
        counts.add(1, POST)
        counts.add(3, dict(GET))
        metric = _only_metric(metric_reader)
        assert (metric.name, metric.unit, metric.description) == (
            "test.counts",
            "{thing}",
            "Things.",
        )
        assert metric.data.is_monotonic is True
        assert _values(metric) == {
            (("http.request.method", "GET"),): 5,
            (("http.request.method", "POST"),): 1,
        }
        assert counts.value(GET) == 5

    @FLAVOURS
    def test_up_down_returns_to_zero_and_keeps_reporting_it(
        self, meter_provider: MeterProvider, metric_reader: InMemoryMetricReader, observable: bool
    ) -> None:
        """An up-down ``ObservedCounts`` counts up by ``add`` and down by ``add_to_key``; an
        idle set keeps reporting zero, as an ``UpDownCounter``'s does."""
        counts = _counts(meter_provider, monotonic=False, observable=observable)
        key = tuple(GET.items())
        counts.add(1, GET, key)
        counts.add(1, GET, key)
        assert _values(_only_metric(metric_reader)) == {key: 2}
        counts.add_to_key(key, -1)
        counts.add_to_key(key, -1)
        metric = _only_metric(metric_reader)
        assert metric.data.is_monotonic is False
        assert _values(metric) == {key: 0}
        assert _values(_only_metric(metric_reader)) == {key: 0}
        assert counts.value(GET, key) == 0

    @FLAVOURS
    def test_add_to_an_unknown_key_changes_nothing(
        self, meter_provider: MeterProvider, metric_reader: InMemoryMetricReader, observable: bool
    ) -> None:
        """``add_to_key`` with a key ``add`` never saw is ignored (no set without attributes)."""
        counts = _counts(meter_provider, monotonic=False, observable=observable)
        counts.add(1, GET, "get")
        counts.add_to_key("post", -1)
        assert _values(_only_metric(metric_reader)) == {(("http.request.method", "GET"),): 1}

    def test_both_flavours_export_the_same_data(self) -> None:
        """The synchronous fallback exports the same points (name, unit, description, kind,
        attributes, values) as the observed counts, for the same calls."""
        exported = []
        for observable in (True, False):
            reader = InMemoryMetricReader()
            provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
            try:
                for monotonic in (True, False):
                    counts = ObservedCounts(
                        provider.get_meter("test"),
                        f"test.{monotonic}",
                        unit="1",
                        description="d",
                        monotonic=monotonic,
                        observable=observable,
                    )
                    counts.add(3, GET, "get")
                    counts.add(1, POST, "post")
                    if not monotonic:
                        counts.add_to_key("post", -1)
                data = reader.get_metrics_data()
                assert data is not None
                exported.append(
                    sorted(
                        (
                            m.name,
                            m.unit,
                            m.description,
                            m.data.is_monotonic,
                            m.data.aggregation_temporality,
                            sorted(_values(m).items()),
                        )
                        for rm in data.resource_metrics
                        for sm in rm.scope_metrics
                        for m in sm.metrics
                    )
                )
            finally:
                provider.shutdown()
        assert exported[0] == exported[1]
        assert len(exported[0]) == 2

    def test_attributes_are_copied_when_first_counted(
        self, meter_provider: MeterProvider, metric_reader: InMemoryMetricReader
    ) -> None:
        """A caller changing its attribute dict afterwards does not change what is reported."""
        counts = _counts(meter_provider, monotonic=True, observable=True)
        attributes = dict(GET)
        counts.add(1, attributes, "k")
        attributes["http.request.method"] = "PUT"
        assert _values(_only_metric(metric_reader)) == {(("http.request.method", "GET"),): 1}

    def test_sets_at_zero_are_bounded_when_nothing_collects(self) -> None:
        """With no ``MeterProvider`` nothing ever collects: sets back at zero are dropped once
        there are more than ``_SETS_KEPT`` of them, so a stream of new sets keeps the counts
        bounded; sets still in use are kept whatever their number."""
        from opentelemetry.metrics import NoOpMeterProvider

        counts = ObservedCounts(
            NoOpMeterProvider().get_meter("test"),
            "test.counts",
            unit="1",
            description="d",
            monotonic=False,
            observable=True,
        )
        in_use = [f"busy-{i}" for i in range(3)]
        for key in in_use:
            counts.add(1, {"k": key}, key)
        for i in range(20 * metrics._SETS_KEPT):
            counts.add(1, {"k": i}, i)
            counts.add_to_key(i, -1)
        assert len(counts._counts) <= metrics._SETS_KEPT + 1
        assert [counts.value({"k": key}, key) for key in in_use] == [1, 1, 1]


class TestFallback:
    @pytest.fixture
    def broken_sdk(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Behave as on SDK 1.28.0, whatever SDK runs the tests."""
        monkeypatch.setattr(metrics, "observables_export_correctly", lambda: False)
        monkeypatch.setattr(metrics, "_fallback_noted", False)

    @pytest.mark.usefixtures("broken_sdk")
    def test_shared_counts_choose_the_synchronous_counter(
        self,
        meter_provider: MeterProvider,
        metric_reader: InMemoryMetricReader,
        warnings_log: pytest.LogCaptureFixture,
    ) -> None:
        """Where observables cannot be exported, ``shared_counts`` makes a synchronous counter
        that exports the sums, and says so once at INFO."""
        counts = shared_counts(
            "test.sent",
            unit="{message}",
            description="Sent.",
            monotonic=True,
            scope="scope",
            version="1",
            meter_provider=meter_provider,
            schema_url="url",
        )
        assert counts.observed is False
        counts.add(2, GET)
        metric = _only_metric(metric_reader)
        assert (metric.name, metric.unit, metric.data.is_monotonic) == (
            "test.sent",
            "{message}",
            True,
        )
        assert _values(metric) == {(("http.request.method", "GET"),): 2}
        ObservedCounts(
            meter_provider.get_meter("other"),
            "test.other",
            unit="1",
            description="",
            monotonic=True,
        )
        notes = [r for r in warnings_log.records if "asynchronous instruments" in r.getMessage()]
        assert [r.levelno for r in notes] == [logging.INFO]

    @pytest.mark.usefixtures("broken_sdk")
    def test_active_requests_choose_the_up_down_counter(
        self, meter_provider: MeterProvider, metric_reader: InMemoryMetricReader
    ) -> None:
        """``http.server.active_requests`` falls back to an ``UpDownCounter`` with the same
        name, unit and values: up per request, back to zero after it."""
        active = active_requests("scope", "1", meter_provider, "url")
        assert isinstance(active, ActiveRequests)
        assert active.observed is False
        key = tuple(GET.items())
        active.increment(key, GET)
        active.increment(key, GET)
        assert active.value(GET) == 2
        active.decrement(key)
        metric = _only_metric(metric_reader)
        assert (metric.name, metric.unit, metric.data.is_monotonic) == (
            names.HTTP_SERVER_ACTIVE_REQUESTS,
            "{request}",
            False,
        )
        assert _values(metric) == {key: 1}
        active.decrement(key)
        active.decrement(key)  # one too many: ignored, as by the observed counts
        assert _values(_only_metric(metric_reader)) == {key: 0}

    def test_observed_where_the_sdk_exports_them(self, meter_provider: MeterProvider) -> None:
        """On any other SDK the shared counts are observed (the cheap path)."""
        active = active_requests("scope", "1", meter_provider, "url")
        assert active.observed is observables_export_correctly()


class TestSharing:
    def _shared(self, provider: MeterProvider, name: str = "test.n", scope: str = "s") -> Any:
        return shared_counts(
            name,
            unit="1",
            description="",
            monotonic=True,
            scope=scope,
            version="1",
            meter_provider=provider,
            schema_url="url",
        )

    def test_one_per_provider_scope_and_name(self, meter_provider: MeterProvider) -> None:
        """Every caller on one provider, scope and name gets the same counts (the SDK would
        keep only the first callback); another name, scope or provider gets its own."""
        first = self._shared(meter_provider)
        assert self._shared(meter_provider) is first
        assert self._shared(meter_provider, name="test.m") is not first
        assert self._shared(meter_provider, scope="t") is not first
        other = MeterProvider(shutdown_on_exit=False)
        try:
            assert self._shared(other) is not first
        finally:
            other.shutdown()

    def test_two_callers_count_into_one_instrument(
        self, meter_provider: MeterProvider, metric_reader: InMemoryMetricReader
    ) -> None:
        """Two instrumentors sharing a provider report one sum, not one lost callback."""
        self._shared(meter_provider).add(1, GET)
        self._shared(meter_provider).add(1, GET)
        assert _values(_only_metric(metric_reader)) == {(("http.request.method", "GET"),): 2}

    def test_entries_go_away_with_their_provider(self) -> None:
        """The registry does not keep a meter provider (or its counts) alive."""
        provider = MeterProvider(shutdown_on_exit=False)
        self._shared(provider)
        assert provider in metrics._shared
        gone = weakref.ref(provider)
        provider.shutdown()
        del provider
        gc.collect()
        assert gone() is None
        assert all(alive is not None for alive in metrics._shared)


class TestGlobalProvider:
    """``meter_provider=None`` means the global provider at the call, as ``get_meter`` does."""

    @pytest.fixture(autouse=True)
    def _fresh_globals(self) -> Iterator[None]:
        from opentelemetry.test.globals_test import reset_metrics_globals

        reset_metrics_globals()
        yield
        reset_metrics_globals()

    def _global_counts(self) -> Any:
        return shared_counts(
            "test.global",
            unit="1",
            description="",
            monotonic=True,
            scope="s",
            version="1",
            meter_provider=None,
            schema_url="url",
        )

    def _set_global(self) -> InMemoryMetricReader:
        from opentelemetry.metrics import set_meter_provider
        from opentelemetry.test.globals_test import reset_metrics_globals

        reset_metrics_globals()  # what opentelemetry-test-utils' TestBase does for every test
        reader = InMemoryMetricReader()
        set_meter_provider(MeterProvider(metric_readers=[reader], shutdown_on_exit=False))
        return reader

    def test_a_new_global_provider_gets_its_own_counts(self) -> None:
        """Counts asked for after another global provider was set are made on that one and
        report there (they stayed on the first provider ever set)."""
        self._set_global()
        first = self._global_counts()
        reader = self._set_global()
        second = self._global_counts()
        assert second is not first
        second.add(1, GET)
        assert _values(_only_metric(reader)) == {(("http.request.method", "GET"),): 1}

    def test_counts_made_before_any_provider_follow_the_one_set(self) -> None:
        """Counts made while no provider was set move with the API's proxy onto the provider
        set later; asking again then gives the same counts (a second instrument of the name
        would never report)."""
        from opentelemetry.metrics import set_meter_provider

        early = self._global_counts()
        reader = InMemoryMetricReader()
        set_meter_provider(MeterProvider(metric_readers=[reader], shutdown_on_exit=False))
        assert self._global_counts() is early
        early.add(2, GET)
        assert _values(_only_metric(reader)) == {(("http.request.method", "GET"),): 2}


class TestSharedMeter:
    def test_one_meter_per_provider_and_scope(self) -> None:
        """The meter of a scope is asked for once per provider (the API's provider with no SDK
        keeps every meter it hands out); the provider is not kept alive by it."""
        provider = MeterProvider(shutdown_on_exit=False)
        first = metrics.shared_meter("s", "1", provider, schema_url="url")
        assert metrics.shared_meter("s", "1", provider, schema_url="url") is first
        assert metrics.shared_meter("t", "1", provider, schema_url="url") is not first
        gone = weakref.ref(provider)
        provider.shutdown()
        del provider, first
        gc.collect()
        assert gone() is None


class TestOtlpEncoding:
    def test_counters_encode_on_this_sdk(
        self,
        meter_provider: MeterProvider,
        metric_reader: InMemoryMetricReader,
        tracer_provider: TracerProvider,
    ) -> None:
        """What the counts export with the SDK-chosen instruments encodes to OTLP, for calls
        made outside and inside a sampled span (on SDK 1.28.0 the observed flavour would
        raise here and drop the whole export)."""
        sent = shared_counts(
            "test.sent",
            unit="{message}",
            description="",
            monotonic=True,
            scope="scope",
            version="1",
            meter_provider=meter_provider,
            schema_url="url",
        )
        active = active_requests("scope", "1", meter_provider, "url")
        key = tuple(GET.items())
        sent.add(1, GET)
        active.increment(key, GET)
        with tracer_provider.get_tracer("test").start_as_current_span("span"):
            sent.add(1, GET)
            active.increment(key, GET)
            active.decrement(key)
        decoded = _encode(metric_reader.get_metrics_data())
        values = {
            m.name: [p.as_int for p in m.sum.data_points]
            for rm in decoded.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }
        assert values == {"test.sent": [2], names.HTTP_SERVER_ACTIVE_REQUESTS: [1]}
