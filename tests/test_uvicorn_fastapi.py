"""FastAPI behind a real uvicorn, zero-code: ``opentelemetry-instrument uvicorn fastapi_app:app``
with console exporters, in a subprocess (one server for the module), driven over HTTP/1.1 on one
keep-alive connection, a streamed response and a websocket; stdout is parsed with the dice
example's ``console_telemetry.py``.

The app (``instrumentation/instrumentarium-fastapi/tests/uvicorn_app/fastapi_app.py``) has no
OpenTelemetry code: everything comes from the ``fastapi`` entry point, and FastAPI's own
built-in tracing (on by itself when the agent sets a global provider) must stay off.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
from console_telemetry import ConsoleTelemetry, Span
from drive import DiceServer

pytestmark = pytest.mark.subprocess

BIN_DIR = Path(sys.executable).parent
APP_DIR = (
    Path(__file__).resolve().parents[1]
    / "instrumentation"
    / "instrumentarium-fastapi"
    / "tests"
    / "uvicorn_app"
)
CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"


class UvicornServer(DiceServer):
    """``DiceServer``'s lifecycle (free port, readiness by connect, SIGINT, output files) with
    uvicorn serving the FastAPI app instead of ``flask run``."""

    def __init__(
        self, extra_env: Optional[Mapping[str, str]] = None, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.extra_args = extra_args
        super().__init__(
            BIN_DIR, extra_env, app=APP_DIR / "fastapi_app.py", service_name="fastapi-server"
        )
        self.env["PYTHONPATH"] = str(APP_DIR)

    def _use_port(self, port: int) -> None:
        super()._use_port(port)
        agent = self.command[: self.command.index("flask")]
        self.command = [
            *agent,
            str(BIN_DIR / "uvicorn"),
            "--host=127.0.0.1",
            f"--port={port}",
            "--no-access-log",
            *self.extra_args,
            "fastapi_app:app",
        ]


@dataclass(frozen=True)
class Run:
    telemetry: ConsoleTelemetry
    stderr: str
    returncode: int
    answers: Mapping[str, Any]
    one_connection: bool

    def server(self, name: str) -> list[Span]:
        return [s for s in self.telemetry.spans_of_kind("SERVER") if s.name == name]


def _request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Optional[bytes] = None,
    headers: Optional[Mapping[str, str]] = None,
) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=dict(headers or {}))
    response = conn.getresponse()
    return response.status, response.read()


@pytest.fixture(scope="module")
def uvicorn() -> Run:
    from websockets.sync.client import connect

    answers: dict[str, Any] = {}
    with UvicornServer() as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        answers["item"] = _request(conn, "GET", "/api/items/7")
        sock = conn.sock
        answers["echo"] = _request(
            conn,
            "POST",
            "/echo",
            json.dumps({"name": "ann"}).encode(),
            {"Content-Type": "application/json"},
        )
        answers["stream"] = _request(conn, "GET", "/stream")
        answers["nowhere"] = _request(conn, "GET", "/nowhere/42")
        traceparent = f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"
        answers["health"] = _request(conn, "GET", "/health", headers={"traceparent": traceparent})
        one_connection = conn.sock is sock
        # last: uvicorn closes a connection whose app raised (after sending the 500)
        answers["boom"] = _request(conn, "GET", "/boom")
        conn.close()
        with connect(f"ws://127.0.0.1:{server.port}/ws") as websocket:
            websocket.send("hi")
            answers["ws"] = websocket.recv(timeout=10)
            websocket.send("bye")
        finished = server.stop()
    return Run(
        ConsoleTelemetry.parse(finished.stdout),
        finished.stderr,
        finished.returncode,
        answers,
        one_connection,
    )


class TestUvicornZeroCode:
    def test_every_request_answered_on_one_keep_alive_connection(self, uvicorn: Run) -> None:
        """The app answers as without instrumentation, the requests on one HTTP/1.1
        connection, and the server stops cleanly on SIGINT."""
        answers = uvicorn.answers
        assert answers["item"] == (200, b'{"item_id":7}')
        assert answers["echo"] == (200, b'{"name":"ann"}')
        assert answers["stream"] == (200, b"".join(f"chunk {i}\n".encode() for i in range(5)))
        assert answers["boom"][0] == 500
        assert answers["nowhere"][0] == 404
        assert answers["ws"] == "HI"
        assert uvicorn.one_connection
        assert uvicorn.returncode == 0, uvicorn.stderr

    def test_one_server_span_per_request_named_by_route(self, uvicorn: Run) -> None:
        """One SERVER span per request and per websocket, all ours (FastAPI's own tracing is
        off), named by route template; the unmatched path by its method alone."""
        servers = uvicorn.telemetry.spans_of_kind("SERVER")
        assert sorted(s.name for s in servers) == [
            "GET",
            "GET /api/items/{item_id}",
            "GET /boom",
            "GET /health",
            "GET /stream",
            "HTTP /ws",
            "POST /echo",
        ]
        # FastAPI's own spans would double the server spans above and add fastapi.* ones
        assert not [s.name for s in uvicorn.telemetry.spans if s.name.startswith("fastapi.")]
        (item,) = uvicorn.server("GET /api/items/{item_id}")
        assert item.attributes["http.route"] == "/api/items/{item_id}"
        assert item.attributes["http.target"] == "/api/items/7"
        assert item.attributes["http.status_code"] == 200
        assert item.attributes["http.flavor"] == "1.1"
        assert item.raw["resource"]["attributes"]["service.name"] == "fastapi-server"

    def test_streamed_response_span_has_every_chunk(self, uvicorn: Run) -> None:
        """The streamed response's span ends after its last chunk: its send spans (one per
        chunk, plus the start and the closing empty chunk) all lie inside it."""
        (stream,) = uvicorn.server("GET /stream")
        sends = [s for s in uvicorn.telemetry.children(stream) if s.name.endswith("http send")]
        assert len(sends) == 7
        assert all(s.end <= stream.end for s in sends)

    def test_exception_is_error_with_one_event_and_a_500(self, uvicorn: Run) -> None:
        """The handler that raises: ERROR, one ``exception`` event, status 500."""
        (boom,) = uvicorn.server("GET /boom")
        assert boom.status_code == "ERROR"
        assert boom.attributes["http.status_code"] == 500
        events = [e for e in boom.raw["events"] if e["name"] == "exception"]
        assert len(events) == 1
        assert events[0]["attributes"]["exception.type"] == "ValueError"

    def test_caller_traceparent_is_continued(self, uvicorn: Run) -> None:
        """A request with a ``traceparent`` continues the caller's trace."""
        (health,) = uvicorn.server("GET /health")
        assert health.trace_id == f"0x{CALLER_TRACE_ID}"
        assert health.parent_id == f"0x{CALLER_SPAN_ID}"

    def test_background_task_is_in_the_request_trace(self, uvicorn: Run) -> None:
        """The ``BackgroundTasks`` task: its span is a child of the request's, and the log it
        writes carries its span id."""
        (echo,) = uvicorn.server("POST /echo")
        tasks = [s for s in uvicorn.telemetry.spans if s.name == "BackgroundTask _after"]
        assert [t.parent_id for t in tasks] == [echo.span_id]
        (log,) = uvicorn.telemetry.logs_containing("background for ann")
        assert log.span_id == tasks[0].span_id

    def test_websocket_is_one_server_span(self, uvicorn: Run) -> None:
        """The websocket connection is one SERVER span for its whole life, status 200, with a
        span per message below it (upstream's default)."""
        (ws,) = uvicorn.server("HTTP /ws")
        assert ws.attributes["http.status_code"] == 200
        assert ws.attributes["http.scheme"] == "ws"
        names = {s.name for s in uvicorn.telemetry.children(ws)}
        assert names == {"HTTP /ws websocket send", "HTTP /ws websocket receive"}

    def test_metrics(self, uvicorn: Run) -> None:
        """``http.server.duration`` from scope ``instrumentarium.fastapi``: one point per route
        and status (never a raw path), six requests, no websocket; active requests back to 0;
        sizes from ``Content-Length``."""
        metric = uvicorn.telemetry.metric("http.server.duration")
        assert metric is not None, uvicorn.telemetry.metric_names()
        assert metric.scope == "instrumentarium.fastapi"
        assert sum(p["count"] for p in metric.data_points) == 6
        targets = sorted(str(p["attributes"].get("http.target")) for p in metric.data_points)
        assert targets == ["/api/items/{item_id}", "/boom", "/echo", "/health", "/stream", "None"]
        active = uvicorn.telemetry.metric("http.server.active_requests")
        assert active is not None
        assert {p["value"] for p in active.data_points} == {0}
        request_size = uvicorn.telemetry.metric("http.server.request.size")
        assert request_size is not None
        assert [p["sum"] for p in request_size.data_points] == [len('{"name": "ann"}')]


def _agent_reaches_spawned_children() -> bool:
    """Whether ``opentelemetry-instrument`` leaves its start-up directory on ``PYTHONPATH`` once
    it has run (opentelemetry-instrumentation 0.66b0 and later): before that, a process spawned
    later (uvicorn's workers, its reloader's server) starts uninstrumented, which no
    instrumentor can change (upstream #385)."""
    from opentelemetry.instrumentation.version import __version__ as version

    major, minor = (int(re.match(r"\d+", part).group()) for part in version.split(".")[:2])  # type: ignore[union-attr]
    return (major, minor) >= (0, 66)


@pytest.mark.skipif(
    not _agent_reaches_spawned_children(),
    reason="this opentelemetry-instrumentation drops its start-up path before workers spawn",
)
class TestWorkers:
    @pytest.mark.parametrize("flag", ["--workers=2", "--reload"])
    def test_every_workers_requests_are_traced(self, flag: str) -> None:
        """``opentelemetry-instrument uvicorn --workers 2`` (or ``--reload``): each worker
        process is instrumented (upstream #385), so every request, on fresh connections spread
        over the workers, has its server span. (A worker ends through ``os._exit``, without the
        SDK's exit flush, so the batch processor exports on a short schedule here, before the
        stop.)"""
        with UvicornServer({"OTEL_BSP_SCHEDULE_DELAY": "100"}, (flag,)) as server:
            statuses = [server.get(f"/api/items/{n}")[0] for n in range(8)]
            time.sleep(1.0)  # two export periods: every span is out before SIGINT
            finished = server.stop(timeout=30)
        assert statuses == [200] * 8
        telemetry = ConsoleTelemetry.parse(finished.stdout)
        targets = sorted(
            s.attributes["http.target"]
            for s in telemetry.spans_of_kind("SERVER")
            if s.name == "GET /api/items/{item_id}"
        )
        assert targets == sorted(f"/api/items/{n}" for n in range(8)), finished.stderr[-2000:]
