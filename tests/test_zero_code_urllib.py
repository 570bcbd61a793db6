"""Zero-code urllib: a script calling ``urllib.request.urlopen``, run under
``opentelemetry-instrument`` against a real HTTP server on loopback (in the test process).

The script's spans and metrics go to the console exporters (stdout, parsed with the dice
example's ``console_telemetry.py``). One process per configuration (module-scoped), run once;
the tests only read what it left.
"""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from console_telemetry import ConsoleTelemetry, Span

from tests.support.agent import BIN, clean_environ
from tests.support.http_server import Seen, TestServer

pytestmark = pytest.mark.subprocess

SCRIPT = textwrap.dedent(
    """
    import sys
    import urllib.error
    import urllib.request

    base = sys.argv[1]
    urllib.request.urlopen(base + "/ok?via=get", timeout=10).read()
    urllib.request.urlopen(base + "/echo?via=post", b"payload", timeout=10).read()
    urllib.request.urlopen(base + "/redirect?via=redirect", timeout=10).read()  # 302 to /ok
    try:
        urllib.request.urlopen(base + "/status/404?via=missing", timeout=10)
    except urllib.error.HTTPError as error:
        print("caught", error.code, flush=True)
    urllib.request.urlopen(base + "/healthz?via=excluded", timeout=10).read()
    print("script done", flush=True)
    """
)


@dataclass(frozen=True)
class Run:
    telemetry: ConsoleTelemetry
    stdout: str
    stderr: str
    returncode: int
    seen: list[Seen]

    def span_via(self, via: str) -> Span:
        spans = [
            s
            for s in self.telemetry.spans_of_kind("CLIENT")
            if f"via={via}" in str(s.attributes.get("http.url"))
        ]
        assert len(spans) == 1, (via, [s.attributes for s in self.telemetry.spans])
        return spans[0]

    def seen_via(self, via: str) -> list[Seen]:
        return [seen for seen in self.seen if f"via={via}" in seen.path]


def run_script(tmp: Path, **variables: str) -> Run:
    server = TestServer()
    try:
        script = tmp / "client.py"
        script.write_text(SCRIPT)
        environ = clean_environ("PYTHONPATH", OTEL_METRIC_EXPORT_INTERVAL="60000", **variables)
        command = [
            str(BIN / "opentelemetry-instrument"),
            "--traces_exporter", "console",
            "--metrics_exporter", "console",
            "--logs_exporter", "none",
            "--service_name", "urllib-client",
            str(BIN / "python"), str(script), server.origin,
        ]  # fmt: skip
        done = subprocess.run(
            command, env=environ, cwd=tmp, capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        server.close()
    return Run(
        ConsoleTelemetry.parse(done.stdout), done.stdout, done.stderr, done.returncode, server.seen
    )


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Every installed instrumentor on, ``/healthz`` excluded by the urllib variable."""
    return run_script(tmp_path_factory.mktemp("traced"), OTEL_PYTHON_URLLIB_EXCLUDED_URLS="healthz")


@pytest.fixture(scope="module")
def disabled(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=urllib``."""
    return run_script(
        tmp_path_factory.mktemp("disabled"), OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="urllib"
    )


def parent_ids(seen: Seen) -> Optional[tuple[str, str]]:
    header = seen.headers.get("traceparent")
    if header is None:
        return None
    _, trace_id, span_id, _ = str(header).split("-")
    return f"0x{trace_id}", f"0x{span_id}"


class TestZeroCode:
    def test_one_client_span_per_urlopen_whose_context_reaches_the_server(
        self, traced: Run
    ) -> None:
        """Each ``urlopen`` is one CLIENT span of ``instrumentarium.urllib`` and every request
        the server received for it (both hops of the redirect) carries its traceparent."""
        assert traced.returncode == 0, traced.stderr
        assert "script done" in traced.stdout
        for via in ("get", "post", "redirect", "missing"):
            span = traced.span_via(via)
            hits = traced.seen_via(via)
            if via == "redirect":
                hits += [seen for seen in traced.seen if seen.path == "/ok"]
            assert {parent_ids(hit) for hit in hits} == {(span.trace_id, span.span_id)}, via
        assert len(traced.telemetry.spans) == 4
        assert [s.name for s in traced.telemetry.spans].count("POST") == 1

    def test_status_and_errors(self, traced: Run) -> None:
        """The redirect ends 200 and UNSET; the 404 (an ``HTTPError`` the script catches) is
        ERROR with its status."""
        redirect = traced.span_via("redirect")
        assert (redirect.attributes["http.status_code"], redirect.status_code) == (200, "UNSET")
        missing = traced.span_via("missing")
        assert (missing.attributes["http.status_code"], missing.status_code) == (404, "ERROR")
        assert "caught 404" in traced.stdout

    def test_excluded_url_is_neither_traced_nor_propagated(self, traced: Run) -> None:
        """``OTEL_PYTHON_URLLIB_EXCLUDED_URLS=healthz``: no span, no traceparent."""
        (seen,) = traced.seen_via("excluded")
        assert parent_ids(seen) is None

    def test_duration_metric_is_exported(self, traced: Run) -> None:
        """``http.client.duration`` holds the four traced calls (the 404 included)."""
        metric = traced.telemetry.metric("http.client.duration")
        assert metric is not None
        assert sum(point["count"] for point in metric.data_points) == 4
        assert metric.scope == "instrumentarium.urllib"

    def test_disabled_by_its_entry_point_name(self, disabled: Run) -> None:
        """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=urllib``: no span, no traceparent."""
        assert disabled.returncode == 0, disabled.stderr
        assert disabled.telemetry.spans_of_kind("CLIENT") == []
        assert [parent_ids(seen) for seen in disabled.seen] == [None] * len(disabled.seen)
