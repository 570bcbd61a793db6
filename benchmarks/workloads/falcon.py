"""Falcon: ``GET /users/42?q=abc`` against the route ``/users/{user_id:int}`` (a small string),
the WSGI app called with a prebuilt environ, as a server would.

Upstream's ``FalconInstrumentor`` replaces the ``App`` class, so the app is created after
``instrument()`` in every variant (ours covers earlier apps too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import Call, Providers, Workload, upstream_requirement
from ._wsgi import build_environ, served

if TYPE_CHECKING:
    import falcon

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
)
