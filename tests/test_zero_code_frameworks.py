"""Zero-code Pyramid and Falcon: a WSGI app with no OpenTelemetry code
(``tests/support/framework_apps.py``, served by wsgiref; Falcon's ASGI app by uvicorn) under
``opentelemetry-instrument`` with console exporters, driven over HTTP, stopped with SIGINT so
the SDK flushes; stdout is parsed with the dice example's ``console_telemetry.py``. The
variables are set exactly as the getting-started guide writes them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from console_telemetry import ConsoleTelemetry, Span
from drive import DiceServer

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class FrameworkServer(DiceServer):
    """``DiceServer``'s lifecycle with ``python -m tests.support.framework_apps``."""

    def __init__(self, framework: str, extra_env: Optional[Mapping[str, str]] = None) -> None:
        self.framework = framework
        super().__init__(BIN_DIR, extra_env, service_name=f"{framework}-server")
        self.env["PYTHONPATH"] = str(ROOT)

    def _use_port(self, port: int) -> None:
        super()._use_port(port)
        agent = self.command[: self.command.index("flask")]
        module = "tests.support.framework_apps"
        if self.framework == "falcon-asgi":
            self.command = [
                *agent,
                str(BIN_DIR / "uvicorn"),
                "--host=127.0.0.1",
                f"--port={port}",
                "--no-access-log",
                "--ws=none",
                "--factory",
                f"{module}:falcon_asgi_app",
            ]
        else:
            self.command = [*agent, sys.executable, "-m", module, self.framework, str(port)]


@dataclass(frozen=True)
class Run:
    telemetry: ConsoleTelemetry
    stderr: str
    returncode: int
    responses: Mapping[str, int]

    def server_span(self, name: str) -> Span:
        spans = [s for s in self.telemetry.spans_of_kind("SERVER") if s.name == name]
        assert len(spans) == 1, (name, [s.name for s in self.telemetry.spans])
        return spans[0]


def run(framework: str, paths: Sequence[str], extra_env: Mapping[str, str]) -> Run:
    with FrameworkServer(framework, extra_env) as server:
        headers = {"traceparent": TRACEPARENT}
        responses = {path: server.get(path, headers)[0] for path in paths}
        finished = server.stop()
    return Run(
        ConsoleTelemetry.parse(finished.stdout), finished.stderr, finished.returncode, responses
    )


@pytest.fixture(scope="module")
def pyramid_run() -> Run:
    return run(
        "pyramid",
        ["/users/7", "/boom", "/healthz", "/nowhere"],
        {"OTEL_PYTHON_PYRAMID_EXCLUDED_URLS": "healthz"},
    )


@pytest.fixture(scope="module")
def falcon_run() -> Run:
    return run(
        "falcon",
        ["/users/7?a=1", "/boom", "/healthz", "/nowhere"],
        {
            "OTEL_PYTHON_FALCON_EXCLUDED_URLS": "healthz",
            "OTEL_PYTHON_FALCON_TRACED_REQUEST_ATTRS": "query_string,uri_template",
        },
    )


@pytest.fixture(scope="module")
def falcon_asgi_run() -> Run:
    return run(
        "falcon-asgi",
        ["/users/7?a=1", "/boom", "/healthz", "/nowhere"],
        {
            "OTEL_PYTHON_FALCON_EXCLUDED_URLS": "healthz",
            "OTEL_PYTHON_FALCON_TRACED_REQUEST_ATTRS": "query_string,uri_template",
        },
    )


def test_pyramid_requests_are_traced_by_route(pyramid_run: Run) -> None:
    """Under the agent, each Pyramid request is one SERVER span named by its route pattern
    (the method alone when none matched), continuing the caller's trace; the excluded URL
    has none; the unhandled exception is ERROR with its event; the server stops cleanly."""
    assert pyramid_run.responses == {"/users/7": 200, "/boom": 500, "/healthz": 404,
                                     "/nowhere": 404}  # fmt: skip
    assert pyramid_run.returncode == 0, pyramid_run.stderr
    names = sorted(s.name for s in pyramid_run.telemetry.spans_of_kind("SERVER"))
    assert names == ["GET", "GET /boom", "GET /users/{user_id}"]
    span = pyramid_run.server_span("GET /users/{user_id}")
    assert span.attributes["http.route"] == "/users/{user_id}"
    assert span.trace_id == "0x4bf92f3577b34da6a3ce929d0e0e4736"
    boom = pyramid_run.server_span("GET /boom")
    assert boom.status_code == "ERROR"
    assert [e["name"] for e in boom.raw["events"]] == ["exception"]
    metric = pyramid_run.telemetry.metric("http.server.duration")
    assert metric is not None
    assert metric.scope == "instrumentarium.pyramid"


def test_falcon_requests_are_traced_with_the_guides_traced_attributes(falcon_run: Run) -> None:
    """Under the agent, each Falcon request is one SERVER span named by its ``uri_template``,
    with ``query_string`` and ``uri_template`` from the guide's
    ``OTEL_PYTHON_FALCON_TRACED_REQUEST_ATTRS``; the excluded URL has none; the exception
    Falcon answers with 500 is ERROR with its event."""
    assert falcon_run.responses == {"/users/7?a=1": 200, "/boom": 500, "/healthz": 404,
                                    "/nowhere": 404}  # fmt: skip
    assert falcon_run.returncode == 0, falcon_run.stderr
    names = sorted(s.name for s in falcon_run.telemetry.spans_of_kind("SERVER"))
    assert names == ["GET", "GET /boom", "GET /users/{user_id:int}"]
    span = falcon_run.server_span("GET /users/{user_id:int}")
    assert span.attributes["query_string"] == "a=1"
    assert span.attributes["uri_template"] == "/users/{user_id:int}"
    assert span.attributes["falcon.resource"] == "User"
    assert span.trace_id == "0x4bf92f3577b34da6a3ce929d0e0e4736"
    boom = falcon_run.server_span("GET /boom")
    assert boom.status_code == "ERROR"
    assert [e["name"] for e in boom.raw["events"]] == ["exception"]
    metric = falcon_run.telemetry.metric("http.server.duration")
    assert metric is not None
    assert metric.scope == "instrumentarium.falcon"


def test_falcon_asgi_requests_under_uvicorn_are_traced_like_wsgi_ones(
    falcon_asgi_run: Run,
) -> None:
    """Under the agent, ``uvicorn`` serving a ``falcon.asgi`` app: each request is one span,
    SERVER, named by its ``uri_template``, with the guide's traced request attributes,
    continuing the caller's trace; the excluded URL has none; the exception Falcon answers
    with 500 is ERROR with its event; the metrics are Falcon's; uvicorn stops cleanly."""
    assert falcon_asgi_run.responses == {"/users/7?a=1": 200, "/boom": 500, "/healthz": 404,
                                         "/nowhere": 404}  # fmt: skip
    assert falcon_asgi_run.returncode == 0, falcon_asgi_run.stderr
    assert sorted(s.name for s in falcon_asgi_run.telemetry.spans) == [
        "GET",
        "GET /boom",
        "GET /users/{user_id:int}",
    ]
    span = falcon_asgi_run.server_span("GET /users/{user_id:int}")
    assert span.attributes["query_string"] == "a=1"
    assert span.attributes["uri_template"] == "/users/{user_id:int}"
    assert span.attributes["falcon.resource"] == "User"
    assert span.attributes["http.route"] == "/users/{user_id:int}"
    assert span.trace_id == "0x4bf92f3577b34da6a3ce929d0e0e4736"
    boom = falcon_asgi_run.server_span("GET /boom")
    assert boom.status_code == "ERROR"
    assert [e["name"] for e in boom.raw["events"]] == ["exception"]
    metric = falcon_asgi_run.telemetry.metric("http.server.duration")
    assert metric is not None
    assert metric.scope == "instrumentarium.falcon"
