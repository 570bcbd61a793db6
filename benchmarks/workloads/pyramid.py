"""Pyramid: ``GET /users/42?q=abc`` against the route ``/users/{user_id}`` (a small string),
the app called as a WSGI application with a prebuilt environ, as a server would.

Upstream's ``PyramidInstrumentor`` takes no providers (it uses the global ones) and instruments
configurators created after ``instrument()``, so its setup installs the providers globally and
configures the app afterwards; ours gets the same providers as keywords.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Call, Providers, Workload, upstream_requirement
from ._wsgi import build_environ, served

if TYPE_CHECKING:
    from pyramid.router import Router

PATH = "/users/42"
QUERY = "q=abc"
BODY = b"user 42"


def _app() -> Router:
    from pyramid.config import Configurator
    from pyramid.response import Response

    def user(request: object) -> Response:
        return Response(f"user {request.matchdict['user_id']}")  # type: ignore[attr-defined]

    with Configurator() as config:
        config.add_route("user", "/users/{user_id}")
        config.add_view(user, route_name="user")
        return config.make_wsgi_app()


def _carrier() -> dict[str, object]:
    return build_environ(PATH, QUERY)


def _bare(providers: Providers) -> Call:
    return served(_app(), _carrier())


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.pyramid import PyramidInstrumentor

    PyramidInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return served(_app(), _carrier())


def _upstream(providers: Providers) -> Call:
    from opentelemetry import metrics, trace
    from opentelemetry.instrumentation.pyramid import PyramidInstrumentor

    trace.set_tracer_provider(providers.tracer_provider)
    metrics.set_meter_provider(providers.meter_provider)
    PyramidInstrumentor().instrument()
    return served(_app(), _carrier())


def _peer(providers: Providers) -> Call:
    from sentry_sdk.integrations.pyramid import PyramidIntegration

    from . import _sentry

    _sentry.init(PyramidIntegration())
    return served(_app(), _carrier())


WORKLOADS = (
    Workload(
        name="pyramid",
        description="Pyramid app as WSGI, GET /users/42?q=abc (route /users/{user_id})",
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        peer=_peer,
        carrier=_carrier,
        expect=BODY,
        packages=("pyramid", "werkzeug"),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-pyramid"),),
        show_versions=("pyramid", "webob"),
    ),
)
