"""Redis: calls against the single node that ``scripts/services start redis`` runs.

* ``redis-get``: ``GET`` of a 100-byte value (one span, one duration record);
* ``redis-pipeline20``: a non-transactional pipeline of 20 ``GET``s (one span per ``execute()``).

The server is found where ``tests/support/services.py`` says (``INSTRUMENTARIUM_REDIS_URL``).
Upstream records no Redis metrics; its number is a span only, ours includes the histogram.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.support.services import REDIS_URL as URL

from . import Call, Providers, Workload, upstream_requirement

if TYPE_CHECKING:
    import redis

KEY = "instrumentarium:bench:key"
VALUE = b"v" * 100
PIPELINE_LENGTH = 20


def _client() -> redis.Redis:
    import redis

    client = redis.Redis.from_url(URL)
    try:
        client.set(KEY, VALUE)
    except redis.ConnectionError as exc:
        raise RuntimeError(f"no Redis at {URL}: run scripts/services start redis ({exc})") from exc
    return client


def _instrumentarium(providers: Providers) -> Any:
    from instrumentarium.redis import RedisInstrumentor

    client = _client()
    RedisInstrumentor.instrument_client(
        client,
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
    )
    return client


def _upstream(providers: Providers) -> Any:
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    client = _client()
    RedisInstrumentor.instrument_client(client, tracer_provider=providers.tracer_provider)
    return client


def _peer(providers: Providers) -> Any:
    from sentry_sdk.integrations.redis import RedisIntegration

    from . import _sentry

    _sentry.init(RedisIntegration())
    return _client()


def _in_transaction(call: Call) -> Call:
    from . import _sentry

    return _sentry.in_transaction(call, "redis")


def _get(client: Any) -> Call:
    get = client.get

    def call() -> bytes:
        return get(KEY)  # type: ignore[no-any-return]

    return call


def _pipeline(client: Any) -> Call:
    def call() -> bytes:
        pipe = client.pipeline(transaction=False)
        for _ in range(PIPELINE_LENGTH):
            pipe.get(KEY)
        results = pipe.execute()
        return b"".join(results)  # type: ignore[no-any-return]

    return call


def _carrier() -> dict[str, object]:
    return {}


_PACKAGES = ("redis",)
_UPSTREAM = (upstream_requirement("opentelemetry-instrumentation-redis"),)
_VERSIONS = ("redis",)

WORKLOADS = (
    Workload(
        name="redis-get",
        description=f"GET of a 100-byte value from {URL}",
        bare=lambda providers: _get(_client()),
        instrumentarium=lambda providers: _get(_instrumentarium(providers)),
        upstream=lambda providers: _get(_upstream(providers)),
        peer=lambda providers: _in_transaction(_get(_peer(providers))),
        carrier=_carrier,
        expect=VALUE,
        packages=_PACKAGES,
        upstream_packages=_UPSTREAM,
        show_versions=_VERSIONS,
        upstream_records_duration=False,
    ),
    Workload(
        name="redis-pipeline20",
        description=f"a pipeline of {PIPELINE_LENGTH} GETs (transaction=False) from {URL}",
        bare=lambda providers: _pipeline(_client()),
        instrumentarium=lambda providers: _pipeline(_instrumentarium(providers)),
        upstream=lambda providers: _pipeline(_upstream(providers)),
        peer=lambda providers: _in_transaction(_pipeline(_peer(providers))),
        carrier=_carrier,
        expect=VALUE * PIPELINE_LENGTH,
        packages=_PACKAGES,
        upstream_packages=_UPSTREAM,
        show_versions=_VERSIONS,
        upstream_records_duration=False,
    ),
)
