"""Tornado, both sides.

* ``tornado``: ``GET /users/42?q=abc`` against the rule ``/users/(\\d+)`` (a small string),
  served by a real Tornado ``HTTPServer`` on loopback and sent over one keep-alive connection by
  a raw asyncio stream on the same loop (which neither instrumentor traces): the server side
  alone, one span per call. Both instrumentors are instrumented before the app is made, as
  upstream's needs (ours covers earlier apps too).
* ``tornado-client``: ``AsyncHTTPClient.fetch`` of a small body from the local HTTP/1.1 server of
  the client workloads (Tornado's simple client opens a connection per fetch), run to completion
  on an event loop of its own: the client side alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Call, Providers, Workload, upstream_requirement

if TYPE_CHECKING:
    import tornado.web

TARGET = "/users/42?q=abc"
BODY = b"user 42"
CLIENT_BODY = b"ok"  # what the client workloads' server answers


def _app() -> tornado.web.Application:
    import tornado.web

    class User(tornado.web.RequestHandler):
        def get(self, user_id: str) -> None:
            self.write(f"user {user_id}")

    return tornado.web.Application([(r"/users/(\d+)", User)])


def _served(app: tornado.web.Application) -> Call:
    """A server for ``app`` on an event loop of its own, and a call: one GET over one keep-alive
    connection, written and read with asyncio streams on that loop. Server and client share the
    loop, so the server's span has ended when the call returns (its end follows the write in the
    same step of the handler's task)."""
    import asyncio

    import tornado.httpserver
    import tornado.testing

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sock, port = tornado.testing.bind_unused_port()

    async def start() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        return await asyncio.open_connection("127.0.0.1", port)

    reader, writer = loop.run_until_complete(start())
    request = f"GET {TARGET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()

    async def round_trip() -> bytes:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        start = head.lower().index(b"content-length:") + 15
        length = int(head[start : head.index(b"\r\n", start)])
        return await reader.readexactly(length)

    def call() -> bytes:
        return loop.run_until_complete(round_trip())

    return call


def _fetching() -> Call:
    import asyncio

    import tornado.httpclient

    from ._http_server import server_url

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    url = server_url()

    def call() -> bytes:
        return bytes(loop.run_until_complete(client.fetch(url)).body)

    return call


def _client_bare(providers: Providers) -> Call:
    return _fetching()


def _client_instrumentarium(providers: Providers) -> Call:
    from instrumentarium.tornado import TornadoInstrumentor

    TornadoInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _fetching()


def _client_upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.tornado import TornadoInstrumentor

    TornadoInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _fetching()


def _carrier() -> dict[str, object]:
    return {}


def _bare(providers: Providers) -> Call:
    return _served(_app())


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.tornado import TornadoInstrumentor

    TornadoInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _served(_app())


def _upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.tornado import TornadoInstrumentor

    TornadoInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _served(_app())


def _peer(providers: Providers) -> Call:
    from sentry_sdk.integrations.tornado import TornadoIntegration

    from . import _sentry

    _sentry.init(TornadoIntegration())
    return _served(_app())


WORKLOADS = (
    Workload(
        name="tornado",
        description="Tornado HTTPServer on loopback, GET /users/42?q=abc (rule /users/(\\d+)),"
        " one keep-alive connection",
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        peer=_peer,
        carrier=_carrier,
        expect=BODY,
        packages=("tornado",),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-tornado"),),
        show_versions=("tornado",),
    ),
    Workload(
        name="tornado-client",
        description="AsyncHTTPClient.fetch of 2 bytes from a local HTTP/1.1 server",
        bare=_client_bare,
        instrumentarium=_client_instrumentarium,
        upstream=_client_upstream,
        carrier=_carrier,
        expect=CLIENT_BODY,
        packages=("tornado",),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-tornado"),),
        show_versions=("tornado",),
    ),
)
