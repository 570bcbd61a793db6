"""A Pyramid or a Falcon app with no OpenTelemetry code, served by wsgiref on loopback:

    python -m tests.support.framework_apps pyramid|falcon PORT

or a ``falcon.asgi`` app with the same routes, served by uvicorn:

    uvicorn --factory tests.support.framework_apps:falcon_asgi_app

for the zero-code tests (``opentelemetry-instrument`` instruments it through the entry points).
Routes: ``/users/{id}`` (200), ``/boom`` (raises ``ValueError("boom")``), anything else 404.
SIGINT stops the server between requests (never in the middle of a response, where wsgiref
would swallow a KeyboardInterrupt); the process then exits normally, so the SDK flushes.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


def pyramid_app() -> Any:
    from pyramid.config import Configurator
    from pyramid.response import Response

    def user(request: Any) -> Response:
        return Response(f"user {request.matchdict['user_id']}")

    def boom(request: Any) -> Response:
        raise ValueError("boom")

    with Configurator() as config:
        config.add_route("user", "/users/{user_id}")
        config.add_view(user, route_name="user")
        config.add_route("boom", "/boom")
        config.add_view(boom, route_name="boom")
        return config.make_wsgi_app()


def falcon_app() -> Any:
    import falcon

    class User:
        def on_get(self, req: Any, resp: Any, user_id: int) -> None:
            resp.text = f"user {user_id}"

    class Boom:
        def on_get(self, req: Any, resp: Any) -> None:
            raise ValueError("boom")

    app = falcon.App()
    app.add_route("/users/{user_id:int}", User())
    app.add_route("/boom", Boom())
    return app


def falcon_asgi_app() -> Any:
    import falcon.asgi

    class User:
        async def on_get(self, req: Any, resp: Any, user_id: int) -> None:
            resp.text = f"user {user_id}"

    class Boom:
        async def on_get(self, req: Any, resp: Any) -> None:
            raise ValueError("boom")

    app = falcon.asgi.App()
    app.add_route("/users/{user_id:int}", User())
    app.add_route("/boom", Boom())
    return app


def main() -> None:
    framework, port = sys.argv[1], int(sys.argv[2])
    app = pyramid_app() if framework == "pyramid" else falcon_app()
    with make_server("127.0.0.1", port, app, handler_class=_Quiet) as server:
        # shutdown() waits for serve_forever to return: call it from another thread
        signal.signal(
            signal.SIGINT, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()
        )
        server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
