"""HTTP server metrics recorded by the middleware, per semconv mode."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

DURATION_OLD = "http.server.duration"
DURATION_NEW = "http.server.request.duration"
ACTIVE = "http.server.active_requests"

HIGH_CARDINALITY = {
    "http.target", "http.url", "url.path", "url.query", "url.full", "net.peer.ip",
    "net.peer.port", "client.address", "client.port", "http.user_agent", "user_agent.original",
}  # fmt: skip


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


def _active_values(points: dict[str, list[Any]]) -> list[int]:
    return [point.value for point in points.get(ACTIVE, [])]


class TestDurations:
    def test_instruments_per_mode(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        metric_reader: InMemoryMetricReader,
    ) -> None:
        """DEFAULT records ``http.server.duration`` (ms), ``http`` records
        ``http.server.request.duration`` (s), ``http/dup`` both."""
        run(wrap(), environ(RAW_URI="/hello?id=42"))
        found = _metrics(metric_reader)
        assert (DURATION_OLD in found) is (semconv != "http")
        assert (DURATION_NEW in found) is (semconv != "default")
        if DURATION_OLD in found:
            assert found[DURATION_OLD].unit == "ms"
        if DURATION_NEW in found:
            assert found[DURATION_NEW].unit == "s"

    def test_old_duration_is_integer_milliseconds(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """The old histogram records whole milliseconds, once per request."""
        app = wrap()
        run(app, environ())
        run(app, environ())
        (point,) = metric_points()[DURATION_OLD]
        assert point.count == 2
        assert isinstance(point.sum, int)
        assert point.sum >= 0

    def test_old_duration_attributes(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """The old histogram carries upstream's bounded set, the status code included."""
        run(wrap(), environ(RAW_URI="/hello?id=42", HTTP_USER_AGENT="curl"))
        (point,) = metric_points()[DURATION_OLD]
        assert dict(point.attributes) == {
            "http.method": "GET",
            "http.server_name": "srv.local",
            "http.scheme": "http",
            "net.host.name": "example.com:8080",
            "http.host": "example.com:8080",
            "net.host.port": 8080,
            "http.flavor": "1.1",
            "http.status_code": 200,
        }

    def test_stable_duration_attributes(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """The stable histogram carries method, status, scheme and protocol version; a 5xx adds
        ``error.type``."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            start_response("503 Unavailable", [])
            return [b""]

        run(wrap(app), environ(QUERY_STRING="id=42"))
        (point,) = metric_points()[DURATION_NEW]
        assert dict(point.attributes) == {
            "http.request.method": "GET",
            "http.response.status_code": 503,
            "url.scheme": "http",
            "network.protocol.version": "1.1",
            "error.type": "503",
        }
        assert 0 <= point.sum < 60

    def test_no_raw_paths_in_metric_attributes(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """Different paths share one series: no metric carries a path, query, URL or peer."""
        app = wrap()
        for request_id in range(3):
            run(app, environ(PATH_INFO=f"/users/{request_id}", RAW_URI=f"/users/{request_id}"))
        for name, points in metric_points().items():
            for point in points:
                assert not set(point.attributes) & HIGH_CARDINALITY, name
            if name != ACTIVE:
                assert len(points) == 1, name

    def test_exception_records_error_type(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """An app that raises still records a duration, with the exception's type."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            raise KeyError("k")

        with pytest.raises(KeyError):
            wrap(app)(environ(), make_start_response())
        (point,) = metric_points()[DURATION_NEW]
        assert point.attributes["error.type"] == "KeyError"


class TestActiveRequests:
    def test_unit_and_back_to_zero(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        metric_reader: InMemoryMetricReader,
    ) -> None:
        """``http.server.active_requests`` is in ``{request}`` and returns to 0 after a
        request."""
        run(wrap(), environ())
        metric = _metrics(metric_reader)[ACTIVE]
        assert metric.unit == "{request}"
        assert [point.value for point in metric.data.data_points] == [0]

    def test_attributes_per_mode(
        self,
        semconv: str,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """Old mode uses upstream's old set, stable mode method and scheme, dup the union."""
        run(wrap(), environ())
        (point,) = metric_points()[ACTIVE]
        old = {
            "http.method": "GET",
            "http.host": "example.com:8080",
            "http.scheme": "http",
            "http.flavor": "1.1",
            "http.server_name": "srv.local",
        }
        new = {"http.request.method": "GET", "url.scheme": "http"}
        expected = {"default": old, "http": new, "http/dup": {**old, **new}}[semconv]
        assert dict(point.attributes) == expected

    def test_counts_a_request_in_flight(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """A request whose body is still streaming counts as active until the body is closed."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [])
            yield b"x"

        result = wrap(app)(environ(), make_start_response())
        assert _active_values(metric_points()) == [1]
        list(result)
        result.close()
        assert _active_values(metric_points()) == [0]

    def test_two_apps_on_one_provider_count_together(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """Two middlewares sharing a meter provider report one series holding both apps'
        requests in flight."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [])
            yield b"x"

        first = wrap(app)(environ(), make_start_response())
        second = wrap(app)(environ(), make_start_response())
        assert _active_values(metric_points()) == [2]
        first.close()
        second.close()
        assert _active_values(metric_points()) == [0]

    def test_back_to_zero_after_exception(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """An app that raises is no longer counted as active."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            raise RuntimeError("boom")

        for _ in range(2):
            with pytest.raises(RuntimeError):
                wrap(app)(environ(), make_start_response())
        assert _active_values(metric_points()) == [0]

    def test_back_to_zero_after_body_error(
        self,
        wrap: Callable[..., Any],
        environ: Callable[..., Any],
        make_start_response: Callable[..., Any],
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """A body that raises mid-stream is no longer counted, and its duration is recorded
        once."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            start_response("200 OK", [])
            yield b"x"
            raise RuntimeError("late")

        result = wrap(app)(environ(), make_start_response())
        with pytest.raises(RuntimeError):
            list(result)
        result.close()
        points = metric_points()
        assert _active_values(points) == [0]
        assert points[DURATION_OLD][0].count == 1


class TestFollowsTheGlobalMeterProvider:
    def test_test_base_suite_sees_active_requests_in_every_test(self) -> None:
        """Under ``opentelemetry-test-utils``' ``TestBase``, which sets a new global
        ``MeterProvider`` for every test, each test's provider gets
        ``http.server.active_requests`` (it stayed on the first test's provider)."""
        import unittest

        from opentelemetry.test.test_base import TestBase

        from instrumentarium.wsgi import OpenTelemetryMiddleware

        from .conftest import build_environ

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

        class UsersSuite(TestBase):
            def _request_and_collect(self) -> None:
                wrapped = OpenTelemetryMiddleware(app)  # the global providers, as users do
                body = wrapped(build_environ(), lambda status, headers, exc_info=None: None)
                list(body)
                getattr(body, "close", lambda: None)()
                names = {
                    metric.name
                    for metric in self.get_sorted_metrics()  # type: ignore[no-untyped-call]
                }
                assert ACTIVE in names
                assert "http.server.duration" in names

            def test_first(self) -> None:
                self._request_and_collect()

            def test_second(self) -> None:
                self._request_and_collect()

        result = unittest.TestResult()
        suite = unittest.TestSuite([UsersSuite("test_first"), UsersSuite("test_second")])
        suite.run(result)
        problems = [text for _, text in result.failures + result.errors]
        assert result.testsRun == 2
        assert problems == []


class TestHostileHosts:
    """Anyone who can send a request chooses its ``Host``: the metrics keep a bounded number of
    host values, so a client varying it cannot grow the process (issue 14, item 10)."""

    REQUESTS = 50_000

    @pytest.mark.parametrize("collected", [False, True], ids=["no-meter-provider", "collected"])
    def test_distinct_hosts_keep_the_attribute_sets_bounded(
        self,
        collected: bool,
        run: Callable[..., Any],
        environ: Callable[..., Any],
    ) -> None:
        """50,000 requests, each with a new ``Host`` (and, as gunicorn on a unix socket gives
        them, a new ``SERVER_NAME`` and ``SERVER_PORT``): with no ``MeterProvider`` (nothing
        ever collects) and with one collected every 5,000 requests, the
        ``http.server.active_requests`` sets and the app's cached request descriptions stay
        bounded; the exported duration and active sets hold the first ``METRIC_HOSTS_KEPT``
        hosts and one ``_OTHER`` set, while every span keeps its own host."""
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        from instrumentarium.util.http import METRIC_HOSTS_KEPT, OTHER_HOST
        from instrumentarium.wsgi import OpenTelemetryMiddleware

        reader = InMemoryMetricReader()
        provider = SdkMeterProvider([reader]) if collected else NoOpMeterProvider()
        app = OpenTelemetryMiddleware(
            _hello, tracer_provider=TracerProvider(), meter_provider=provider
        )
        telemetry = app._telemetry
        active = telemetry.metrics.active_requests
        largest = 0
        for i in range(self.REQUESTS):
            host = f"h{i}.example"
            run(app, environ(HTTP_HOST=f"{host}:{i % 60000}", SERVER_NAME=host))
            if i % 5000 == 4999:
                if collected:
                    reader.get_metrics_data()
                largest = max(largest, len(active._counts), len(telemetry._shared))
        assert largest <= 256  # the request-description cache's own bound
        assert len(active._counts) <= METRIC_HOSTS_KEPT + 1
        if collected:
            points = {
                metric.name: list(metric.data.data_points)
                for rm in (reader.get_metrics_data() or _no_data()).resource_metrics
                for sm in rm.scope_metrics
                for metric in sm.metrics
            }
            for name in (DURATION_OLD, ACTIVE):
                hosts = {p.attributes["http.host"] for p in points[name]}
                assert len(hosts) == METRIC_HOSTS_KEPT + 1, name
                assert OTHER_HOST in hosts
                (other,) = [p for p in points[name] if p.attributes["http.host"] == OTHER_HOST]
                assert other.attributes["http.server_name"] == OTHER_HOST
                assert "net.host.port" not in other.attributes
            (other,) = [p for p in points[DURATION_OLD] if p.attributes["http.host"] == OTHER_HOST]
            assert other.count == self.REQUESTS - METRIC_HOSTS_KEPT

    def test_spans_keep_the_host_that_metrics_collapse(
        self,
        wrap: Callable[..., Any],
        run: Callable[..., Any],
        environ: Callable[..., Any],
        span_exporter: Any,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """Past the kept hosts, a request's span still says which host it asked for; only its
        metric sets say ``_OTHER``."""
        from instrumentarium.util.http import METRIC_HOSTS_KEPT, OTHER_HOST

        app = wrap()
        for i in range(METRIC_HOSTS_KEPT + 1):
            run(app, environ(HTTP_HOST=f"h{i}.example"))
        last = span_exporter.get_finished_spans()[-1]
        assert last.attributes["http.host"] == f"h{METRIC_HOSTS_KEPT}.example"
        hosts = [p.attributes["http.host"] for p in metric_points()[DURATION_OLD]]
        assert hosts.count(OTHER_HOST) == 1
        assert "h0.example" in hosts


def _hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def _no_data() -> Any:
    raise AssertionError("nothing was collected")
