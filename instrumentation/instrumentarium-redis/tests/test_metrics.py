"""``db.client.operation.duration``: one record per command or pipeline, bounded attributes."""

from __future__ import annotations

import pytest
import redis

from .conftest import HOST, PORT


def _points(metric_points):
    return metric_points().get("db.client.operation.duration", [])


class TestDuration:
    def test_one_record_per_command(
        self, instrument, client, metric_points, key, sdk_takes_advisory_buckets
    ):
        """A command records its duration in seconds with the advisory buckets."""
        instrument()
        client.get(key)
        client.get(key)

        (point,) = _points(metric_points)
        assert point.count == 2
        assert dict(point.attributes) == {
            "db.system": "redis",
            "db.operation.name": "GET",
            "server.address": HOST,
            "server.port": PORT,
        }
        if sdk_takes_advisory_buckets:
            assert tuple(point.explicit_bounds) == (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10)

    def test_error_type(self, instrument, client, metric_points, key):
        """A failed command records ``error.type``."""
        instrument()
        client.set(key, "v")
        with pytest.raises(redis.ResponseError):
            client.lpush(key, "x")

        by_operation = {
            p.attributes["db.operation.name"]: p.attributes for p in _points(metric_points)
        }
        assert by_operation["LPUSH"]["error.type"] == "ResponseError"

    def test_stable_attributes(self, instrument, client, metric_points, key, monkeypatch):
        """With stable names the metric carries ``db.system.name`` and ``db.namespace``."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "database")
        instrument()
        pipe = client.pipeline(transaction=False)
        pipe.get(key).set(key, "v")
        pipe.execute()

        (point,) = _points(metric_points)
        assert dict(point.attributes) == {
            "db.system.name": "redis",
            "db.namespace": "0",
            "db.operation.name": "BATCH",
            "server.address": HOST,
            "server.port": PORT,
        }

    def test_recorded_when_the_span_is_not_sampled(self, instrument, client, metric_points, key):
        """A sampled-out span still records the duration."""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        instrument(tracer_provider=TracerProvider(sampler=ALWAYS_OFF))
        client.get(key)

        assert _points(metric_points)[0].count == 1
