"""Zero-code Tornado: an app with no OpenTelemetry code under ``opentelemetry-instrument`` with
console exporters. It serves on a loopback port and fetches from itself with
``AsyncHTTPClient`` (a URL string and an ``HTTPRequest``), then exits so the SDK flushes; stdout
is parsed with the dice example's ``console_telemetry.py``. The variables are set exactly as the
getting-started guide writes them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from console_telemetry import ConsoleTelemetry

from tests.support.agent import BIN, clean_environ

pytestmark = pytest.mark.subprocess

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

APP = textwrap.dedent(
    f"""
    import asyncio

    import tornado.httpclient
    import tornado.httpserver
    import tornado.testing
    import tornado.web


    class User(tornado.web.RequestHandler):
        async def get(self, uid):
            self.write("user " + uid)


    class Boom(tornado.web.RequestHandler):
        def get(self):
            raise ValueError("bad")


    class Health(tornado.web.RequestHandler):
        def get(self):
            self.write("ok")


    async def main():
        app = tornado.web.Application(
            [(r"/users/(\\d+)", User), (r"/boom", Boom), (r"/healthz", Health)]
        )
        sock, port = tornado.testing.bind_unused_port()
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        client = tornado.httpclient.AsyncHTTPClient()
        base = "http://127.0.0.1:%d" % port
        codes = []
        request = tornado.httpclient.HTTPRequest(
            base + "/users/7?a=1", headers={{"traceparent": "{TRACEPARENT}"}}
        )
        codes.append((await client.fetch(request)).code)
        codes.append((await client.fetch(base + "/boom", raise_error=False)).code)
        codes.append((await client.fetch(base + "/healthz")).code)
        server.stop()
        print("codes", codes, flush=True)


    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def telemetry() -> ConsoleTelemetry:
    environ = clean_environ(
        "PYTHONPATH",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="console",
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="tornado-app",
        OTEL_PYTHON_TORNADO_EXCLUDED_URLS="healthz",
        OTEL_PYTHON_TORNADO_TRACED_REQUEST_ATTRS="uri,query",
    )
    result = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, "-c", APP],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=environ,
    )
    assert result.returncode == 0, result.stderr
    parsed = ConsoleTelemetry.parse(result.stdout)
    assert "codes [200, 500, 200]" in parsed.text_lines, parsed.text_lines
    return parsed


def test_server_spans_by_route_with_the_guides_traced_attributes(
    telemetry: ConsoleTelemetry,
) -> None:
    """Each request is one SERVER span named by its route, with ``uri`` and ``query`` from
    ``OTEL_PYTHON_TORNADO_TRACED_REQUEST_ATTRS``; the excluded URL has none; the exception
    answered 500 is ERROR with its event."""
    names = sorted(s.name for s in telemetry.spans_of_kind("SERVER"))
    assert names == ["GET /boom", "GET /users/{uid}"]
    (user,) = telemetry.spans_named("GET /users/{uid}")
    assert user.attributes["uri"] == "/users/7?a=1"
    assert user.attributes["query"] == "a=1"
    (boom,) = telemetry.spans_named("GET /boom")
    assert boom.status_code == "ERROR"
    assert [e["name"] for e in boom.raw["events"]] == ["exception"]


def test_client_and_server_are_one_trace(telemetry: ConsoleTelemetry) -> None:
    """The server span is the client span's child (the client injected its context over the
    caller's ``traceparent`` header): one trace id across both."""
    (user,) = telemetry.spans_named("GET /users/{uid}")
    client = telemetry.span(user.parent_id)
    assert client is not None
    assert client.kind == "CLIENT"
    assert client.trace_id == user.trace_id
    assert len(telemetry.spans_of_kind("CLIENT")) == 3  # the excluded URL is fetched traced


def test_metrics_of_both_sides(telemetry: ConsoleTelemetry) -> None:
    """The server and client durations are exported under the instrumentarium scope."""
    server = telemetry.metric("http.server.duration")
    client = telemetry.metric("http.client.duration")
    assert server is not None
    assert client is not None
    assert server.scope == "instrumentarium.tornado"
