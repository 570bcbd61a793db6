"""OpenTelemetry instrumentation for redis-py.

Usage::

    from instrumentarium.redis import RedisInstrumentor

    RedisInstrumentor().instrument()              # every client: Redis, asyncio, cluster
    RedisInstrumentor.instrument_client(client)   # or one client, with options of its own

or with no code at all: ``opentelemetry-instrument python app.py`` (entry point ``redis``; disable
with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=redis``).

Each command gets one CLIENT span named by the command (``GET``), each pipeline or transaction
one span per ``execute()`` named by its commands (``SET RPUSH HGETALL``), and every call is
measured by ``db.client.operation.duration``. Importing this module does not import redis: the
patches (``_patches``) are applied when redis is imported. Options (``RedisConfig``) and
attributes: see the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Optional, Union

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from instrumentarium.util.safety import logger

from ._config import RedisConfig, RequestHook, ResponseHook
from ._patches import ACTIVE, disown_pipelines, own_pipelines
from ._telemetry import RedisTelemetry
from .package import _instruments
from .version import __version__

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster

    RedisClient = Union[
        redis.Redis,
        redis.cluster.RedisCluster,
        redis.asyncio.Redis,
        redis.asyncio.cluster.RedisCluster,
    ]

__all__ = ["RedisInstrumentor", "__version__"]


class RedisInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures redis-py commands and pipelines (sync, asyncio, cluster).

    ``instrument()`` and ``instrument_client()`` take upstream's keyword arguments, plus
    ``meter_provider`` and ``sanitize_query``.

    Options (generated from RedisConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``request_hook`` (default ``None``): ``hook(span, instance, args, kwargs)``: before a command
      is sent (not for pipelines, as upstream)
    * ``response_hook`` (default ``None``): ``hook(span, instance, response)``: after a command or
      pipeline returns (``None`` on a pipeline's ``WatchError``)
    * ``sanitize_query`` (default ``True``; environment
      ``OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS``): True: ``SET ? ?`` in ``db.statement`` /
      ``db.query.text``; False: the arguments recorded, each cut to 100 characters

    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def instrument(
        self,
        tracer_provider: Optional[TracerProvider] = None,
        request_hook: Optional[RequestHook] = None,
        response_hook: Optional[ResponseHook] = None,
        **kwargs: Any,
    ) -> None:
        """``instrument()``, whose first three options may be given by position, as upstream's
        signature allows."""
        return super().instrument(  # type: ignore[no-any-return]
            tracer_provider=tracer_provider,
            request_hook=request_hook,
            response_hook=response_hook,
            **kwargs,
        )

    def _instrument(self, **kwargs: Any) -> None:
        ACTIVE.set_global(RedisTelemetry(RedisConfig.resolve(kwargs)))

    def _uninstrument(self, **_kwargs: Any) -> None:
        ACTIVE.set_global(None)

    @staticmethod
    def instrument_client(
        client: RedisClient,
        tracer_provider: Optional[TracerProvider] = None,
        request_hook: Optional[RequestHook] = None,
        response_hook: Optional[ResponseHook] = None,
        meter_provider: Optional[MeterProvider] = None,
        sanitize_query: Optional[bool] = None,
    ) -> None:
        """Instrument one client (``Redis``, ``RedisCluster``, sync or asyncio) and the
        pipelines it creates from now on, with options of its own (they win over
        ``instrument()``'s: the client is traced once, by these)."""
        if ACTIVE.own(client) is not None:
            logger.warning("Attempting to instrument Redis connection while already instrumented")
            return
        if not hasattr(client, "__dict__") or not hasattr(client, "execute_command"):
            logger.warning("instrument_client: %r is not a redis-py client; ignoring it", client)
            return
        config = RedisConfig.resolve(
            {
                "tracer_provider": tracer_provider,
                "request_hook": request_hook,
                "response_hook": response_hook,
                "meter_provider": meter_provider,
                "sanitize_query": sanitize_query,
            }
        )
        telemetry = RedisTelemetry(config)
        ACTIVE.set_own(client, telemetry)
        own_pipelines(client, telemetry)

    @staticmethod
    def uninstrument_client(client: RedisClient) -> None:
        """Undo ``instrument_client``: the client and the pipelines it created stop being traced
        by it (``instrument()``, when active, traces them again); it can be instrumented again."""
        if ACTIVE.own(client) is None:
            logger.warning("Attempting to un-instrument Redis connection that wasn't instrumented")
            return
        disown_pipelines(client)
        ACTIVE.set_own(client, None)
