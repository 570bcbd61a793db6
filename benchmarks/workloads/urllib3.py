"""urllib3: ``PoolManager.request("GET", url)`` of a small body from a local keep-alive server."""

from __future__ import annotations

from . import Call, Providers, Workload, upstream_requirement
from ._http_server import BODY, carrier, server_url


def _client() -> Call:
    import urllib3

    pool = urllib3.PoolManager()
    url = server_url()

    def call() -> bytes:
        return pool.request("GET", url).data  # type: ignore[no-any-return]

    return call


def _bare(providers: Providers) -> Call:
    return _client()


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.urllib3 import URLLib3Instrumentor

    URLLib3Instrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _client()


def _upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    URLLib3Instrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _client()


def _peer(providers: Providers) -> Call:
    """sentry-sdk's default StdlibIntegration traces http.client, under urllib3."""
    from . import _sentry

    _sentry.init()
    return _sentry.in_transaction(_client(), "urllib3")


WORKLOADS = (
    Workload(
        name="urllib3",
        description='PoolManager().request("GET") of 2 bytes from a local keep-alive server',
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        peer=_peer,
        carrier=carrier,
        expect=BODY,
        packages=("urllib3",),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-urllib3"),),
        show_versions=("urllib3",),
    ),
)
