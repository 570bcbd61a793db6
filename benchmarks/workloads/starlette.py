"""Starlette: ``GET /users/42?q=abc`` against the route ``/users/{user_id}`` (a plain-text
response), the app called directly with a prebuilt scope, instrumented with ``instrument_app``
(upstream's default telemetry: the server span and a span per ``send``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import Call, Providers, Workload, upstream_requirement
from ._asgi import build_scope, served

if TYPE_CHECKING:
    from starlette.applications import Starlette

PATH = "/users/42"
QUERY = "q=abc"
BODY = b"user 42"


def _app() -> Starlette:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def user(request: Any) -> PlainTextResponse:
        return PlainTextResponse(f"user {request.path_params['user_id']}")

    async def other(request: Any) -> PlainTextResponse:
        return PlainTextResponse("other")

    return Starlette(
        routes=[
            Route("/health", other),
            Route("/items/{item_id}", other),
            Route("/users/{user_id}", user),
        ]
    )


def _carrier() -> dict[str, Any]:
    return build_scope(PATH, QUERY)


def _bare(providers: Providers) -> Call:
    return served(_app(), _carrier())


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.starlette import StarletteInstrumentor

    app = _app()
    StarletteInstrumentor.instrument_app(
        app, tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return served(app, _carrier())


def _upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.starlette import StarletteInstrumentor

    app = _app()
    StarletteInstrumentor.instrument_app(
        app, tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return served(app, _carrier())


WORKLOADS = (
    Workload(
        name="starlette",
        description="a Starlette app (3 routes), GET /users/42 against /users/{user_id}: server"
        " span and two send spans",
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        carrier=_carrier,
        expect=BODY,
        packages=("starlette",),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-starlette"),),
        show_versions=("starlette",),
        spans_per_call=3,
    ),
)
