"""``HttpServerMetrics``: which instruments each mode creates and what they record."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from instrumentarium.util.http import HttpServerMetrics, active_requests, names, pick
from instrumentarium.util.semconv import DEFAULT, DUP, STABLE, SemconvMode

REQUEST = {
    # old
    names.HTTP_METHOD: "GET",
    names.HTTP_HOST: "h:8080",
    names.HTTP_SCHEME: "http",
    names.HTTP_STATUS_CODE: 200,
    names.HTTP_FLAVOR: "1.1",
    names.HTTP_SERVER_NAME: "srv",
    names.NET_HOST_NAME: "h:8080",
    names.NET_HOST_PORT: 8080,
    names.HTTP_TARGET: "/users/42?token=x",
    names.HTTP_URL: "http://h:8080/users/42",
    names.NET_PEER_IP: "10.0.0.1",
    names.HTTP_USER_AGENT: "curl",
    # stable
    names.HTTP_REQUEST_METHOD: "GET",
    names.HTTP_RESPONSE_STATUS_CODE: 200,
    names.NETWORK_PROTOCOL_VERSION: "1.1",
    names.URL_SCHEME: "http",
    names.URL_PATH: "/users/42",
    names.URL_QUERY: "token=x",
    names.CLIENT_ADDRESS: "10.0.0.1",
    names.SERVER_ADDRESS: "h",
    names.USER_AGENT_ORIGINAL: "curl",
}


def _metrics(reader: InMemoryMetricReader) -> dict[str, Any]:
    found: dict[str, Any] = {}
    data = reader.get_metrics_data()
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = metric
    return found


@pytest.fixture
def make_metrics(meter_provider: MeterProvider) -> Any:
    def make(mode: SemconvMode) -> HttpServerMetrics:
        return HttpServerMetrics(meter_provider.get_meter("test"), mode)

    return make


class TestInstruments:
    @pytest.mark.parametrize(
        ("mode", "old", "new"), [(DEFAULT, True, False), (STABLE, False, True), (DUP, True, True)]
    )
    def test_duration_instruments_per_mode(
        self, make_metrics: Any, mode: SemconvMode, old: bool, new: bool
    ) -> None:
        """DEFAULT creates the ms histogram, STABLE the s histogram, DUP both; every mode has an
        active-requests instrument."""
        metrics = make_metrics(mode)
        assert (metrics.duration_ms is not None) is old
        assert (metrics.duration_s is not None) is new
        assert metrics.active_requests is not None


class TestActiveRequests:
    def test_unit_and_counts(self, make_metrics: Any, metric_reader: InMemoryMetricReader) -> None:
        """``http.server.active_requests`` counts ``{request}`` per attribute set, up and down,
        and keeps reporting an idle set at zero."""
        active = make_metrics(DEFAULT).active_requests
        get, post = {names.HTTP_METHOD: "GET"}, {names.HTTP_METHOD: "POST"}
        active.increment(tuple(get.items()), get)
        active.increment(tuple(get.items()), get)
        active.increment(tuple(post.items()), post)
        active.decrement(tuple(post.items()))
        metric = _metrics(metric_reader)[names.HTTP_SERVER_ACTIVE_REQUESTS]
        assert metric.unit == "{request}"
        values = {p.attributes[names.HTTP_METHOD]: p.value for p in metric.data.data_points}
        assert values == {"GET": 2, "POST": 0}
        assert active.value(get) == 2
        active.decrement(tuple(get.items()))
        active.decrement(tuple(get.items()))
        metric = _metrics(metric_reader)[names.HTTP_SERVER_ACTIVE_REQUESTS]
        assert [p.value for p in metric.data.data_points] == [0, 0]

    def test_one_instrument_per_provider_and_scope(self, meter_provider: MeterProvider) -> None:
        """``active_requests`` hands every app on one provider and scope the same counter (the
        SDK would keep only the first callback of a second one)."""
        first = active_requests("scope", "1", meter_provider, "url")
        assert active_requests("scope", "1", meter_provider, "url") is first
        assert active_requests("other", "1", meter_provider, "url") is not first
        other_provider = MeterProvider()
        try:
            assert active_requests("scope", "1", other_provider, "url") is not first
        finally:
            other_provider.shutdown()

    def test_active_keys_per_mode(self, make_metrics: Any) -> None:
        """Active requests use the old list, the stable list, or their union in DUP."""
        assert set(make_metrics(DEFAULT).active_keys) == set(names.SERVER_ACTIVE_ATTRS_OLD)
        assert set(make_metrics(STABLE).active_keys) == set(names.SERVER_ACTIVE_ATTRS_NEW)
        assert set(make_metrics(DUP).active_keys) == set(names.SERVER_ACTIVE_ATTRS_OLD) | set(
            names.SERVER_ACTIVE_ATTRS_NEW
        )


class TestRecordDuration:
    def test_old_histogram_in_integer_milliseconds(
        self, make_metrics: Any, metric_reader: InMemoryMetricReader
    ) -> None:
        """The old histogram is named ``http.server.duration``, unit ``ms``, integer values."""
        make_metrics(DEFAULT).record_duration(12_600_000, REQUEST, None, None)
        metric = _metrics(metric_reader)[names.HTTP_SERVER_DURATION]
        assert metric.unit == "ms"
        (point,) = metric.data.data_points
        assert point.sum == 13
        assert isinstance(point.sum, int)
        assert names.HTTP_SERVER_REQUEST_DURATION not in _metrics(metric_reader)

    def test_stable_histogram_in_seconds(
        self,
        make_metrics: Any,
        metric_reader: InMemoryMetricReader,
        sdk_takes_advisory_buckets: bool,
    ) -> None:
        """The stable histogram is ``http.server.request.duration`` in seconds, with the
        recommended buckets."""
        make_metrics(STABLE).record_duration(250_000_000, REQUEST, None, None)
        metric = _metrics(metric_reader)[names.HTTP_SERVER_REQUEST_DURATION]
        assert metric.unit == "s"
        (point,) = metric.data.data_points
        assert point.sum == pytest.approx(0.25)
        if sdk_takes_advisory_buckets:
            assert tuple(point.explicit_bounds) == names.DURATION_BUCKETS_S
        assert names.HTTP_SERVER_DURATION not in _metrics(metric_reader)

    def test_attributes_are_filtered_to_allow_lists(
        self, make_metrics: Any, metric_reader: InMemoryMetricReader
    ) -> None:
        """Each histogram carries only the attributes its allow-list names."""
        make_metrics(DUP).record_duration(1_000_000, REQUEST, None, None)
        found = _metrics(metric_reader)
        (old,) = found[names.HTTP_SERVER_DURATION].data.data_points
        (new,) = found[names.HTTP_SERVER_REQUEST_DURATION].data.data_points
        assert dict(old.attributes) == pick(REQUEST, names.SERVER_DURATION_ATTRS_OLD)
        assert dict(new.attributes) == pick(REQUEST, names.SERVER_DURATION_ATTRS_NEW)
        assert names.URL_PATH not in new.attributes
        assert names.HTTP_TARGET not in old.attributes

    def test_route_is_http_target_on_old_and_http_route_on_stable(
        self, make_metrics: Any, metric_reader: InMemoryMetricReader
    ) -> None:
        """A route goes on the old histogram as ``http.target`` (what upstream's Flask and
        Django record) and on the stable one as ``http.route``; never the raw target."""
        make_metrics(DUP).record_duration(1_000_000, REQUEST, "/users/<id>", None)
        found = _metrics(metric_reader)
        (old,) = found[names.HTTP_SERVER_DURATION].data.data_points
        (new,) = found[names.HTTP_SERVER_REQUEST_DURATION].data.data_points
        assert old.attributes[names.HTTP_TARGET] == "/users/<id>"
        assert new.attributes[names.HTTP_ROUTE] == "/users/<id>"

    def test_negative_elapsed_time_is_clamped(
        self, make_metrics: Any, metric_reader: InMemoryMetricReader
    ) -> None:
        """A clock step backwards records 0, never a negative duration."""
        make_metrics(DUP).record_duration(-5_000_000, REQUEST, None, None)
        found = _metrics(metric_reader)
        assert found[names.HTTP_SERVER_DURATION].data.data_points[0].sum == 0
        assert found[names.HTTP_SERVER_REQUEST_DURATION].data.data_points[0].sum == 0


class TestPick:
    def test_pick_keeps_only_present_keys(self) -> None:
        """``pick`` returns the named keys that exist, and nothing else."""
        assert pick({"a": 1, "b": 2}, ("a", "c")) == {"a": 1}
