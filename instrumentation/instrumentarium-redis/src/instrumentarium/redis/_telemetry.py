"""What one Redis call emits: the span, its attributes, and ``db.client.operation.duration``.

``RedisTelemetry`` is built once per ``instrument()`` / ``instrument_client()`` from its
``RedisConfig``, with everything resolved (providers, hooks, semconv modes, statement policy).
Per call it:

1. returns to the plain call when instrumentation is suppressed;
2. takes the connection's attributes from a cache kept on the connection pool (built once per
   pool) and, from the same cache, those of the call's *shape*: a command's name and argument
   count, or each queued command's for a pipeline. They are built once per shape (the
   connection's, the sanitized statement, the length and the operation in the one dict passed
   to ``start_span``, so samplers see them, and the duration's attributes beside it). A raw
   statement (``sanitize=False``) is built per call, after the sampling decision and only for
   recording spans;
3. runs the command with the span current, calling the hooks around it;
4. ends the span (ERROR with the exception recorded; a pipeline's ``WatchError`` leaves it
   UNSET, as upstream) and records the duration with a small, bounded attribute set.

Cluster commands and pipelines start with the cluster's attributes; the node they are sent to is
noted by hooks where the cluster client picks a node, and added when the call ends (a pipeline
spread over several nodes has no single peer, so none is added).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Sequence
from time import perf_counter_ns
from typing import Any, Callable, Final, Optional

from opentelemetry import trace
from opentelemetry.context import (
    attach,
    detach,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.metrics import histogram, shared_meter
from instrumentarium.util.safety import guard, is_suppressed, safe_hook
from instrumentarium.util.semconv import opt_in_mode, schema_url

from . import _attributes as a
from ._config import RedisConfig
from ._statement import (
    batch_operation_name,
    command_args,
    command_name,
    pipeline_commands,
    pipeline_shape,
    pipeline_statement,
    span_name,
    statement,
)
from .version import __version__

__all__ = ["SCOPE", "Begun", "RedisTelemetry", "note_cluster_node", "run", "run_async"]

SCOPE: Final = "instrumentarium.redis"
_POOL_CACHE: Final = "_instrumentarium_redis_attributes"
_COMMANDS_KEPT: Final = 256  # command shapes kept per connection; past that, built per call
_CLIENT: Final = SpanKind.CLIENT
_DURATION_DOC: Final = "Duration of database client operations."
_set_span_in_context = trace.set_span_in_context

Attributes = dict[str, AttributeValue]
# (span, context token, started ns, metric attributes, cluster call, its reset token, pipeline)
Begun = tuple[
    Span,
    object,
    int,
    "Attributes",
    Optional["_ClusterCall"],
    Optional["contextvars.Token[Optional[_ClusterCall]]"],
    bool,
]


class _Command:
    """One command name and argument count on one connection: its span name, the attributes
    ``start_span`` gets (with the sanitized statement) and those of its duration. Both dicts are
    handed to the SDK as they are, on every call: the SDK copies them and never changes them."""

    __slots__ = ("attributes", "metric", "name")

    def __init__(self, name: str, attributes: Attributes, metric: Attributes) -> None:
        self.name = name
        self.attributes = attributes
        self.metric = metric


class _Connection:
    """What every call on one connection pool (or on a cluster, or without a pool) shares: its
    span and metric attributes, and the ``_Command`` of each command and pipeline shape seen on
    it."""

    __slots__ = ("commands", "kwargs", "metric", "pipelines", "span", "telemetry")

    def __init__(
        self,
        telemetry: RedisTelemetry,
        kwargs: object,
        attributes: tuple[Attributes, Attributes],
    ) -> None:
        self.telemetry = telemetry
        self.kwargs = kwargs
        self.span, self.metric = attributes
        self.commands: dict[tuple[Optional[str], int], _Command] = {}
        self.pipelines: dict[tuple[tuple[Optional[str], int], ...], _Command] = {}


class _ClusterCall:
    """The node one cluster call went to, noted by ``note_cluster_node``: for a command the last
    one (a ``MOVED`` / ``ASK`` redirect is retried on the node that serves the slot), for a
    pipeline the only one, or ``_SEVERAL``."""

    __slots__ = ("node", "pipeline")

    def __init__(self, pipeline: bool = False) -> None:
        self.node: Optional[tuple[str, Optional[int]]] = None
        self.pipeline = pipeline


_SEVERAL: Final = ("", None)  # more than one node: no single peer to report
_cluster_call: contextvars.ContextVar[Optional[_ClusterCall]] = contextvars.ContextVar(
    "instrumentarium_redis_cluster_call", default=None
)


def note_cluster_node(node: object) -> None:
    """Called with each node a traced cluster command or pipeline is sent to."""
    call = _cluster_call.get()
    if call is None or call.node is _SEVERAL:
        return
    host = getattr(node, "host", None)
    if not isinstance(host, str):
        return
    port = getattr(node, "port", None)
    found = (host, int(port) if isinstance(port, (int, str)) and str(port).isdigit() else None)
    if call.node is None or not call.pipeline:
        call.node = found
    elif call.node != found:
        call.node = _SEVERAL


def _error_status(exc: BaseException) -> Status:
    return Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")


def _response_status_code(exc: BaseException) -> Optional[str]:
    """The Redis error prefix (``WRONGTYPE``, ``ERR``) of a server error reply."""
    if type(exc).__name__ == "WatchError" or not exc.args:
        return None
    first = str(exc.args[0]).split(" ", 1)[0]
    return first if first.isupper() and first.isalpha() else None


class RedisTelemetry:
    """Spans and metrics for Redis calls, configured once (see the module docstring)."""

    __slots__ = (
        "_cluster",
        "_no_connection",
        "duration",
        "new",
        "old",
        "peer_new",
        "peer_old",
        "request_hook",
        "response_hook",
        "sanitize",
        "statement_keys",
        "tracer",
    )

    def __init__(self, config: RedisConfig) -> None:
        database = opt_in_mode("database")
        http = opt_in_mode("http")
        self.old = database.old
        self.new = database.new
        # Peer and transport attributes are networking conventions: on database spans they
        # switch with the ``http`` opt-in (the specification's networking migration, upstream).
        self.peer_new = http.new
        self.peer_old = http.old
        url = schema_url("database", database) if database.new else schema_url("http", http)
        self.tracer = trace.get_tracer(SCOPE, __version__, config.tracer_provider, schema_url=url)
        meter = shared_meter(SCOPE, __version__, config.meter_provider, schema_url=url)
        # The database conventions' one duration, in seconds in every mode (no old form).
        self.duration = histogram(
            meter,
            a.DB_CLIENT_OPERATION_DURATION,
            unit="s",
            description=_DURATION_DOC,
            buckets=a.DURATION_BUCKETS_S,
        )
        self.request_hook = safe_hook(config.request_hook, "request_hook")
        self.response_hook = safe_hook(config.response_hook, "response_hook")
        self.sanitize = bool(config.sanitize_query)
        keys = []
        if self.old:
            keys.append(a.DB_STATEMENT)
        if self.new:
            keys.append(a.DB_QUERY_TEXT)
        self.statement_keys = tuple(keys)
        self._no_connection = _Connection(self, None, self._base(None))
        self._cluster = _Connection(self, None, self._base({"db": 0}, peer=False))

    # --- attributes -------------------------------------------------------------------------

    def _system(self, span: Attributes, metric: Attributes) -> None:
        if self.old:
            span[a.DB_SYSTEM] = metric[a.DB_SYSTEM] = a.REDIS
        if self.new:
            span[a.DB_SYSTEM_NAME] = metric[a.DB_SYSTEM_NAME] = a.REDIS

    def _peer(
        self, span: Attributes, metric: Attributes, address: str, port: Optional[int], unix: bool
    ) -> None:
        if self.peer_old:
            span[a.NET_PEER_NAME] = address
            if port is not None:
                span[a.NET_PEER_PORT] = port
            span[a.NET_TRANSPORT] = a.OTHER if unix else a.IP_TCP
        if self.peer_new:
            span[a.SERVER_ADDRESS] = address
            if port is not None:
                span[a.SERVER_PORT] = port
            span[a.NETWORK_TRANSPORT] = a.UNIX if unix else a.TCP
        metric[a.SERVER_ADDRESS] = address
        if port is not None:
            metric[a.SERVER_PORT] = port

    def _base(
        self, kwargs: Optional[dict[str, Any]], *, peer: bool = True
    ) -> tuple[Attributes, Attributes]:
        span: Attributes = {}
        metric: Attributes = {}
        self._system(span, metric)
        if kwargs is None:
            return span, metric
        try:
            db = int(kwargs.get("db") or 0)
        except (TypeError, ValueError):
            db = 0
        if self.old:
            span[a.DB_REDIS_DATABASE_INDEX] = db
        if self.new:
            span[a.DB_NAMESPACE] = metric[a.DB_NAMESPACE] = str(db)
        if not peer:
            return span, metric
        path = kwargs.get("path")
        if path:
            self._peer(span, metric, str(path), None, unix=True)
        else:
            try:
                port: Optional[int] = int(kwargs.get("port") or 6379)
            except (TypeError, ValueError):
                port = None
            self._peer(span, metric, str(kwargs.get("host") or "localhost"), port, unix=False)
        return span, metric

    def connection(self, instance: object) -> _Connection:
        """What calls on ``instance``'s connection share, cached on its pool."""
        try:
            pool = instance.connection_pool  # type: ignore[attr-defined]
            kwargs = pool.connection_kwargs
            cached: Optional[_Connection] = pool.__dict__.get(_POOL_CACHE)
        except AttributeError:
            return self._no_connection
        if cached is not None and cached.telemetry is self and cached.kwargs is kwargs:
            return cached
        if not isinstance(kwargs, dict):
            return self._no_connection
        found = _Connection(self, kwargs, self._base(kwargs))
        pool.__dict__[_POOL_CACHE] = found
        return found

    def _command(
        self, connection: _Connection, name: Optional[str], args: tuple[Any, ...]
    ) -> _Command:
        """The ``_Command`` of ``name`` with ``args`` on ``connection``, built once per name and
        argument count (what the sanitized statement depends on)."""
        key = (name, len(args))
        found = connection.commands.get(key)
        if found is not None:
            return found
        attributes = connection.span.copy()
        attributes[a.DB_REDIS_ARGS_LENGTH] = len(args)
        if self.sanitize:
            text = statement(name, args, True)
            for statement_key in self.statement_keys:
                attributes[statement_key] = text
        operation = name or ""
        if self.new and operation:
            attributes[a.DB_OPERATION_NAME] = operation
        metric = connection.metric.copy()
        metric[a.DB_OPERATION_NAME] = operation
        found = _Command(span_name(name), attributes, metric)
        if len(connection.commands) < _COMMANDS_KEPT:
            connection.commands[key] = found
        return found

    def _left_cluster(
        self,
        span: Span,
        metric: Attributes,
        call: Optional[_ClusterCall],
        reset: Optional[contextvars.Token[Optional[_ClusterCall]]],
    ) -> Attributes:
        """After a cluster call (``call`` from ``_begin``): stop noting nodes and add
        the node it went to, when there was a single one. ``metric`` as is for other calls."""
        if call is None or reset is None:
            return metric
        _cluster_call.reset(reset)
        node = call.node
        if node is None or node is _SEVERAL:
            return metric
        extra: Attributes = {}
        metric = dict(metric)
        self._peer(extra, metric, node[0], node[1], unix=False)
        if span.is_recording():
            span.set_attributes(extra)
        return metric

    # --- span life: begin (guarded), the user's call (``run``), finish (guarded) ---------------

    def begin(
        self,
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cluster: bool,
        pipeline: bool,
    ) -> Optional[Begun]:
        """Start the span of one command (``execute_command``) or of a pipeline's or
        transaction's ``execute()``; None: run the call plain."""
        if is_suppressed():
            return None
        with _BEGIN:
            connection = self._cluster if cluster else self.connection(instance)
            if pipeline:
                entries: Sequence[Any] = pipeline_commands(instance) or ()
                command = self._pipeline(connection, entries)
                span = self.tracer.start_span(
                    command.name, kind=_CLIENT, attributes=command.attributes
                )
                return self._enter(span, command.metric, cluster, True, entries)
            name = command_name(args)
            command = self._command(connection, name, args)
            span = self.tracer.start_span(command.name, kind=_CLIENT, attributes=command.attributes)
            begun = self._enter(span, command.metric, cluster, False, name, args)
            if self.request_hook is not None:
                self.request_hook(span, instance, args, kwargs)
            return begun
        return None

    def _pipeline(self, connection: _Connection, entries: Sequence[Any]) -> _Command:
        """The ``_Command`` of a pipeline of ``entries``, built once per shape (each command's
        name and argument count: what the span name, the operation and the sanitized statement
        depend on) on ``connection``."""
        shape = pipeline_shape(entries)
        found = connection.pipelines.get(shape)
        if found is not None:
            return found
        name, length, operation, names, arg_lists = _pipeline_facts(entries)
        attributes = connection.span.copy()
        attributes[a.DB_REDIS_PIPELINE_LENGTH] = length
        if self.sanitize:
            text = pipeline_statement(names, arg_lists, True)
            for key in self.statement_keys:
                attributes[key] = text
        if self.new and operation:
            attributes[a.DB_OPERATION_NAME] = operation
            if length != 1:
                attributes[a.DB_OPERATION_BATCH_SIZE] = length
        metric = connection.metric.copy()
        metric[a.DB_OPERATION_NAME] = operation
        found = _Command(name, attributes, metric)
        if len(connection.pipelines) < _COMMANDS_KEPT:
            connection.pipelines[shape] = found
        return found

    def _enter(
        self,
        span: Span,
        metric: Attributes,
        cluster: bool,
        pipeline: bool,
        *statement_args: Any,
    ) -> Begun:
        """After ``start_span``: a raw statement (of a command's ``name, args`` or a pipeline's
        ``entries``), built only for a recording span, then start noting cluster nodes
        and make the span current: the last step, so a failure before it leaves nothing behind
        (the span is ended)."""
        try:
            if not self.sanitize and span.is_recording():
                statement_of: Callable[..., str] = (
                    _raw_pipeline_statement if pipeline else statement
                )
                text = statement_of(*statement_args, False)
                for key in self.statement_keys:
                    span.set_attribute(key, text)
            context = _set_span_in_context(span)
        except BaseException:
            span.end()
            raise
        call: Optional[_ClusterCall] = None
        reset: Optional[contextvars.Token[Optional[_ClusterCall]]] = None
        if cluster:
            call = _ClusterCall(pipeline)
            reset = _cluster_call.set(call)
        return span, attach(context), perf_counter_ns(), metric, call, reset, pipeline

    def finish(
        self,
        begun: Begun,
        instance: object,
        response: Any,
        exc: Optional[BaseException],
    ) -> None:
        """End what ``begin_*`` started: the cluster node, the error (a pipeline's
        ``WatchError`` leaves the span UNSET), the response hook, the duration, the span."""
        span, token, started, metric, call, reset, pipeline = begun
        with _FINISH:
            try:
                if reset is not None:
                    metric = self._left_cluster(span, metric, call, reset)
                if exc is not None:
                    metric = self._fail(span, exc, metric, pipeline=pipeline)
                    if pipeline and type(exc).__name__ == "WatchError":
                        response = None
                    else:
                        response = _NO_RESPONSE
                if self.response_hook is not None and response is not _NO_RESPONSE:
                    self.response_hook(span, instance, response)
                self.duration.record((perf_counter_ns() - started) / 1e9, metric)
            finally:
                span.end()
                detach(token)  # type: ignore[arg-type]

    def _fail(
        self, span: Span, exc: BaseException, metric: Attributes, *, pipeline: bool
    ) -> Attributes:
        watch = pipeline and type(exc).__name__ == "WatchError"
        error_type = type(exc).__qualname__
        if span.is_recording():
            if watch:
                pass  # an optimistic-lock conflict: upstream leaves the span UNSET, no event
            else:
                span.record_exception(exc)
                span.set_status(_error_status(exc))
            if self.new:
                span.set_attribute(a.ERROR_TYPE, error_type)
                code = _response_status_code(exc)
                if code is not None:
                    span.set_attribute(a.DB_RESPONSE_STATUS_CODE, code)
        metric = dict(metric)
        metric[a.ERROR_TYPE] = error_type
        return metric


_BEGIN: Final = guard("starting the redis span")
_FINISH: Final = guard("ending the redis span")
_NO_RESPONSE: Final = object()  # a call that raised: no response hook (but a WatchError's)


def _raw_pipeline_statement(entries: Sequence[Any], sanitize: bool) -> str:
    _, _, _, names, arg_lists = _pipeline_facts(entries)
    return pipeline_statement(names, arg_lists, sanitize)


def _pipeline_facts(
    entries: Sequence[Any],
) -> tuple[str, int, str, list[Optional[str]], list[Sequence[Any]]]:
    """A pipeline's span name, length, ``db.operation.name`` and statement arguments."""
    arg_lists = [command_args(entry) for entry in entries]
    names = [command_name(args) for args in arg_lists]
    name = " ".join(n for n in names if n) or "redis"
    return name, len(arg_lists), batch_operation_name(names), names, arg_lists


def run(
    pipeline: bool,
    telemetry: RedisTelemetry,
    wrapped: Callable[..., Any],
    instance: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    cluster: bool,
) -> Any:
    """The user's call (a command, or a pipeline's ``execute``) in its span, or plain when
    ``begin`` starts none."""
    begun = telemetry.begin(instance, args, kwargs, cluster, pipeline)
    if begun is None:
        return wrapped(*args, **kwargs)
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        telemetry.finish(begun, instance, None, exc)
        raise
    telemetry.finish(begun, instance, response, None)
    return response


async def run_async(
    pipeline: bool,
    telemetry: RedisTelemetry,
    wrapped: Callable[..., Awaitable[Any]],
    instance: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    cluster: bool,
) -> Any:
    """``run`` for asyncio clients: the span covers the whole awaited call."""
    begun = telemetry.begin(instance, args, kwargs, cluster, pipeline)
    if begun is None:
        return await wrapped(*args, **kwargs)
    try:
        response = await wrapped(*args, **kwargs)
    except BaseException as exc:
        telemetry.finish(begun, instance, None, exc)
        raise
    telemetry.finish(begun, instance, response, None)
    return response
