"""``falcon.asgi`` apps served by a real uvicorn on loopback (its own thread and event loop),
driven over a socket as a user's clients would."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import context as otel_context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import SpanKind, StatusCode

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class TestUvicorn:
    def test_request_over_http_is_one_server_span_with_the_asgi_attributes(
        self, make_asgi_app, instrument, serve_asgi, span_exporter, wait_until
    ):
        """A request over a socket: one SERVER span named by the ``uri_template``, continuing
        the caller's trace, with the ASGI attributes (a signature redacted in ``http.url``),
        the client's address, ``http.route`` and ``falcon.resource``; no span per send."""
        app = make_asgi_app()
        instrument()
        port = serve_asgi(app)
        status, body = get(
            port, "/users/7?sig=secret&x=1", {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"}
        )
        assert (status, body) == (200, b"user 7")
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /users/{user_id:int}"
        assert span.kind is SpanKind.SERVER
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID
        attrs = dict(span.attributes)
        assert attrs["http.target"] == "/users/7"
        assert attrs["http.url"] == f"http://127.0.0.1:{port}/users/7?sig=REDACTED&x=1"
        assert attrs["http.route"] == "/users/{user_id:int}"
        assert attrs["falcon.resource"] == "User"
        assert attrs["http.status_code"] == 200
        assert attrs["net.peer.ip"] == "127.0.0.1"
        assert attrs["net.host.port"] == port
        assert span.status.status_code is StatusCode.UNSET

    def test_http_errors_and_exceptions_get_falcons_statuses(
        self,
        monkeypatch,
        make_asgi_app,
        instrument,
        serve_asgi,
        span_exporter,
        wait_until,
        active_requests,
    ):
        """Over the server as in process: a 4xx ``HTTPError`` is not a server error, a 5xx one
        is an error by its status, an exception Falcon answers with 500 is recorded; no
        request is still active afterwards."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        app = make_asgi_app()
        instrument()
        port = serve_asgi(app)
        assert [get(port, path)[0] for path in ("/missing", "/unavailable", "/boom")] == [
            404,
            503,
            500,
        ]
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 3)
        by_route = {s.attributes["http.route"]: s for s in span_exporter.get_finished_spans()}
        missing, unavailable, boom = (by_route[r] for r in ("/missing", "/unavailable", "/boom"))
        assert missing.name == "GET /missing"
        assert missing.status.status_code is StatusCode.UNSET
        assert "error.type" not in missing.attributes
        assert unavailable.status.status_code is StatusCode.ERROR
        assert unavailable.attributes["error.type"] == "503"
        assert unavailable.events == ()
        assert boom.status.status_code is StatusCode.ERROR
        assert boom.status.description == "ValueError: bad"
        assert boom.attributes["error.type"] == "500"
        assert [e.name for e in boom.events] == ["exception"]
        wait_until(lambda: active_requests() == 0)

    def test_streamed_response_is_timed_to_the_last_byte(
        self, make_asgi_app, instrument, serve_asgi, span_exporter, active_requests, wait_until
    ):
        """While ``resp.stream`` is being sent the span is open and the request active; it
        ends once the last chunk was sent."""
        proceed = threading.Event()
        last_chunk_done: list[int] = []

        class Slow:
            async def on_get(self, req, resp):
                async def body() -> AsyncIterator[bytes]:
                    yield b"first;"
                    while not proceed.is_set():
                        await asyncio.sleep(0.005)
                    yield b"last"
                    last_chunk_done.append(time.time_ns())

                resp.stream = body()

        app = make_asgi_app()
        app.add_route("/slow", Slow())
        instrument()
        port = serve_asgi(app)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with contextlib.closing(connection):
            connection.request("GET", "/slow")
            response = connection.getresponse()
            assert response.read(len(b"first;")) == b"first;"
            assert span_exporter.get_finished_spans() == ()
            assert active_requests() == 1
            proceed.set()
            assert response.read() == b"last"
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        [span] = span_exporter.get_finished_spans()
        assert span.name == "GET /slow"
        assert span.end_time >= last_chunk_done[0]
        wait_until(lambda: active_requests() == 0)

    def test_concurrent_requests_each_get_their_own_span_and_hook_call(
        self, make_asgi_app, instrument, serve_asgi, span_exporter, wait_until
    ):
        """Twenty requests on parallel connections, interleaved on one event loop: twenty
        spans, each with its own route, and each hook call sees its own request and span (the
        context variable is the task's)."""
        pairs: list[tuple[int, str]] = []

        class Yielding:
            async def on_get(self, req, resp, user_id):
                await asyncio.sleep(0.01)  # let the other requests' tasks run in between
                resp.text = f"user {user_id}"

        app = make_asgi_app()
        app.add_route("/slow-users/{user_id:int}", Yielding())
        instrument(
            response_hook=lambda span, req, resp: pairs.append(
                (span.get_span_context().span_id, req.path)
            )
        )
        port = serve_asgi(app)
        paths = [f"/slow-users/{i}" if i % 2 else "/health" for i in range(20)]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda path: get(port, path), paths))
        assert all(status == 200 for status, _ in results)
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 20)
        by_id = {span.context.span_id: span for span in span_exporter.get_finished_spans()}
        assert len(by_id) == 20
        assert sorted(path for _, path in pairs) == sorted(paths)
        for span_id, path in pairs:
            expected = "GET /health" if path == "/health" else "GET /slow-users/{user_id:int}"
            assert by_id[span_id].name == expected

    def test_excluded_path_is_untraced_and_suppresses_what_runs_below(
        self, monkeypatch, make_asgi_app, instrument, serve_asgi, span_exporter, wait_until
    ):
        """``OTEL_PYTHON_FALCON_EXCLUDED_URLS`` is searched in the path, as for WSGI apps: the
        excluded request has no span, and the instrumentation below it is suppressed (no orphan
        root spans from its database or HTTP client calls)."""
        monkeypatch.setenv("OTEL_PYTHON_FALCON_EXCLUDED_URLS", "^/quiet$")
        suppressed: list[object] = []

        class Quiet:
            async def on_get(self, req, resp):
                suppressed.append(otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY))
                resp.text = "quiet"

        app = make_asgi_app()
        app.add_route("/quiet", Quiet())
        instrument()
        port = serve_asgi(app)
        assert get(port, "/quiet") == (200, b"quiet")
        assert get(port, "/users/1") == (200, b"user 1")
        wait_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        assert [s.name for s in span_exporter.get_finished_spans()] == ["GET /users/{user_id:int}"]
        assert suppressed == [True]

    def test_lifespan_runs_untraced(self, make_asgi_app, instrument, serve_asgi, span_exporter):
        """uvicorn's lifespan events reach the app's startup middleware; they make no span."""
        started: list[str] = []

        class Startup:
            async def process_startup(self, scope, event):
                started.append("startup")

        app = make_asgi_app(middleware=[Startup()])
        instrument()
        serve_asgi(app)
        assert started == ["startup"]
        assert span_exporter.get_finished_spans() == ()
