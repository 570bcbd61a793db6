"""Falcon: ``GET /users/42?q=abc`` against the route ``/users/{user_id:int}`` (a small string).

* ``falcon``: the WSGI app called with a prebuilt environ, as a server would. Upstream's
  ``FalconInstrumentor`` replaces the ``App`` class, so the app is created after
  ``instrument()`` in every variant (ours covers earlier apps too).
* ``falcon-asgi``: the same app as a ``falcon.asgi.App``, called with a prebuilt scope without
  an event loop (``_asgi.served``). Upstream's ``FalconInstrumentor`` does not trace ASGI apps:
  the upstream variant is what its users run instead, the app in upstream's ASGI middleware,
  with its ``send`` / ``receive`` spans off so that it makes one span per request, as ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import Call, Providers, Workload, upstream_requirement
from ._asgi import build_scope
from ._asgi import served as served_asgi
from ._wsgi import build_environ, served

if TYPE_CHECKING:
    import falcon
    import falcon.asgi

PATH = "/users/42"
QUERY = "q=abc"
BODY = b"user 42"


def _app() -> falcon.App[Any, Any]:
    import falcon

    class User:
        def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
            resp.text = f"user {user_id}"

    app: falcon.App[Any, Any] = falcon.App()
    app.add_route("/users/{user_id:int}", User())
    return app


def _carrier() -> dict[str, object]:
    return build_environ(PATH, QUERY)


def _bare(providers: Providers) -> Call:
    return served(_app(), _carrier())


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.falcon import FalconInstrumentor

    FalconInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return served(_app(), _carrier())


def _upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.falcon import FalconInstrumentor

    FalconInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return served(_app(), _carrier())


def _peer(providers: Providers) -> Call:
    from sentry_sdk.integrations.falcon import FalconIntegration

    from . import _sentry

    _sentry.init(FalconIntegration())
    return served(_app(), _carrier())


def _asgi_app() -> falcon.asgi.App[Any, Any]:
    import falcon.asgi

    class User:
        async def on_get(
            self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int
        ) -> None:
            resp.text = f"user {user_id}"

    app: falcon.asgi.App[Any, Any] = falcon.asgi.App()
    app.add_route("/users/{user_id:int}", User())
    return app


def _scope() -> dict[str, Any]:
    return build_scope(PATH, QUERY)


def _asgi_bare(providers: Providers) -> Call:
    return served_asgi(_asgi_app(), _scope())


def _asgi_instrumentarium(providers: Providers) -> Call:
    from instrumentarium.falcon import FalconInstrumentor

    FalconInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return served_asgi(_asgi_app(), _scope())


def _asgi_upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app = OpenTelemetryMiddleware(
        _asgi_app(),
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
        exclude_spans=["receive", "send"],
    )
    return served_asgi(app, _scope())


def _asgi_peer(providers: Providers) -> Call:
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    from . import _sentry

    _sentry.init()
    return served_asgi(SentryAsgiMiddleware(_asgi_app()), _scope())


WORKLOADS = (
    Workload(
        name="falcon",
        description="Falcon WSGI app, GET /users/42?q=abc (route /users/{user_id:int})",
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        peer=_peer,
        carrier=_carrier,
        expect=BODY,
        packages=("falcon", "werkzeug"),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-falcon"),),
        show_versions=("falcon",),
    ),
    Workload(
        name="falcon-asgi",
        description="Falcon ASGI app, GET /users/42?q=abc (route /users/{user_id:int}); upstream:"
        " its ASGI middleware, send/receive spans off",
        bare=_asgi_bare,
        instrumentarium=_asgi_instrumentarium,
        upstream=_asgi_upstream,
        peer=_asgi_peer,
        carrier=_scope,
        expect=BODY,
        packages=("falcon",),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-asgi"),),
        show_versions=("falcon",),
    ),
)
