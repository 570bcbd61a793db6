"""What ``RedisInstrumentor`` patches, and the telemetry in force that the patches call.

``ACTIVE`` holds the ``RedisTelemetry`` of ``instrument()`` (global) and of each
``instrument_client()`` (the client's own, in its ``__dict__``), and applies ``PATCHES`` while
any of them is set. Every wrapper asks ``ACTIVE`` which telemetry traces the instance it is
called on (the client's own, else the global one, else none: the plain call), so a client
instrumented both ways is traced once, by its own options. A pipeline made by a client that has
its own telemetry gets the same (``own_pipelines``); ``uninstrument_client`` takes it back.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, Callable, Final

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import logger

from ._telemetry import RedisTelemetry, note_cluster_node, run, run_async

__all__ = ["ACTIVE", "PATCHES", "own_pipelines", "disown_pipelines"]

_Run = Callable[..., Any]  # run or run_async
_PIPELINES: Final = "_instrumentarium_redis_pipelines"  # a client's pipelines, weakly


def _handing_to(run: _Run, pipeline: bool, *, cluster: bool = False) -> Callable[..., Any]:
    """The class-level wrapper that hands a call to ``run(pipeline, telemetry, ...)``,
    ``telemetry`` being the one in force for the instance; made once per target at import, so
    each ``Patch`` keeps one wrapper object to recognise and remove."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        telemetry = _config_for(instance)
        if telemetry is None:
            return wrapped(*args, **kwargs)
        return run(pipeline, telemetry, wrapped, instance, args, kwargs, cluster)

    return wrapper


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


def _note_node_argument(wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
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


_COMMAND: Final = False  # run's first argument: pipeline
_PIPELINE: Final = True

# (module, target, run, pipeline, cluster): what every command and pipeline of every client goes
# through, sync and asyncio, single node and cluster.
_TRACED: Final = (
    ("redis.client", "Redis.execute_command", run, _COMMAND, False),
    ("redis.client", "Pipeline.execute", run, _PIPELINE, False),
    ("redis.client", "Pipeline.immediate_execute_command", run, _COMMAND, False),
    ("redis.cluster", "RedisCluster.execute_command", run, _COMMAND, True),
    ("redis.cluster", "ClusterPipeline.execute", run, _PIPELINE, True),
    ("redis.asyncio.client", "Redis.execute_command", run_async, _COMMAND, False),
    ("redis.asyncio.client", "Pipeline.execute", run_async, _PIPELINE, False),
    ("redis.asyncio.client", "Pipeline.immediate_execute_command", run_async, _COMMAND, False),
    ("redis.asyncio.cluster", "RedisCluster.execute_command", run_async, _COMMAND, True),
    ("redis.asyncio.cluster", "ClusterPipeline.execute", run_async, _PIPELINE, True),
)
# Where a cluster client picks the node a command or pipeline goes to: public methods, so no
# private attribute is guessed. They note the node only during a traced cluster call
# (``note_cluster_node`` returns at once otherwise).
_NODES: Final = (
    ("redis.cluster", "RedisCluster.get_redis_connection", _note_node_argument),
    ("redis.asyncio.cluster", "ClusterNode.execute_command", _note_node_instance),
    ("redis.asyncio.cluster", "ClusterNode.execute_pipeline", _note_node_instance),
)
PATCHES: Final = PatchSet(
    [
        *(
            Patch(module, target, _handing_to(runner, pipeline, cluster=cluster))
            for module, target, runner, pipeline, cluster in _TRACED
        ),
        *(_OptionalPatch(module, target, wrapper) for module, target, wrapper in _NODES),
    ]
)
ACTIVE: Final = ActiveConfig[RedisTelemetry]("_instrumentarium_redis", PATCHES)
_config_for: Final = ACTIVE.config_for


def own_pipelines(client: Any, telemetry: RedisTelemetry) -> None:
    """Make the pipelines ``client`` creates from now on traced by ``telemetry`` (its own)."""
    make_pipeline: Callable[..., Any] = client.pipeline
    pipelines: weakref.WeakSet[Any] = weakref.WeakSet()

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        if ACTIVE.own(client) is telemetry and hasattr(pipe, "__dict__"):
            ACTIVE.set_own(pipe, telemetry)
            pipelines.add(pipe)
        return pipe

    pipeline.__wrapped__ = make_pipeline  # type: ignore[attr-defined]
    client.__dict__["pipeline"] = pipeline
    client.__dict__[_PIPELINES] = pipelines


def disown_pipelines(client: Any) -> None:
    """Undo ``own_pipelines``: the client's pipelines, made or to come, follow ``instrument()``."""
    client.__dict__.pop("pipeline", None)
    for pipe in list(client.__dict__.pop(_PIPELINES, ())):
        ACTIVE.set_own(pipe, None)
