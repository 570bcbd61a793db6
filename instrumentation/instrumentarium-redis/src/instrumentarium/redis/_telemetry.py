"""What one Redis call emits: the span, its attributes, and ``db.client.operation.duration``.

``RedisTelemetry`` is built once per ``instrument()`` / ``instrument_client()`` with everything
resolved (providers, hooks, semconv modes, statement policy). Per call it:

1. returns to the plain call when instrumentation is suppressed;
2. takes the connection's attributes from a cache kept on the connection pool (built once per
   pool), copies them into the one dict passed to ``start_span`` with the statement and the
   argument count, so samplers see them (a raw statement, ``sanitize=False``, is built after the
   sampling decision and only for recording spans);
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
from time import perf_counter
from typing import Any, Callable, Final, Optional

from opentelemetry import trace
from opentelemetry.context import (
    attach,
    detach,
)
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.http import histogram
from instrumentarium.util.metrics import shared_meter
from instrumentarium.util.safety import is_suppressed, safe_hook
from instrumentarium.util.semconv import opt_in_mode, schema_url

from . import _attributes as a
from ._statement import (
    batch_operation_name,
    command_args,
    command_name,
    pipeline_commands,
    pipeline_statement,
    span_name,
    statement,
)
from .version import __version__

__all__ = ["SCOPE", "RedisTelemetry", "note_cluster_node"]

SCOPE: Final = "instrumentarium.redis"
_POOL_CACHE: Final = "_instrumentarium_redis_attributes"
_CLIENT: Final = SpanKind.CLIENT
_set_span_in_context = trace.set_span_in_context

Attributes = dict[str, AttributeValue]


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


def _enter_cluster(
    cluster: bool, pipeline: bool
) -> tuple[Optional[_ClusterCall], Optional[contextvars.Token[Optional[_ClusterCall]]]]:
    """Start noting the node(s) a cluster call goes to; (None, None) for other clients."""
    if not cluster:
        return None, None
    call = _ClusterCall(pipeline)
    return call, _cluster_call.set(call)


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
        "_cluster_attributes",
        "_no_connection",
        "active",
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

    def __init__(
        self,
        *,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        request_hook: object = None,
        response_hook: object = None,
        sanitize: bool = True,
    ) -> None:
        database = opt_in_mode("database")
        http = opt_in_mode("http")
        self.old = database.old
        self.new = database.new
        # Peer and transport attributes are networking conventions: on database spans they
        # switch with the ``http`` opt-in (the specification's networking migration, upstream).
        self.peer_new = http.new
        self.peer_old = http.old
        url = schema_url("database", database) if database.new else schema_url("http", http)
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=url)
        meter = shared_meter(SCOPE, __version__, meter_provider, schema_url=url)
        self.duration = histogram(
            meter,
            a.DB_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Duration of database client operations.",
            buckets=a.DURATION_BUCKETS_S,
        )
        self.request_hook = safe_hook(request_hook, "request_hook")
        self.response_hook = safe_hook(response_hook, "response_hook")
        self.sanitize = sanitize
        keys = []
        if self.old:
            keys.append(a.DB_STATEMENT)
        if self.new:
            keys.append(a.DB_QUERY_TEXT)
        self.statement_keys = tuple(keys)
        self.active = True
        self._no_connection = self._base(None)
        self._cluster_attributes = self._base({"db": 0}, peer=False)

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

    def connection_attributes(self, instance: object) -> tuple[Attributes, Attributes]:
        """(span, metric) attributes of ``instance``'s connection, cached on its pool."""
        try:
            pool = instance.connection_pool  # type: ignore[attr-defined]
            kwargs = pool.connection_kwargs
            cached = pool.__dict__.get(_POOL_CACHE)
        except AttributeError:
            return self._no_connection
        if cached is not None and cached[0] is self and cached[1] is kwargs:
            return cached[2], cached[3]
        if not isinstance(kwargs, dict):
            return self._no_connection
        span, metric = self._base(kwargs)
        pool.__dict__[_POOL_CACHE] = (self, kwargs, span, metric)
        return span, metric

    def _left_cluster(
        self,
        span: Span,
        metric: Attributes,
        call: Optional[_ClusterCall],
        reset: Optional[contextvars.Token[Optional[_ClusterCall]]],
    ) -> Attributes:
        """After a cluster call (``call`` from ``_enter_cluster``): stop noting nodes and add
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

    # --- span life ----------------------------------------------------------------------------

    def _start(
        self, name: str, attributes: Attributes, raw: Callable[[], str]
    ) -> tuple[Span, object, float]:
        span = self.tracer.start_span(name, kind=_CLIENT, attributes=attributes)
        if not self.sanitize and span.is_recording():
            text = raw()
            for key in self.statement_keys:
                span.set_attribute(key, text)
        token = attach(_set_span_in_context(span))
        return span, token, perf_counter()

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

    def _end(self, span: Span, token: object, started: float, metric: Attributes) -> None:
        self.duration.record(perf_counter() - started, metric)
        span.end()
        detach(token)  # type: ignore[arg-type]

    # --- commands -----------------------------------------------------------------------------

    def _command_start(
        self, instance: object, args: tuple[Any, ...], base: tuple[Attributes, Attributes]
    ) -> tuple[Span, object, float, Attributes]:
        name = command_name(args)
        span_base, metric_base = base
        attributes = span_base.copy()
        attributes[a.DB_REDIS_ARGS_LENGTH] = len(args)
        if self.sanitize:
            text = statement(name, args, True)
            for key in self.statement_keys:
                attributes[key] = text
        if self.new and name:
            attributes[a.DB_OPERATION_NAME] = name
        metric = metric_base.copy()
        metric[a.DB_OPERATION_NAME] = name or ""
        span, token, started = self._start(
            span_name(name), attributes, lambda: statement(name, args, False)
        )
        return span, token, started, metric

    def command(
        self,
        wrapped: Callable[..., Any],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cluster: bool = False,
    ) -> Any:
        """Run one command (``execute_command``) in a span."""
        if is_suppressed():
            return wrapped(*args, **kwargs)
        base = self._cluster_attributes if cluster else self.connection_attributes(instance)
        call, reset = _enter_cluster(cluster, pipeline=False)
        span, token, started, metric = self._command_start(instance, args, base)
        try:
            if self.request_hook is not None:
                self.request_hook(span, instance, args, kwargs)
            response = wrapped(*args, **kwargs)
        except BaseException as exc:
            metric = self._left_cluster(span, metric, call, reset)
            self._end(span, token, started, self._fail(span, exc, metric, pipeline=False))
            raise
        metric = self._left_cluster(span, metric, call, reset)
        if self.response_hook is not None:
            self.response_hook(span, instance, response)
        self._end(span, token, started, metric)
        return response

    async def command_async(
        self,
        wrapped: Callable[..., Awaitable[Any]],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cluster: bool = False,
    ) -> Any:
        """``command`` for asyncio clients: the span covers the whole awaited call."""
        if is_suppressed():
            return await wrapped(*args, **kwargs)
        base = self._cluster_attributes if cluster else self.connection_attributes(instance)
        call, reset = _enter_cluster(cluster, pipeline=False)
        span, token, started, metric = self._command_start(instance, args, base)
        try:
            if self.request_hook is not None:
                self.request_hook(span, instance, args, kwargs)
            response = await wrapped(*args, **kwargs)
        except BaseException as exc:
            metric = self._left_cluster(span, metric, call, reset)
            self._end(span, token, started, self._fail(span, exc, metric, pipeline=False))
            raise
        metric = self._left_cluster(span, metric, call, reset)
        if self.response_hook is not None:
            self.response_hook(span, instance, response)
        self._end(span, token, started, metric)
        return response

    # --- pipelines ----------------------------------------------------------------------------

    def _pipeline_start(
        self, instance: object, cluster: bool
    ) -> tuple[Span, object, float, Attributes]:
        entries: Sequence[Any] = pipeline_commands(instance) or ()
        arg_lists = [command_args(entry) for entry in entries]
        names = [command_name(args) for args in arg_lists]
        if cluster:
            span_base, metric_base = self._cluster_attributes
        else:
            span_base, metric_base = self.connection_attributes(instance)
        attributes = span_base.copy()
        attributes[a.DB_REDIS_PIPELINE_LENGTH] = len(arg_lists)
        if self.sanitize:
            text = pipeline_statement(names, arg_lists, True)
            for key in self.statement_keys:
                attributes[key] = text
        operation = batch_operation_name(names)
        if self.new:
            attributes[a.DB_OPERATION_NAME] = operation
            if len(entries) != 1:
                attributes[a.DB_OPERATION_BATCH_SIZE] = len(entries)
        metric = metric_base.copy()
        metric[a.DB_OPERATION_NAME] = operation
        name = " ".join(n for n in names if n) or "redis"
        span, token, started = self._start(
            name, attributes, lambda: pipeline_statement(names, arg_lists, False)
        )
        return span, token, started, metric

    def pipeline(
        self,
        wrapped: Callable[..., Any],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cluster: bool = False,
    ) -> Any:
        """Run a pipeline's or transaction's ``execute()`` in one span."""
        if is_suppressed():
            return wrapped(*args, **kwargs)
        span, token, started, metric = self._pipeline_start(instance, cluster)
        call, reset = _enter_cluster(cluster, pipeline=True)
        try:
            response = wrapped(*args, **kwargs)
        except BaseException as exc:
            metric = self._left_cluster(span, metric, call, reset)
            failed = self._fail(span, exc, metric, pipeline=True)
            if self.response_hook is not None and type(exc).__name__ == "WatchError":
                self.response_hook(span, instance, None)
            self._end(span, token, started, failed)
            raise
        metric = self._left_cluster(span, metric, call, reset)
        if self.response_hook is not None:
            self.response_hook(span, instance, response)
        self._end(span, token, started, metric)
        return response

    async def pipeline_async(
        self,
        wrapped: Callable[..., Awaitable[Any]],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cluster: bool = False,
    ) -> Any:
        """``pipeline`` for asyncio clients."""
        if is_suppressed():
            return await wrapped(*args, **kwargs)
        span, token, started, metric = self._pipeline_start(instance, cluster)
        call, reset = _enter_cluster(cluster, pipeline=True)
        try:
            response = await wrapped(*args, **kwargs)
        except BaseException as exc:
            metric = self._left_cluster(span, metric, call, reset)
            failed = self._fail(span, exc, metric, pipeline=True)
            if self.response_hook is not None and type(exc).__name__ == "WatchError":
                self.response_hook(span, instance, None)
            self._end(span, token, started, failed)
            raise
        metric = self._left_cluster(span, metric, call, reset)
        if self.response_hook is not None:
            self.response_hook(span, instance, response)
        self._end(span, token, started, metric)
        return response
