"""The OpenTelemetry getting-started guide, as tests: zero-code Flask with instrumentarium.

Each configuration runs ``examples/dice/app.py`` once under ``opentelemetry-instrument`` with the
console exporters (``examples/dice/drive.py``, the demo's own driver), sends a few requests, stops
the server with SIGINT so the SDK flushes, and parses stdout (``console_telemetry.py``). One
process per configuration (module-scoped fixtures), started one after the other; the tests then
only read what it printed.

Requests are told apart by their ``player`` query parameter: the app logs ``"<player> is rolling
the dice: <n>"`` inside its ``roll`` span, so the log record leads to the roll span, and the roll
span to its trace, whatever the semantic-convention mode.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
from console_telemetry import ConsoleTelemetry, LogRecord, Metric, Span
from drive import DiceServer

pytestmark = pytest.mark.subprocess

BIN_DIR = Path(sys.executable).parent

# A caller's context, in the W3C example's spirit: the server must continue this trace.
CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"

DIE_FACES = {"1", "2", "3", "4", "5", "6"}

# The attribute sets upstream's Flask instrumentation puts on the HTTP server metrics.
OLD_DURATION_KEYS = {
    "http.method",
    "http.host",
    "http.scheme",
    "http.status_code",
    "http.flavor",
    "http.server_name",
    "net.host.name",
    "net.host.port",
    "http.target",  # carries the route template in old mode, never the raw target
}
OLD_ACTIVE_KEYS = {"http.method", "http.host", "http.scheme", "http.flavor", "http.server_name"}
NEW_DURATION_KEYS = {
    "http.request.method",
    "url.scheme",
    "http.response.status_code",
    "network.protocol.version",
    "http.route",
}
NEW_ACTIVE_KEYS = {"http.request.method", "url.scheme"}
OLD_ONLY_SPAN_KEYS = {"http.method", "http.target", "http.status_code", "http.scheme"}
NEW_ONLY_SPAN_KEYS = {"http.request.method", "url.path", "http.response.status_code"}


@dataclass(frozen=True)
class Run:
    """What one server process did: the answers it gave and the telemetry it printed."""

    telemetry: ConsoleTelemetry
    stderr: str
    returncode: int
    port: int
    responses: Mapping[str, tuple[int, str]]

    def request(self, player: Optional[str]) -> Request:
        """The telemetry of the request made as ``player`` (None: the anonymous one)."""
        body = f"{player} is rolling" if player else "Anonymous player is rolling"
        records = [r for r in self.telemetry.logs if str(r.body).startswith(body)]
        assert len(records) == 1, f"expected one log record {body!r}, got {records}"
        record = records[0]
        roll = self.telemetry.span(record.span_id)
        assert roll is not None, f"the log record's span {record.span_id} was not exported"
        assert roll.name == "roll"
        servers = [s for s in self.telemetry.spans_of_kind("SERVER") if s.trace_id == roll.trace_id]
        assert len(servers) <= 1, f"more than one SERVER span in one trace: {servers}"
        path = f"/rolldice?player={player}" if player else "/rolldice"
        return Request(servers[0] if servers else None, roll, record, self.responses[path])

    def metric(self, name: str) -> Metric:
        metric = self.telemetry.metric(name)
        assert metric is not None, f"{name} not exported; got {self.telemetry.metric_names()}"
        return metric


@dataclass(frozen=True)
class Request:
    server: Optional[Span]
    roll: Span
    log: LogRecord
    response: tuple[int, str]


def run_dice(
    extra_env: Mapping[str, str],
    requests: Sequence[str],
    headers: Optional[Mapping[str, Mapping[str, str]]] = None,
) -> Run:
    """Start the app with ``extra_env``, GET each path, stop it with SIGINT, parse its output."""
    with DiceServer(BIN_DIR, extra_env) as server:
        responses = {path: server.get(path, (headers or {}).get(path)) for path in requests}
        finished = server.stop()
    return Run(
        ConsoleTelemetry.parse(finished.stdout),
        finished.stderr,
        finished.returncode,
        server.port,
        responses,
    )


def only_point(metric: Metric) -> Mapping[str, Any]:
    assert len(metric.data_points) == 1, metric.data_points
    return metric.data_points[0]


# -- configurations: one process each ------------------------------------------------------


@pytest.fixture(scope="module")
def guide() -> Run:
    """The guide's command line as is: old (default) semantic conventions."""
    return run_dice(
        {},
        ["/rolldice?player=alice", "/rolldice", "/rolldice?player=carol"],
        headers={"/rolldice?player=carol": {"traceparent": TRACEPARENT}},
    )


@pytest.fixture(scope="module")
def flask_excluded() -> Run:
    return run_dice(
        {"OTEL_PYTHON_FLASK_EXCLUDED_URLS": "player=bob"},
        ["/rolldice?player=alice", "/rolldice?player=bob"],
    )


@pytest.fixture(scope="module")
def generic_excluded() -> Run:
    return run_dice(
        {"OTEL_PYTHON_EXCLUDED_URLS": "player=bob"},
        ["/rolldice?player=alice", "/rolldice?player=bob"],
    )


@pytest.fixture(scope="module")
def empty_flask_excluded() -> Run:
    return run_dice(
        {"OTEL_PYTHON_FLASK_EXCLUDED_URLS": "", "OTEL_PYTHON_EXCLUDED_URLS": "player=bob"},
        ["/rolldice?player=bob"],
    )


@pytest.fixture(scope="module")
def flask_disabled() -> Run:
    return run_dice(
        {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "flask"},
        ["/rolldice?player=alice"],
    )


@pytest.fixture(scope="module")
def stable() -> Run:
    return run_dice({"OTEL_SEMCONV_STABILITY_OPT_IN": "http"}, ["/rolldice?player=alice"])


@pytest.fixture(scope="module")
def dup() -> Run:
    return run_dice({"OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup"}, ["/rolldice?player=alice"])


@pytest.fixture(scope="module")
def invalid_regex() -> Run:
    """Logs auto-instrumentation off (the agent's default): Python's logging has no handler
    when the instrumentor is configured, so a warning reaches stderr (``logging.lastResort``)."""
    return run_dice(
        {
            "OTEL_PYTHON_FLASK_EXCLUDED_URLS": "([",
            "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "false",
        },
        ["/rolldice?player=alice"],
    )


@pytest.fixture(scope="module")
def invalid_regex_logs_exported() -> Run:
    """The guide's logs auto-instrumentation on: the root logger's only handler then is the
    SDK's, so the warning is exported as a log record (stdout here) rather than printed."""
    return run_dice({"OTEL_PYTHON_FLASK_EXCLUDED_URLS": "(["}, ["/rolldice?player=alice"])


# -- the guide's walk-through --------------------------------------------------------------


class TestGuideTraces:
    def test_server_span_has_the_guides_default_attributes(self, guide: Run) -> None:
        """A request gets one SERVER span ``GET /rolldice`` with the old (default) HTTP
        attributes the guide shows, route included, and no stable-convention attribute."""
        alice = guide.request("alice")
        assert alice.response[0] == 200
        server = alice.server
        assert server is not None
        assert server.name == "GET /rolldice"
        assert server.kind == "SERVER"
        assert server.parent_id is None
        assert server.status_code == "UNSET"
        host = f"127.0.0.1:{guide.port}"
        expected = {
            "http.method": "GET",
            "http.server_name": "127.0.0.1",
            "http.scheme": "http",
            "net.host.name": host,
            "http.host": host,
            "net.host.port": guide.port,
            "http.target": "/rolldice?player=alice",
            "net.peer.ip": "127.0.0.1",
            "http.flavor": "1.1",
            "http.route": "/rolldice",
            "http.status_code": 200,
        }
        assert {k: server.attributes.get(k) for k in expected} == expected
        assert isinstance(server.attributes["net.peer.port"], int)
        assert str(server.attributes["http.user_agent"]).startswith("Python-urllib/")
        assert not NEW_ONLY_SPAN_KEYS & set(server.attributes)
        assert server.raw["resource"]["attributes"]["service.name"] == "dice-server"

    def test_one_server_span_per_request(self, guide: Run) -> None:
        """Three requests give three SERVER spans and three ``roll`` spans, nothing else."""
        assert sorted(s.name for s in guide.telemetry.spans) == ["GET /rolldice"] * 3 + ["roll"] * 3

    def test_roll_span_is_a_child_of_the_server_span(self, guide: Run) -> None:
        """The app's manual ``roll`` span is INTERNAL, in the request's trace, and its parent is
        the server span; ``roll.value`` is the rolled number the client received."""
        for player in ("alice", None):
            request = guide.request(player)
            assert request.server is not None
            assert request.roll.kind == "INTERNAL"
            assert request.roll.trace_id == request.server.trace_id
            assert request.roll.parent_id == request.server.span_id
            assert request.roll.attributes == {"roll.value": request.response[1]}
            assert request.response[1] in DIE_FACES
            assert request.server.start <= request.roll.start <= request.roll.end
            assert request.roll.end <= request.server.end

    def test_incoming_traceparent_is_continued(self, guide: Run) -> None:
        """A ``traceparent`` header from the caller is continued: the server span has the
        caller's trace id and the caller's span as its parent; the roll span follows."""
        carol = guide.request("carol")
        assert carol.server is not None
        assert carol.server.trace_id == "0x" + CALLER_TRACE_ID
        assert carol.server.parent_id == "0x" + CALLER_SPAN_ID
        assert carol.server.kind == "SERVER"
        assert carol.roll.parent_id == carol.server.span_id
        assert carol.log.trace_id == "0x" + CALLER_TRACE_ID
        # A request without the header starts a trace of its own.
        alice = guide.request("alice")
        assert alice.server is not None
        assert alice.server.parent_id is None
        assert alice.server.trace_id != carol.server.trace_id


class TestGuideLogs:
    def test_log_record_carries_the_roll_spans_context(self, guide: Run) -> None:
        """The app's ``logger.warning`` runs inside ``roll``, so its exported record has the
        request's trace id and the *roll* span's id (not the server span's)."""
        alice = guide.request("alice")
        assert alice.server is not None
        assert alice.log.trace_id == alice.server.trace_id
        assert alice.log.span_id == alice.roll.span_id
        assert alice.log.span_id != alice.server.span_id
        assert alice.log.severity_text == "WARN"
        assert alice.log.body == f"alice is rolling the dice: {alice.response[1]}"

    def test_anonymous_player_is_logged_in_its_own_trace(self, guide: Run) -> None:
        """Without ``player`` the app logs the anonymous line, correlated with its request."""
        anonymous = guide.request(None)
        assert anonymous.server is not None
        assert (
            anonymous.log.body == f"Anonymous player is rolling the dice: {anonymous.response[1]}"
        )
        assert (anonymous.log.trace_id, anonymous.log.span_id) == (
            anonymous.roll.trace_id,
            anonymous.roll.span_id,
        )
        assert anonymous.log.trace_id != guide.request("alice").log.trace_id


class TestGuideMetrics:
    def test_duration_histogram_in_ms_with_the_route_in_http_target(self, guide: Run) -> None:
        """``http.server.duration`` (ms) has upstream's old attribute set, with the route
        template as ``http.target`` (not the raw target with its query) and no ``http.route``;
        the three requests share one data point."""
        metric = guide.metric("http.server.duration")
        assert metric.unit == "ms"
        assert metric.scope == "instrumentarium.flask"
        point = only_point(metric)
        attributes = point["attributes"]
        assert set(attributes) == OLD_DURATION_KEYS
        assert attributes["http.target"] == "/rolldice"
        assert attributes["http.method"] == "GET"
        assert attributes["http.status_code"] == 200
        assert attributes["net.host.port"] == guide.port
        assert point["count"] == 3
        assert guide.telemetry.metric("http.server.request.duration") is None

    def test_active_requests_returns_to_zero(self, guide: Run) -> None:
        """``http.server.active_requests`` counts up and down with upstream's old attribute set
        and is 0 once every request has ended."""
        metric = guide.metric("http.server.active_requests")
        assert metric.unit == "{request}"
        assert metric.raw["data"]["is_monotonic"] is False
        point = only_point(metric)
        assert set(point["attributes"]) == OLD_ACTIVE_KEYS
        assert point["value"] == 0

    def test_dice_rolls_counter_counts_each_roll_by_value(self, guide: Run) -> None:
        """The app's ``dice.rolls`` counter (meter ``diceroller.meter``) has one increment per
        request, labelled with the values the roll spans carry."""
        metric = guide.metric("dice.rolls")
        assert metric.scope == "diceroller.meter"
        assert metric.raw["data"]["is_monotonic"] is True
        counted: dict[str, int] = {}
        for point in metric.data_points:
            counted[point["attributes"]["roll.value"]] = point["value"]
        rolled: dict[str, int] = {}
        for span in guide.telemetry.spans_named("roll"):
            value = span.attributes["roll.value"]
            rolled[value] = rolled.get(value, 0) + 1
        assert counted == rolled
        assert sum(counted.values()) == 3


# -- excluded URLs ------------------------------------------------------------------------


def assert_bob_excluded_alice_traced(run: Run) -> None:
    bob = run.request("bob")
    assert bob.response == (200, bob.roll.attributes["roll.value"])
    assert bob.server is None, "the excluded request still got a server span"
    assert bob.roll.parent_id is None, "with no server span, roll must be a root span"
    alice = run.request("alice")
    assert alice.server is not None
    assert alice.roll.parent_id == alice.server.span_id
    # An excluded request is not measured either.
    assert only_point(run.metric("http.server.duration"))["count"] == 1


class TestExcludedUrls:
    def test_flask_variable_excludes_only_matching_urls(self, flask_excluded: Run) -> None:
        """``OTEL_PYTHON_FLASK_EXCLUDED_URLS=player=bob`` (a regex searched in the full URL,
        query included): bob's request has no server span and is not measured, its ``roll``
        span becomes a root span; alice's request on the same route is traced as usual."""
        assert_bob_excluded_alice_traced(flask_excluded)

    def test_generic_variable_is_the_fallback(self, generic_excluded: Run) -> None:
        """With the Flask variable unset, ``OTEL_PYTHON_EXCLUDED_URLS`` applies."""
        assert_bob_excluded_alice_traced(generic_excluded)

    def test_empty_flask_variable_excludes_nothing(self, empty_flask_excluded: Run) -> None:
        """``OTEL_PYTHON_FLASK_EXCLUDED_URLS=""`` is set, so it wins over the generic variable
        and means "exclude nothing": bob's request is traced."""
        bob = empty_flask_excluded.request("bob")
        assert bob.server is not None
        assert bob.server.attributes["http.target"] == "/rolldice?player=bob"
        assert bob.roll.parent_id == bob.server.span_id


class TestDisabledInstrumentation:
    def test_disabled_flask_leaves_only_the_apps_own_telemetry(self, flask_disabled: Run) -> None:
        """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=flask``: no server span and no HTTP metrics,
        while the app's ``roll`` span (now a root span), its log record and ``dice.rolls``
        are still exported."""
        alice = flask_disabled.request("alice")
        assert alice.response[0] == 200
        assert flask_disabled.telemetry.spans_of_kind("SERVER") == []
        assert alice.server is None
        assert alice.roll.parent_id is None
        assert alice.log.span_id == alice.roll.span_id
        names = flask_disabled.telemetry.metric_names()
        assert not [name for name in names if name.startswith("http.server.")], names
        assert sum(p["value"] for p in flask_disabled.metric("dice.rolls").data_points) == 1


# -- semantic-convention opt-in ------------------------------------------------------------


class TestSemconvOptIn:
    def test_http_opt_in_gives_stable_span_attributes(self, stable: Run) -> None:
        """``OTEL_SEMCONV_STABILITY_OPT_IN=http``: the server span carries the stable HTTP
        attributes only (``http.request.method``, ``url.*``, ``http.response.status_code``)."""
        server = stable.request("alice").server
        assert server is not None
        assert server.name == "GET /rolldice"
        expected = {
            "http.request.method": "GET",
            "url.scheme": "http",
            "url.path": "/rolldice",
            "url.query": "player=alice",
            "server.address": "127.0.0.1",
            "server.port": stable.port,
            "client.address": "127.0.0.1",
            "network.protocol.version": "1.1",
            "http.route": "/rolldice",
            "http.response.status_code": 200,
        }
        assert {k: server.attributes.get(k) for k in expected} == expected
        assert not OLD_ONLY_SPAN_KEYS & set(server.attributes)
        assert "http.method" not in server.attributes

    def test_http_opt_in_gives_the_request_duration_histogram_in_seconds(
        self, stable: Run, sdk_takes_advisory_buckets: bool
    ) -> None:
        """Stable mode records ``http.server.request.duration`` in seconds (with ``http.route``)
        instead of ``http.server.duration``, and stable attributes on active requests."""
        metric = stable.metric("http.server.request.duration")
        assert metric.unit == "s"
        point = only_point(metric)
        assert set(point["attributes"]) == NEW_DURATION_KEYS
        assert point["attributes"]["http.route"] == "/rolldice"
        assert point["count"] == 1
        assert 0 < point["sum"] < 5  # seconds: a local request takes a few ms
        # The boundaries the specification advises for this histogram, in seconds (SDKs that
        # predate advisory boundaries use their own defaults; instrumentarium warns once).
        if sdk_takes_advisory_buckets:
            assert point["explicit_bounds"][:3] == [0.005, 0.01, 0.025]
        assert stable.telemetry.metric("http.server.duration") is None
        active = only_point(stable.metric("http.server.active_requests"))
        assert set(active["attributes"]) == NEW_ACTIVE_KEYS
        assert active["value"] == 0

    def test_http_dup_gives_both_attribute_sets_and_both_histograms(self, dup: Run) -> None:
        """``http/dup``: old and stable attributes side by side on the span, and both duration
        histograms (ms and s), each with its own attribute set."""
        server = dup.request("alice").server
        assert server is not None
        attributes = server.attributes
        assert attributes["http.method"] == attributes["http.request.method"] == "GET"
        assert attributes["http.status_code"] == attributes["http.response.status_code"] == 200
        assert attributes["http.target"] == "/rolldice?player=alice"
        assert attributes["url.path"] == "/rolldice"
        assert attributes["http.scheme"] == attributes["url.scheme"] == "http"
        assert attributes["http.route"] == "/rolldice"
        old = dup.metric("http.server.duration")
        new = dup.metric("http.server.request.duration")
        assert (old.unit, new.unit) == ("ms", "s")
        assert set(only_point(old)["attributes"]) == OLD_DURATION_KEYS
        assert set(only_point(new)["attributes"]) == NEW_DURATION_KEYS
        active = only_point(dup.metric("http.server.active_requests"))
        assert set(active["attributes"]) == OLD_ACTIVE_KEYS | NEW_ACTIVE_KEYS


# -- bad configuration ---------------------------------------------------------------------


class TestInvalidExcludedUrls:
    def test_invalid_regex_warns_once_on_stderr_and_the_app_is_traced(
        self, invalid_regex: Run
    ) -> None:
        """``OTEL_PYTHON_FLASK_EXCLUDED_URLS=([``: one warning naming the variable on stderr,
        no traceback, and the app still answers and is traced (nothing excluded)."""
        warnings = [line for line in invalid_regex.stderr.splitlines() if "EXCLUDED_URLS" in line]
        assert len(warnings) == 1, invalid_regex.stderr
        assert "OTEL_PYTHON_FLASK_EXCLUDED_URLS" in warnings[0]
        assert "([" in warnings[0]
        assert "Traceback" not in invalid_regex.stderr
        assert invalid_regex.responses["/rolldice?player=alice"][0] == 200
        servers = invalid_regex.telemetry.spans_of_kind("SERVER")
        assert [s.name for s in servers] == ["GET /rolldice"]
        rolls = invalid_regex.telemetry.spans_named("roll")
        assert [r.parent_id for r in rolls] == [servers[0].span_id]

    def test_invalid_regex_warning_is_exported_once_with_logs_instrumentation(
        self, invalid_regex_logs_exported: Run
    ) -> None:
        """With the guide's logs auto-instrumentation, the same single warning is exported as
        a WARN log record naming the variable, and the request is still traced."""
        records = invalid_regex_logs_exported.telemetry.logs_containing("EXCLUDED_URLS")
        assert [
            (r.severity_text, "OTEL_PYTHON_FLASK_EXCLUDED_URLS" in r.body) for r in records
        ] == [("WARN", True)]
        alice = invalid_regex_logs_exported.request("alice")
        assert alice.server is not None
        assert alice.roll.parent_id == alice.server.span_id


class TestShutdown:
    def test_sigint_stops_the_server_cleanly(self, guide: Run) -> None:
        """Ctrl-C (SIGINT) ends ``flask run`` with status 0, and the SDK's exit hooks flush a
        final metrics export after the last request."""
        assert guide.returncode == 0
        assert guide.telemetry.metric_exports
        assert "Traceback" not in _without_sdk_exit_noise(guide.stderr)


# The SDK's log handler starts a thread from logging's atexit flush, which Python 3.12+ refuses
# ("can't create new thread at interpreter shutdown"); it is printed after everything was
# exported and is the SDK's, not the instrumentation's.
_SDK_EXIT_NOISE = re.compile(
    r"Exception ignored in atexit callback: <function shutdown at 0x[0-9a-f]+>\n"
    r"Traceback \(most recent call last\):\n(?:  .*\n)*?"
    r"RuntimeError: can't create new thread at interpreter shutdown\n?"
)


def _without_sdk_exit_noise(stderr: str) -> str:
    return _SDK_EXIT_NOISE.sub("", stderr)
