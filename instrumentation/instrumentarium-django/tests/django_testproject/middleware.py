"""A middleware that raises, for the tests of exceptions outside views. Placed after
``OpenTelemetryMiddleware`` (inside it), it raises on the way in for ``/mw-boom-in/`` and on
the way out for ``/mw-boom-out/``, and passes every other request through."""

from __future__ import annotations

from typing import Any, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest


class MiddlewareError(RuntimeError):
    pass


class RaisingMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self._acall(request)
        _before(request)
        response = self.get_response(request)
        _after(request)
        return response

    async def _acall(self, request: HttpRequest) -> Any:
        _before(request)
        response = await self.get_response(request)
        _after(request)
        return response


def _before(request: HttpRequest) -> None:
    if request.path == "/mw-boom-in/":
        raise MiddlewareError("raised on the way in")


def _after(request: HttpRequest) -> None:
    if request.path == "/mw-boom-out/":
        raise MiddlewareError("raised on the way out")
