"""ASGI: a minimal app (``200 OK``, body ``ok``) wrapped by ``OpenTelemetryMiddleware``, called
directly with a prebuilt scope for ``GET /users/42?q=abc``.

* ``asgi``: upstream's default telemetry, the server span and a span per ``send``;
* ``asgi-1span``: ``exclude_spans=["receive", "send"]``, the server span alone.
"""

from __future__ import annotations

from typing import Any, Callable

from . import Call, Providers, Workload, upstream_requirement
from ._asgi import build_scope, served

PATH = "/users/42"
QUERY = "q=abc"
BODY = b"ok"
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
}
_BODY = {"type": "http.response.body", "body": BODY}


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send(_START)
    await send(_BODY)


def _carrier() -> dict[str, Any]:
    return build_scope(PATH, QUERY)


def _bare(providers: Providers) -> Call:
    return served(_hello, _carrier())


def _ours(**options: Any) -> Callable[[Providers], Call]:
    def setup(providers: Providers) -> Call:
        from instrumentarium.asgi import OpenTelemetryMiddleware

        app = OpenTelemetryMiddleware(
            _hello,
            tracer_provider=providers.tracer_provider,
            meter_provider=providers.meter_provider,
            **options,
        )
        return served(app, _carrier())

    return setup


def _upstream(**options: Any) -> Callable[[Providers], Call]:
    def setup(providers: Providers) -> Call:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        app = OpenTelemetryMiddleware(
            _hello,
            tracer_provider=providers.tracer_provider,
            meter_provider=providers.meter_provider,
            **options,
        )
        return served(app, _carrier())

    return setup


def _peer(providers: Providers) -> Call:
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware

    from . import _sentry

    _sentry.init()
    return served(SentryAsgiMiddleware(_hello), _carrier())


_NO_INTERNAL_SPANS = {"exclude_spans": ["receive", "send"]}
_COMMON: dict[str, Any] = {
    "carrier": _carrier,
    "expect": BODY,
    "packages": ("asgiref",),
    "upstream_packages": (upstream_requirement("opentelemetry-instrumentation-asgi"),),
    "show_versions": ("asgiref",),
}

WORKLOADS = (
    Workload(
        name="asgi",
        description="a bare ASGI app (200, b'ok') in OpenTelemetryMiddleware: server span,"
        " receive span and two send spans",
        bare=_bare,
        instrumentarium=_ours(),
        upstream=_upstream(),
        spans_per_call=4,
        **_COMMON,
    ),
    Workload(
        name="asgi-1span",
        description="the same with exclude_spans=['receive', 'send']: the server span alone",
        bare=_bare,
        instrumentarium=_ours(**_NO_INTERNAL_SPANS),
        upstream=_upstream(**_NO_INTERNAL_SPANS),
        peer=_peer,
        **_COMMON,
    ),
)
