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
patches below are applied when redis is imported. Options and attributes: see the README.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Collection
from typing import Any, Callable, Final, Optional

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from instrumentarium.util.config import env_flag
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import logger

from ._telemetry import RedisTelemetry, note_cluster_node
from .package import _instruments
from .version import __version__

__all__ = ["RedisInstrumentor", "__version__"]

SANITIZE_ENV: Final = "OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS"
_CLIENT_KEY: Final = "_instrumentarium_redis"  # per-client telemetry, in the client's __dict__

# The telemetry of instrument(); None when not instrumented.
_global: Optional[RedisTelemetry] = None


def _instance_telemetry(instance: object) -> Optional[RedisTelemetry]:
    """The active per-client telemetry of ``instance`` (``instrument_client``), if any."""
    try:
        telemetry: Optional[RedisTelemetry] = instance.__dict__.get(_CLIENT_KEY)
    except AttributeError:
        return None
    if telemetry is not None and telemetry.active:
        return telemetry
    return None


# --- class patches (instrument()) --------------------------------------------------------------
# A client instrumented on its own (instrument_client) is skipped here: its own wrappers trace it.


def _global_wrapper(method: str, *, cluster: bool = False) -> Callable[..., Any]:
    """The class-level wrapper that hands a call to the global telemetry's ``method``
    (``command``, ``pipeline``, or their ``_async`` forms); made once per target at import,
    so each ``Patch`` keeps one wrapper object to recognise and remove."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        telemetry = _global
        if telemetry is None or _instance_telemetry(instance) is not None:
            return wrapped(*args, **kwargs)
        return getattr(telemetry, method)(wrapped, instance, args, kwargs, cluster=cluster)

    return wrapper


_command = _global_wrapper("command")
_pipeline = _global_wrapper("pipeline")
_cluster_command = _global_wrapper("command", cluster=True)
_cluster_pipeline = _global_wrapper("pipeline", cluster=True)
_async_command = _global_wrapper("command_async")
_async_pipeline = _global_wrapper("pipeline_async")
_async_cluster_command = _global_wrapper("command_async", cluster=True)
_async_cluster_pipeline = _global_wrapper("pipeline_async", cluster=True)


class _OptionalPatch(Patch):
    """A patch that a redis-py version may not support: skipped when its target is missing."""

    __slots__ = ()

    def apply(self) -> None:
        try:
            super().apply()
        except AttributeError:
            logger.debug("redis: %s not found; cluster spans will lack the node's address", self)

    def remove(self) -> None:
        with contextlib.suppress(AttributeError):
            super().remove()


def _note_node_argument(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``RedisCluster.get_redis_connection(node)``: every sync cluster command and pipeline
    asks it for the connection of the node it sends to."""
    node = args[0] if args else kwargs.get("node")
    if node is not None:
        note_cluster_node(node)
    return wrapped(*args, **kwargs)


def _note_node_instance(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``redis.asyncio.cluster.ClusterNode.execute_command`` / ``execute_pipeline``: the node
    itself is the one sent to."""
    note_cluster_node(instance)
    return wrapped(*args, **kwargs)


# Where a cluster client picks the node a command or pipeline goes to: public methods, so no
# private attribute is guessed. The wrappers note the node only during a traced cluster call
# (``note_cluster_node`` returns at once otherwise); they are applied while instrument() or an
# instrument_client() of a cluster client is active.
_NODE_PATCHES: Final = PatchSet(
    [
        _OptionalPatch("redis.cluster", "RedisCluster.get_redis_connection", _note_node_argument),
        _OptionalPatch("redis.asyncio.cluster", "ClusterNode.execute_command", _note_node_instance),
        _OptionalPatch(
            "redis.asyncio.cluster", "ClusterNode.execute_pipeline", _note_node_instance
        ),
    ]
)
_node_patch_users = 0
_node_patch_lock = threading.Lock()


def _use_node_patches(delta: int) -> None:
    """Count the users of ``_NODE_PATCHES`` (instrument() and each instrumented cluster
    client): applied for the first, removed after the last."""
    global _node_patch_users
    with _node_patch_lock:
        _node_patch_users = max(0, _node_patch_users + delta)
        if _node_patch_users:
            _NODE_PATCHES.apply()
        else:
            _NODE_PATCHES.remove()


PATCHES: Final = PatchSet(
    [
        Patch("redis.client", "Redis.execute_command", _command),
        Patch("redis.client", "Pipeline.execute", _pipeline),
        Patch("redis.client", "Pipeline.immediate_execute_command", _command),
        Patch("redis.cluster", "RedisCluster.execute_command", _cluster_command),
        Patch("redis.cluster", "ClusterPipeline.execute", _cluster_pipeline),
        Patch("redis.asyncio.client", "Redis.execute_command", _async_command),
        Patch("redis.asyncio.client", "Pipeline.execute", _async_pipeline),
        Patch("redis.asyncio.client", "Pipeline.immediate_execute_command", _async_command),
        Patch("redis.asyncio.cluster", "RedisCluster.execute_command", _async_cluster_command),
        Patch("redis.asyncio.cluster", "ClusterPipeline.execute", _async_cluster_pipeline),
    ]
)


# --- per-client wrappers (instrument_client()) -------------------------------------------------


def _is_asyncio(client: object) -> bool:
    return any(klass.__module__.startswith("redis.asyncio") for klass in type(client).__mro__)


def _is_cluster(client: object) -> bool:
    return hasattr(client, "nodes_manager")


def _traced(
    telemetry: RedisTelemetry, target: Any, name: str, original: Any, cluster: bool
) -> Callable[..., Any]:
    """A traced replacement for the bound method ``target.<name>`` (``original``)."""
    if name != "execute":
        run = telemetry.command_async if _is_asyncio(target) else telemetry.command
    else:
        run = telemetry.pipeline_async if _is_asyncio(target) else telemetry.pipeline

    def traced(*args: Any, **kwargs: Any) -> Any:
        # A coroutine for asyncio clients (run is a coroutine function, original returns one).
        if not telemetry.active:
            return original(*args, **kwargs)
        return run(original, target, args, kwargs, cluster)

    traced.__wrapped__ = original  # type: ignore[attr-defined]
    return traced


def _wrap_commands(
    target: Any, telemetry: RedisTelemetry, names: tuple[str, ...], cluster: bool
) -> None:
    """Replace ``target.<name>`` (bound methods) by traced ones, in the instance's __dict__."""
    for name in names:
        if hasattr(type(target), name):
            target.__dict__[name] = _traced(telemetry, target, name, getattr(target, name), cluster)


def _wrap_client(client: Any, telemetry: RedisTelemetry) -> None:
    cluster = _is_cluster(client)
    client.__dict__[_CLIENT_KEY] = telemetry
    _wrap_commands(client, telemetry, ("execute_command",), cluster)
    if cluster:
        _use_node_patches(+1)
    make_pipeline: Callable[..., Any] = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        if telemetry.active and hasattr(pipe, "__dict__"):
            pipe.__dict__[_CLIENT_KEY] = telemetry
            _wrap_commands(pipe, telemetry, ("execute", "immediate_execute_command"), cluster)
        return pipe

    pipeline.__wrapped__ = make_pipeline  # type: ignore[attr-defined]
    client.__dict__["pipeline"] = pipeline


_CLIENT_ATTRIBUTES: Final = ("execute_command", "pipeline", _CLIENT_KEY)


def _sanitize(sanitize_query: Optional[bool]) -> bool:
    if sanitize_query is not None:
        return bool(sanitize_query)
    return env_flag(SANITIZE_ENV, True)


class RedisInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures redis-py commands and pipelines (sync, asyncio, cluster).

    ``instrument()`` / ``instrument_client()`` keyword arguments (upstream's, plus two):

    * ``tracer_provider``, ``meter_provider``: default to the global ones;
    * ``request_hook(span, instance, args, kwargs)``: before a command is sent;
    * ``response_hook(span, instance, response)``: after a command or pipeline returns;
    * ``sanitize_query``: True replaces arguments by ``?`` in ``db.statement``; default
      ``OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS``, else True.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def instrument(self, **kwargs: Any) -> None:  # upstream spells the override out, too
        return super().instrument(**kwargs)  # type: ignore[no-any-return]

    def _instrument(self, **kwargs: Any) -> None:
        global _global
        _global = RedisTelemetry(
            tracer_provider=kwargs.get("tracer_provider"),
            meter_provider=kwargs.get("meter_provider"),
            request_hook=kwargs.get("request_hook"),
            response_hook=kwargs.get("response_hook"),
            sanitize=_sanitize(kwargs.get("sanitize_query")),
        )
        PATCHES.apply()
        _use_node_patches(+1)

    def _uninstrument(self, **kwargs: Any) -> None:
        global _global
        PATCHES.remove()
        _use_node_patches(-1)
        if _global is not None:
            _global.active = False
        _global = None

    @staticmethod
    def instrument_client(
        client: Any,
        tracer_provider: Any = None,
        request_hook: Any = None,
        response_hook: Any = None,
        meter_provider: Any = None,
        sanitize_query: Optional[bool] = None,
    ) -> None:
        """Instrument one client (``Redis``, ``RedisCluster``, sync or asyncio) and the
        pipelines it creates from now on, with options of its own (they win over
        ``instrument()``'s: the client is traced once, by these)."""
        if _instance_telemetry(client) is not None:
            logger.warning("Attempting to instrument Redis connection while already instrumented")
            return
        if not hasattr(client, "__dict__") or not hasattr(client, "execute_command"):
            logger.warning("instrument_client: %r is not a redis-py client; ignoring it", client)
            return
        telemetry = RedisTelemetry(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            request_hook=request_hook,
            response_hook=response_hook,
            sanitize=_sanitize(sanitize_query),
        )
        _wrap_client(client, telemetry)

    @staticmethod
    def uninstrument_client(client: Any) -> None:
        """Undo ``instrument_client``: the client and the pipelines it created stop being traced
        by it (``instrument()``, when active, traces them again); it can be instrumented again."""
        telemetry = _instance_telemetry(client)
        if telemetry is None:
            logger.warning("Attempting to un-instrument Redis connection that wasn't instrumented")
            return
        telemetry.active = False
        for name in _CLIENT_ATTRIBUTES:
            client.__dict__.pop(name, None)
        if _is_cluster(client):
            _use_node_patches(-1)
