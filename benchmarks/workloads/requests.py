"""requests: ``Session.get`` of a small body from a local keep-alive server (one connection)."""

from __future__ import annotations

from . import Call, Providers, Workload, upstream_requirement
from ._http_server import BODY, carrier, server_url


def _client() -> Call:
    import requests

    session = requests.Session()
    url = server_url()

    def call() -> bytes:
        return session.get(url).content

    return call


def _bare(providers: Providers) -> Call:
    return _client()


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _client()


def _upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _client()


def _peer(providers: Providers) -> Call:
    """sentry-sdk's default StdlibIntegration traces http.client, under requests."""
    from . import _sentry

    _sentry.init()
    return _sentry.in_transaction(_client(), "requests")


WORKLOADS = (
    Workload(
        name="requests",
        description="requests.Session().get() of 2 bytes from a local keep-alive HTTP/1.1 server",
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        peer=_peer,
        carrier=carrier,
        expect=BODY,
        packages=("requests",),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-requests"),),
        show_versions=("requests", "urllib3"),
    ),
)
