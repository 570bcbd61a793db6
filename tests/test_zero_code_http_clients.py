"""Zero-code HTTP clients: a script making requests and urllib3 calls, under
``opentelemetry-instrument``, against a real HTTP server on loopback (in the test process).

The script's spans go to the console exporter (stdout, parsed with the dice example's
``console_telemetry.py``); its metrics go with the OTLP/HTTP exporter, which sends them *with
requests*, to the same local server. So the server sees both the script's own requests (each
tagged with a ``via`` query parameter) and the exporter's ``POST /v1/metrics``: the first must
carry the ``traceparent`` of exactly one CLIENT span each, the second must not be traced at all.
One process per configuration (module-scoped), run once; the tests only read what it left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from console_telemetry import ConsoleTelemetry, Span

from tests.support.http_server import Seen, TestServer

pytestmark = pytest.mark.subprocess

BIN_DIR = Path(sys.executable).parent

SCRIPT = textwrap.dedent(
    """
    import sys
    import time

    import requests
    import urllib3

    base = sys.argv[1]
    requests.get(base + "/ok?via=requests-get", timeout=10)
    with requests.Session() as session:
        session.post(base + "/echo?via=requests-post", data=b"payload", timeout=10)
    requests.get(base + "/redirect?via=requests-redirect", timeout=10)  # 302 to /ok
    http = urllib3.PoolManager()
    http.request("GET", base + "/ok?via=urllib3-get")
    retry = urllib3.Retry(2, status_forcelist=[503], backoff_factor=0, raise_on_status=False)
    http.request("GET", base + "/status/503?via=urllib3-retried", retries=retry)
    time.sleep(0.6)  # a few periodic metric exports through the OTLP/HTTP exporter
    print("script done", flush=True)
    """
)

VIAS = ("requests-get", "requests-post", "requests-redirect", "urllib3-get", "urllib3-retried")
TRACEPARENT = "traceparent"


@dataclass(frozen=True)
class Run:
    telemetry: ConsoleTelemetry
    stdout: str
    stderr: str
    returncode: int
    seen: list[Seen]
    origin: str

    def clients(self) -> list[Span]:
        return self.telemetry.spans_of_kind("CLIENT")

    def requests_via(self, via: str) -> list[Seen]:
        """What the server received for one script call (a redirect's target included)."""
        hits = [seen for seen in self.seen if f"via={via}" in seen.path]
        if via == "requests-redirect":
            hits += [seen for seen in self.seen if seen.path == "/ok"]
        return hits

    def span_via(self, via: str) -> Span:
        spans = [s for s in self.clients() if f"via={via}" in str(s.attributes.get("http.url"))]
        assert len(spans) == 1, (via, [s.attributes for s in self.clients()])
        return spans[0]

    def exporter_requests(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.path.startswith("/v1/")]


def run_script(tmp: Path, extra_env: Optional[Mapping[str, str]] = None) -> Run:
    server = TestServer()
    try:
        script = tmp / "clients.py"
        script.write_text(SCRIPT)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            PATH=os.pathsep.join([str(BIN_DIR), env.get("PATH", "")]),
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=server.url("/v1/metrics"),
            OTEL_METRIC_EXPORT_INTERVAL="200",
        )
        env.update(extra_env or {})
        command = [
            str(BIN_DIR / "opentelemetry-instrument"),
            "--traces_exporter", "console",
            "--metrics_exporter", "otlp",
            "--logs_exporter", "none",
            "--service_name", "http-clients",
            str(BIN_DIR / "python"), str(script), server.origin,
        ]  # fmt: skip
        done = subprocess.run(
            command, env=env, cwd=tmp, capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        server.close()
    return Run(
        ConsoleTelemetry.parse(done.stdout),
        done.stdout,
        done.stderr,
        done.returncode,
        list(server.seen),
        server.origin,
    )


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Both instrumentors on, as ``opentelemetry-instrument`` enables every installed one."""
    return run_script(tmp_path_factory.mktemp("both"))


@pytest.fixture(scope="module")
def urllib3_only(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=requests``: urllib3 underneath traces it all."""
    return run_script(
        tmp_path_factory.mktemp("urllib3"), {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests"}
    )


def parent_ids(seen: Seen) -> Optional[tuple[str, str]]:
    """(trace id, parent span id) of a received ``traceparent`` (flags vary by SDK)."""
    header = seen.headers.get(TRACEPARENT)
    if header is None:
        return None
    _, trace_id, span_id, _ = header.split("-")
    return f"0x{trace_id}", f"0x{span_id}"


def assert_one_span_per_call(run: Run, vias: tuple[str, ...] = VIAS) -> None:
    assert run.returncode == 0, run.stderr
    assert "script done" in run.stdout
    for via in vias:
        span = run.span_via(via)
        hits = run.requests_via(via)
        assert hits, via
        assert {parent_ids(hit) for hit in hits} == {(span.trace_id, span.span_id)}, via
        assert span.parent_id is None


class TestBothInstrumented:
    def test_one_client_span_per_call_whose_context_reaches_the_server(self, both: Run) -> None:
        """Each call is exactly one CLIENT span, although requests runs over urllib3 and both
        are instrumented; every request the server received for it (the redirect's second
        hop and urllib3's two retries included) carries that span's ``traceparent``."""
        assert_one_span_per_call(both)
        clients = both.clients()
        assert len(clients) == len(VIAS), [s.attributes.get("http.url") for s in clients]
        assert both.telemetry.spans == clients, "only the CLIENT spans of the script's calls"
        assert len(both.requests_via("urllib3-retried")) == 3
        assert len(both.requests_via("requests-redirect")) == 2

    def test_requests_calls_are_traced_by_the_requests_instrumentor(self, both: Run) -> None:
        """The requests calls' spans are requests' (``user_agent.original``, which only the
        requests instrumentor writes); the urllib3 calls' spans are urllib3's."""
        for via in ("requests-get", "requests-post", "requests-redirect"):
            agent = str(both.span_via(via).attributes.get("user_agent.original"))
            assert agent.startswith("python-requests/"), via
        for via in ("urllib3-get", "urllib3-retried"):
            assert "user_agent.original" not in both.span_via(via).attributes

    def test_span_attributes_and_status(self, both: Run) -> None:
        """Named by the method; the final status of the call (200 after the redirect, 503 after
        the retries, which is ERROR for a client)."""
        redirect = both.span_via("requests-redirect")
        assert (redirect.name, redirect.attributes["http.status_code"]) == ("GET", 200)
        assert redirect.status_code == "UNSET"
        post = both.span_via("requests-post")
        assert post.name == "POST"
        assert post.attributes["http.url"] == both.origin + "/echo?via=requests-post"
        retried = both.span_via("urllib3-retried")
        assert (retried.attributes["http.status_code"], retried.status_code) == (503, "ERROR")

    def test_exporter_traffic_is_not_traced(self, both: Run) -> None:
        """The OTLP/HTTP metrics exporter's POSTs (made with requests, under the SDK's
        suppression) reach the server without a ``traceparent`` and make no span."""
        exports = both.exporter_requests()
        assert exports, "the metrics exporter sent nothing"
        assert all(seen.method == "POST" and seen.path == "/v1/metrics" for seen in exports)
        assert [seen.headers.get(TRACEPARENT) for seen in exports] == [None] * len(exports)
        assert not [s for s in both.telemetry.spans if "/v1/" in str(s.attributes)]

    def test_metrics_are_exported_per_instrumentor(self, both: Run) -> None:
        """The last OTLP export holds ``http.client.duration`` from both scopes: three requests
        calls and two urllib3 calls (one point per call, whatever the retries)."""
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceRequest,
        )

        last = ExportMetricsServiceRequest.FromString(both.exporter_requests()[-1].body)
        counts: dict[str, int] = {}
        for resource_metrics in last.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == "http.client.duration":
                        total = sum(p.count for p in metric.histogram.data_points)
                        counts[scope_metrics.scope.name] = total
        assert counts == {"instrumentarium.requests": 3, "instrumentarium.urllib3": 2}


class TestRequestsDisabled:
    def test_urllib3_alone_gives_one_span_per_urlopen(self, urllib3_only: Run) -> None:
        """With the requests instrumentor disabled, urllib3's traces requests' calls: one
        CLIENT span per call (none for the exporter), with no requests-only attribute. The
        redirect requests follows itself is two ``urlopen`` calls, hence two spans, each
        propagated to its own hop (it is the requests instrumentor that makes it one)."""
        vias = tuple(via for via in VIAS if via != "requests-redirect")
        assert_one_span_per_call(urllib3_only, vias)
        for via in vias:
            assert "user_agent.original" not in urllib3_only.span_via(via).attributes
        hops = urllib3_only.requests_via("requests-redirect")
        hop_spans = [
            s for s in urllib3_only.clients() if (s.trace_id, s.span_id) in map(parent_ids, hops)
        ]
        assert len(hops) == len(hop_spans) == 2
        assert len(urllib3_only.clients()) == len(VIAS) + 1
        exports = urllib3_only.exporter_requests()
        assert exports
        assert [seen.headers.get(TRACEPARENT) for seen in exports] == [None] * len(exports)
