"""The Tornado application the tests serve: handlers for each behaviour, and scenarios."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Callable, ClassVar, TypeVar

import tornado.httpclient
import tornado.web
import tornado.websocket

T = TypeVar("T")
Scenario = Callable[[str, tornado.httpclient.AsyncHTTPClient], Awaitable[T]]


class User(tornado.web.RequestHandler):
    async def get(self, uid: str) -> None:
        await asyncio.sleep(0)
        self.write(f"user {uid}")


class Named(tornado.web.RequestHandler):
    def get(self, year: str, slug: str) -> None:
        self.write(f"{year}/{slug}")


class Items(tornado.web.RequestHandler):
    def post(self) -> None:
        self.set_status(201)
        self.set_header("X-Reply", "made")
        self.write(self.request.body)


class Boom(tornado.web.RequestHandler):
    def get(self) -> None:
        raise ValueError("bad thing")


class Forbidden(tornado.web.RequestHandler):
    def get(self) -> None:
        raise tornado.web.HTTPError(403)


class Unavailable(tornado.web.RequestHandler):
    async def get(self) -> None:
        raise tornado.web.HTTPError(503)


class Stream(tornado.web.RequestHandler):
    async def get(self) -> None:
        for i in range(3):
            self.write(f"chunk{i};")
            await self.flush()


class Finished(tornado.web.RequestHandler):
    """Records what was current in ``on_finish``."""

    seen: ClassVar[list[Any]] = []

    def get(self) -> None:
        self.write("ok")

    def on_finish(self) -> None:
        from opentelemetry import trace

        Finished.seen.append(trace.get_current_span())


class Health(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


class Proxy(tornado.web.RequestHandler):
    """Calls another handler of the same server with the traced client."""

    async def get(self) -> None:
        port = self.request.host.rpartition(":")[2]
        client = tornado.httpclient.AsyncHTTPClient()
        response = await client.fetch(f"http://127.0.0.1:{port}/users/9")
        self.write(response.body)


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message: Any) -> None:
        self.write_message(message)


def make_app() -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/users/(\d+)", User),
            (r"/posts/(?P<year>\d{4})/(?P<slug>[a-z-]+)", Named),
            (r"/items", Items),
            (r"/boom", Boom),
            (r"/forbidden", Forbidden),
            (r"/unavailable", Unavailable),
            (r"/stream", Stream),
            (r"/finished", Finished),
            (r"/healthz", Health),
            (r"/proxy", Proxy),
            (r"/ws", Echo),
        ]
    )


APP = make_app()  # created before any test instruments anything


def fetch_all(*paths: str, **options: Any) -> Scenario[list[int]]:
    """A scenario: GET each path (no error raised for a status), the status codes."""

    async def scenario(base: str, client: tornado.httpclient.AsyncHTTPClient) -> list[int]:
        codes = []
        for path in paths:
            response = await client.fetch(base + path, raise_error=False, **options)
            codes.append(response.code)
        return codes

    return scenario
