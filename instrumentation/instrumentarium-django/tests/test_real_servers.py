"""The test project under real servers, driven over HTTP: gunicorn (WSGI, sync worker) and
uvicorn (ASGI). Each server process instruments in code (``django_testproject/served.py``) and
prints its spans to stdout with the console exporter; ``console_telemetry.py`` (the dice
example's parser, imported) reads them once the server has stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from console_telemetry import ConsoleTelemetry

pytestmark = pytest.mark.subprocess

HERE = Path(__file__).resolve().parent
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("the server did not start listening in time")


class Server:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()

    def stop(self) -> ConsoleTelemetry:
        """Stop the server gracefully and parse what it printed."""
        self.process.send_signal(signal.SIGINT)
        try:
            stdout, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, _ = self.process.communicate(timeout=10)
        return ConsoleTelemetry.parse(stdout)


@pytest.fixture
def serve() -> Iterator[Callable[[list[str]], Server]]:
    """``serve(argv)`` starts ``python -m <argv>`` with ``{port}`` filled in; always killed."""
    started: list[subprocess.Popen[str]] = []

    def start(argv: list[str]) -> Server:
        port = _free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(HERE))
        process = subprocess.Popen(
            [sys.executable, "-m", *(arg.format(port=port) for arg in argv)],
            cwd=HERE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        started.append(process)
        _wait_for_port(port, process)
        return Server(process, port)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


GUNICORN = [
    "gunicorn",
    "--workers=1",
    "--worker-class=sync",
    "--bind=127.0.0.1:{port}",
    "django_testproject.wsgi:application",
]
UVICORN = [
    "uvicorn",
    "--host=127.0.0.1",
    "--port={port}",
    "--lifespan=off",
    "--log-level=warning",
    "django_testproject.asgi:application",
]


class TestRealServers:
    @pytest.mark.parametrize(
        ("argv", "path", "body"),
        [
            pytest.param(GUNICORN, "/user/9/", b"user 9", id="gunicorn-wsgi"),
            pytest.param(UVICORN, "/async/9/", None, id="uvicorn-asgi"),
        ],
    )
    def test_caller_traceparent_is_continued(self, serve, argv, path, body):
        """Over HTTP, the server span continues the caller's trace: same trace id, the caller's
        span as parent, named by the route, SERVER, with the status."""
        server = serve(argv)
        status, content = server.get(path, {"traceparent": TRACEPARENT})
        assert status == 200
        if body is not None:
            assert content == body
        telemetry = server.stop()
        [span] = telemetry.spans_of_kind("SERVER")
        assert span.trace_id == f"0x{TRACE_ID}"
        assert span.parent_id == f"0x{PARENT_SPAN_ID}"
        route = path.rsplit("/", 2)[0].lstrip("/")
        assert span.name == f"GET {route}/<int:uid>/"
        assert span.http_status == 200
        assert span.attributes["net.peer.ip"] == "127.0.0.1"
