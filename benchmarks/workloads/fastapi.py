"""FastAPI: ``GET /users/42?q=abc`` against the route ``/users/{user_id}`` (an ``int`` path
parameter, a JSON response), the app called directly with a prebuilt scope, instrumented with
``instrument_app``.

* ``fastapi``: upstream's default telemetry, the server span and a span per ``send``;
* ``fastapi-1span``: ``exclude_spans=["receive", "send"]``, the server span alone;
* ``fastapi-sampled-out``: the request carries a ``traceparent`` whose sampled flag is off, as
  from a caller that sampled the trace out: the default parent-based sampler drops the server
  span, nothing is exported, the HTTP metrics are still recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from . import Call, Providers, Workload, upstream_requirement
from ._asgi import build_scope, served

if TYPE_CHECKING:
    from fastapi import FastAPI

PATH = "/users/42"
QUERY = "q=abc"
BODY = b'{"user_id":42}'


def _app() -> FastAPI:
    from fastapi import FastAPI

    # FastAPI's own tracing off in every variant: the bare app measures FastAPI alone.
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, **_no_native_telemetry())

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    return app


def _no_native_telemetry() -> dict[str, Any]:
    import inspect

    from fastapi import FastAPI

    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


# A caller's context with the sampled flag off (trace-flags 00).
_UNSAMPLED = ((b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"),)


def _carrier() -> dict[str, Any]:
    return build_scope(PATH, QUERY)


def _unsampled_carrier() -> dict[str, Any]:
    return build_scope(PATH, QUERY, _UNSAMPLED)


def _bare(providers: Providers, carrier: Callable[[], dict[str, Any]] = _carrier) -> Call:
    return served(_app(), carrier())


def _ours(
    carrier: Callable[[], dict[str, Any]] = _carrier, **options: Any
) -> Callable[[Providers], Call]:
    def setup(providers: Providers) -> Call:
        from instrumentarium.fastapi import FastAPIInstrumentor

        app = _app()
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=providers.tracer_provider,
            meter_provider=providers.meter_provider,
            **options,
        )
        return served(app, carrier())

    return setup


def _upstream(
    carrier: Callable[[], dict[str, Any]] = _carrier, **options: Any
) -> Callable[[Providers], Call]:
    def setup(providers: Providers) -> Call:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        app = _app()
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=providers.tracer_provider,
            meter_provider=providers.meter_provider,
            **options,
        )
        return served(app, carrier())

    return setup


_NO_INTERNAL_SPANS = {"exclude_spans": ["receive", "send"]}
_COMMON: dict[str, Any] = {
    "expect": BODY,
    "packages": ("fastapi",),
    "upstream_packages": (upstream_requirement("opentelemetry-instrumentation-fastapi"),),
    "show_versions": ("fastapi", "starlette"),
}

WORKLOADS = (
    Workload(
        name="fastapi",
        description="a FastAPI app (3 routes), GET /users/42 against /users/{user_id}: server"
        " span and two send spans",
        bare=_bare,
        instrumentarium=_ours(),
        upstream=_upstream(),
        carrier=_carrier,
        spans_per_call=3,
        **_COMMON,
    ),
    Workload(
        name="fastapi-1span",
        description="the same with exclude_spans=['receive', 'send']: the server span alone",
        bare=_bare,
        instrumentarium=_ours(**_NO_INTERNAL_SPANS),
        upstream=_upstream(**_NO_INTERNAL_SPANS),
        carrier=_carrier,
        **_COMMON,
    ),
    Workload(
        name="fastapi-sampled-out",
        description="the fastapi request from a caller that sampled the trace out (traceparent"
        " flags 00): no span recorded, the metrics are",
        bare=lambda providers: _bare(providers, _unsampled_carrier),
        instrumentarium=_ours(_unsampled_carrier),
        upstream=_upstream(_unsampled_carrier),
        carrier=_unsampled_carrier,
        sampled=False,
        **_COMMON,
    ),
)
