"""urllib: ``urllib.request.urlopen(url).read()`` of a small body from a local server.

urllib opens a new connection for every call (it sends ``Connection: close``): a call is a TCP
connect, one request/response round trip and a close, which the instrumentation's overhead is
measured against.
"""

from __future__ import annotations

from . import Call, Providers, Workload, upstream_requirement
from ._http_server import BODY, carrier, server_url


def _client() -> Call:
    import urllib.request

    urlopen = urllib.request.urlopen
    url = server_url()

    def call() -> bytes:
        with urlopen(url) as response:
            return response.read()  # type: ignore[no-any-return]

    return call


def _bare(providers: Providers) -> Call:
    return _client()


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.urllib import URLLibInstrumentor

    URLLibInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _client()


def _upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    URLLibInstrumentor().instrument(
        tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider
    )
    return _client()


def _peer(providers: Providers) -> Call:
    """sentry-sdk's default StdlibIntegration traces http.client, under urllib."""
    from . import _sentry

    _sentry.init()
    return _sentry.in_transaction(_client(), "urllib")


WORKLOADS = (
    Workload(
        name="urllib",
        description="urllib.request.urlopen() of 2 bytes from a local server (a new connection"
        " per call)",
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        peer=_peer,
        carrier=carrier,
        expect=BODY,
        packages=(),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-urllib"),),
    ),
)
