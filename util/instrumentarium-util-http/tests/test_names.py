"""Every name we hard-code equals the one in ``opentelemetry-semantic-conventions``."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from instrumentarium.util.http import names

with warnings.catch_warnings():
    # Old attribute names are deprecated in the semconv package; reading them is the point here.
    warnings.simplefilter("ignore")
    from opentelemetry.semconv._incubating.attributes import (
        user_agent_attributes as incubating_user_agent,
    )
    from opentelemetry.semconv._incubating.metrics import http_metrics as incubating_http_metrics
    from opentelemetry.semconv.attributes import (
        client_attributes,
        error_attributes,
        http_attributes,
        network_attributes,
        server_attributes,
        url_attributes,
        user_agent_attributes,
    )
    from opentelemetry.semconv.metrics import MetricInstruments, http_metrics
    from opentelemetry.semconv.trace import SpanAttributes

    OLD_ATTRIBUTES = {
        name: getattr(SpanAttributes, name)
        for name in (
            "HTTP_METHOD", "HTTP_URL", "HTTP_TARGET", "HTTP_HOST", "HTTP_SCHEME",
            "HTTP_STATUS_CODE", "HTTP_FLAVOR", "HTTP_USER_AGENT", "HTTP_SERVER_NAME",
            "NET_HOST_NAME", "NET_HOST_PORT", "NET_PEER_IP", "NET_PEER_NAME", "NET_PEER_PORT",
        )
    }  # fmt: skip

STABLE_ATTRIBUTES = {
    "HTTP_REQUEST_METHOD": http_attributes.HTTP_REQUEST_METHOD,
    "HTTP_REQUEST_METHOD_ORIGINAL": http_attributes.HTTP_REQUEST_METHOD_ORIGINAL,
    "HTTP_RESPONSE_STATUS_CODE": http_attributes.HTTP_RESPONSE_STATUS_CODE,
    "HTTP_ROUTE": http_attributes.HTTP_ROUTE,
    "URL_FULL": url_attributes.URL_FULL,
    "URL_PATH": url_attributes.URL_PATH,
    "URL_QUERY": url_attributes.URL_QUERY,
    "URL_SCHEME": url_attributes.URL_SCHEME,
    "SERVER_ADDRESS": server_attributes.SERVER_ADDRESS,
    "SERVER_PORT": server_attributes.SERVER_PORT,
    "CLIENT_ADDRESS": client_attributes.CLIENT_ADDRESS,
    "CLIENT_PORT": client_attributes.CLIENT_PORT,
    "NETWORK_PROTOCOL_VERSION": network_attributes.NETWORK_PROTOCOL_VERSION,
    "NETWORK_PEER_ADDRESS": network_attributes.NETWORK_PEER_ADDRESS,
    "NETWORK_PEER_PORT": network_attributes.NETWORK_PEER_PORT,
    "USER_AGENT_ORIGINAL": user_agent_attributes.USER_AGENT_ORIGINAL,
    # Newer than the oldest semconv package we support: None there, and its test skips.
    "USER_AGENT_SYNTHETIC_TYPE": getattr(incubating_user_agent, "USER_AGENT_SYNTHETIC_TYPE", None),
    "ERROR_TYPE": error_attributes.ERROR_TYPE,
}

INSTRUMENTS = {
    "HTTP_SERVER_DURATION": MetricInstruments.HTTP_SERVER_DURATION,
    "HTTP_SERVER_ACTIVE_REQUESTS": MetricInstruments.HTTP_SERVER_ACTIVE_REQUESTS,
    "HTTP_CLIENT_DURATION": MetricInstruments.HTTP_CLIENT_DURATION,
    "HTTP_CLIENT_REQUEST_SIZE": MetricInstruments.HTTP_CLIENT_REQUEST_SIZE,
    "HTTP_CLIENT_RESPONSE_SIZE": MetricInstruments.HTTP_CLIENT_RESPONSE_SIZE,
    "HTTP_SERVER_REQUEST_DURATION": http_metrics.HTTP_SERVER_REQUEST_DURATION,
    "HTTP_CLIENT_REQUEST_DURATION": http_metrics.HTTP_CLIENT_REQUEST_DURATION,
    "HTTP_CLIENT_REQUEST_BODY_SIZE": incubating_http_metrics.HTTP_CLIENT_REQUEST_BODY_SIZE,
    "HTTP_CLIENT_RESPONSE_BODY_SIZE": incubating_http_metrics.HTTP_CLIENT_RESPONSE_BODY_SIZE,
    "HTTP_SERVER_REQUEST_SIZE": MetricInstruments.HTTP_SERVER_REQUEST_SIZE,
    "HTTP_SERVER_RESPONSE_SIZE": MetricInstruments.HTTP_SERVER_RESPONSE_SIZE,
    "HTTP_SERVER_REQUEST_BODY_SIZE": incubating_http_metrics.HTTP_SERVER_REQUEST_BODY_SIZE,
    "HTTP_SERVER_RESPONSE_BODY_SIZE": incubating_http_metrics.HTTP_SERVER_RESPONSE_BODY_SIZE,
}

EXPECTED = {**OLD_ATTRIBUTES, **STABLE_ATTRIBUTES, **INSTRUMENTS}


def _string_constants() -> dict[str, str]:
    return {k: v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}


class TestNames:
    @pytest.mark.parametrize("constant", sorted(EXPECTED))
    def test_constant_equals_semconv(self, constant: str) -> None:
        """The constant's value is the semantic-conventions package's."""
        if EXPECTED[constant] is None:
            pytest.skip(f"{constant} is not in this version of the semconv package")
        assert getattr(names, constant) == EXPECTED[constant]

    def test_every_constant_is_checked(self) -> None:
        """No name constant escapes this comparison: a new one must be added above."""
        assert set(_string_constants()) == set(EXPECTED)

    def test_allow_lists_use_known_names(self) -> None:
        """Metric attribute allow-lists only hold names defined here."""
        known = set(_string_constants().values())
        for constant, value in vars(names).items():
            if constant.endswith(("_ATTRS_OLD", "_ATTRS_NEW")):
                assert set(value) <= known, constant

    def test_allow_lists_hold_no_high_cardinality_names(self) -> None:
        """Paths, targets, full URLs, queries and peers never become metric attributes."""
        forbidden = {
            names.URL_PATH, names.URL_QUERY, names.URL_FULL, names.HTTP_TARGET, names.HTTP_URL,
            names.CLIENT_ADDRESS, names.CLIENT_PORT, names.NET_PEER_IP, names.NET_PEER_PORT,
            names.USER_AGENT_ORIGINAL, names.HTTP_USER_AGENT,
        }  # fmt: skip
        for constant, value in vars(names).items():
            if constant.startswith("SERVER_") and constant.endswith(("_ATTRS_OLD", "_ATTRS_NEW")):
                assert not set(value) & forbidden, constant

    def test_server_allow_lists_match_upstream(self) -> None:
        """The server allow-lists are upstream's (``_server_duration_attrs_*`` and
        ``_server_active_requests_count_attrs_*``)."""
        upstream = _upstream_semconv()
        assert set(names.SERVER_DURATION_ATTRS_OLD) == set(upstream._server_duration_attrs_old)
        assert set(names.SERVER_DURATION_ATTRS_NEW) == set(upstream._server_duration_attrs_new)
        assert set(names.SERVER_ACTIVE_ATTRS_OLD) == set(
            upstream._server_active_requests_count_attrs_old
        )
        assert set(names.SERVER_ACTIVE_ATTRS_NEW) == set(
            upstream._server_active_requests_count_attrs_new
        )


class TestBuckets:
    def test_millisecond_buckets_are_the_sdk_default(
        self, meter_provider: MeterProvider, metric_reader: InMemoryMetricReader
    ) -> None:
        """Old durations use the SDK's default boundaries (what upstream gets by giving none)."""
        meter_provider.get_meter("test").create_histogram("h", unit="ms").record(1)
        data = metric_reader.get_metrics_data()
        assert data is not None
        (point,) = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
        assert tuple(names.DURATION_BUCKETS_MS) == tuple(point.explicit_bounds)

    def test_second_buckets_are_the_recommended_ones(self) -> None:
        """Stable durations use the specification's boundaries, as upstream."""
        upstream = _upstream_semconv()
        assert tuple(names.DURATION_BUCKETS_S) == tuple(
            upstream.HTTP_DURATION_HISTOGRAM_BUCKETS_NEW
        )


def _upstream_semconv() -> Any:
    """Upstream's private ``_semconv`` module, when this version of it has the HTTP helpers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from opentelemetry.instrumentation import _semconv

    if not hasattr(_semconv, "HTTP_DURATION_HISTOGRAM_BUCKETS_NEW"):
        pytest.skip("this opentelemetry-instrumentation predates the HTTP semconv helpers")
    return _semconv
