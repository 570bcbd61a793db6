"""WSGI: a minimal app (``200 OK``, body ``ok``) wrapped by ``OpenTelemetryMiddleware``, called
directly with a prebuilt environ for ``GET /users/42?q=abc``."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Callable

from . import Call, Providers, Workload, upstream_requirement
from ._wsgi import build_environ, served

PATH = "/users/42"
QUERY = "q=abc"
BODY = b"ok"


def _hello(environ: MutableMapping[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [BODY]


def _carrier() -> dict[str, Any]:
    return build_environ(PATH, QUERY)


def _bare(providers: Providers) -> Call:
    return served(_hello, _carrier())


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.wsgi import OpenTelemetryMiddleware

    app = OpenTelemetryMiddleware(
        _hello,
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
    )
    return served(app, _carrier())


def _upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

    app = OpenTelemetryMiddleware(
        _hello,
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
    )
    return served(app, _carrier())


def _peer(providers: Providers) -> Call:
    from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

    from . import _sentry

    _sentry.init()
    return served(SentryWsgiMiddleware(_hello), _carrier())


WORKLOADS = (
    Workload(
        name="wsgi",
        description="a bare WSGI app (200 OK, [b'ok']) wrapped by OpenTelemetryMiddleware",
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        peer=_peer,
        carrier=_carrier,
        expect=BODY,
        # Werkzeug only builds the environ; the middleware itself needs nothing.
        packages=("werkzeug",),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-wsgi"),),
        show_versions=("werkzeug",),
    ),
)
