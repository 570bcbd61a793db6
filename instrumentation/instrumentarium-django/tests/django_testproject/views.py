"""One view per behaviour under test; each is as small as what it serves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from django.db import connection
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from opentelemetry import trace


def _current_ids() -> dict[str, str]:
    context = trace.get_current_span().get_span_context()
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


def user(request: HttpRequest, uid: int) -> HttpResponse:
    return HttpResponse(f"user {uid}")


def regex(request: HttpRequest, code: str) -> HttpResponse:
    return HttpResponse(f"code {code}")


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


def suppressed(request: HttpRequest) -> HttpResponse:
    """Whether the instrumentation is suppressed while the view runs ("True"/"False")."""
    from instrumentarium.util.safety import is_suppressed

    return HttpResponse(str(is_suppressed()))


def created(request: HttpRequest) -> HttpResponse:
    return HttpResponse("created", status=201)


def boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("boom")


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("no such thing")


def unavailable(request: HttpRequest) -> HttpResponse:
    return HttpResponse("try later", status=503)


def current_span(request: HttpRequest) -> JsonResponse:
    """The span that is current while the view runs, so a test can compare it."""
    return JsonResponse(_current_ids())


async def async_view(request: HttpRequest, uid: int) -> JsonResponse:
    await asyncio.sleep(0)
    return JsonResponse({"uid": uid, **_current_ids()})


async def async_boom(request: HttpRequest) -> HttpResponse:
    await asyncio.sleep(0)
    raise ValueError("async boom")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def body() -> Iterator[bytes]:
        yield b"one;"
        # Who is current while the body is produced (the test compares it with the span).
        yield _current_ids()["span_id"].encode()

    return StreamingHttpResponse(body(), content_type="text/plain")


def query(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s", [1])
        cursor.execute("SELECT 2;")
    return HttpResponse("queried")
