"""Servers: an interceptor that hands grpc a traced copy of each method's handler.

The traced handler is made once per method (and handler object) and reused, so a call costs the
wrapper and the span, not a new handler. The wrapper of each behaviour keeps its nature, which
grpc inspects: a plain function stays plain, a coroutine function stays a coroutine function,
an (async) generator stays one. Per call it extracts the context from the invocation metadata,
starts a SERVER span with the method's prebuilt attributes plus the peer's, makes the span
current, runs the behaviour and ends the span with the code the handler set (``set_code``,
``abort``), or UNKNOWN with one exception event when the behaviour raised.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from time import perf_counter_ns
from types import TracebackType
from typing import Any, Callable, Final, Optional

from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.propagate import extract
from opentelemetry.trace import Span

import grpc  # type: ignore[import-untyped]
from instrumentarium.util.safety import guard, is_suppressed

from ._telemetry import GrpcTelemetry, MetadataGetter, RpcMethod, describe

__all__ = ["ServerInterceptor", "HandlerCache"]

_getter: Final = MetadataGetter()
_set_span_in_context = trace.set_span_in_context
_CODES: Final = {code.value[0]: code for code in grpc.StatusCode}
_HANDLERS_KEPT: Final = 1024


def _status_code(value: object) -> Optional[grpc.StatusCode]:
    if isinstance(value, grpc.StatusCode):
        return value
    if isinstance(value, int):
        return _CODES.get(value)
    return None


def _context_status(context: Any) -> tuple[Optional[grpc.StatusCode], Optional[str]]:
    """The code and details a handler set on its servicer context (None when it set none)."""
    try:
        code = _status_code(context.code())
        if code is None:
            return None, None
        details = context.details()
    except Exception:  # grpc releases without code()/details(): the status is unknown here
        return None, None
    if isinstance(details, bytes):
        details = details.decode("utf-8", "replace")
    return code, details if isinstance(details, str) else None


class _ServerCall:
    """One traced call of a handler: ``with call:`` makes its span current around the
    behaviour and ends the span on the way out, with the handler's code or the exception's."""

    __slots__ = ("context", "ctx", "method", "span", "started", "telemetry", "token")

    def __init__(
        self, telemetry: GrpcTelemetry, method: RpcMethod, context: Any, span: Span, ctx: Context
    ) -> None:
        self.telemetry = telemetry
        self.method = method
        self.context = context
        self.span = span
        self.ctx = ctx
        self.started = perf_counter_ns()
        self.token: object = None

    def __enter__(self) -> None:
        self.token = attach(self.ctx)

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:  # the behaviour's exception, if any, goes on unchanged
        detach(self.token)  # type: ignore[arg-type]
        if exc is None:  # the common case, inline
            code, details = _context_status(self.context)
            self.telemetry.end(self.span, self.method, self.started, code, details)
        else:
            self.finish(exc)

    def finish(self, exc: Optional[BaseException]) -> None:
        """End the span: the code the handler set (``set_code``, ``abort``), or UNKNOWN with
        one exception event when the behaviour raised, CANCELLED when the call ended under
        it."""
        telemetry, span, method, started = self.telemetry, self.span, self.method, self.started
        if exc is None:
            code, details = _context_status(self.context)
            telemetry.end(span, method, started, code, details)
            return
        if isinstance(exc, (GeneratorExit, asyncio.CancelledError)):  # the call ended under us
            telemetry.end(span, method, started, grpc.StatusCode.CANCELLED, None)
            return
        code, details = _context_status(self.context)
        if _is_abort(exc):
            telemetry.end(span, method, started, code or grpc.StatusCode.UNKNOWN, details)
            return
        if code is None or code is grpc.StatusCode.OK:
            code, details = grpc.StatusCode.UNKNOWN, describe(exc)
        telemetry.end(span, method, started, code, details, exc, record=True)


_BEGIN: Final = guard("starting the grpc server span")


def _begin(telemetry: GrpcTelemetry, method: RpcMethod, context: Any) -> Optional[_ServerCall]:
    """Start the SERVER span of one call, a child of the context in its metadata, with the
    method's attributes and the peer's. None: run the behaviour plain (not in force,
    suppressed, or a failure of ours, logged)."""
    if telemetry.holder.global_ is not telemetry or is_suppressed():
        return None
    with _BEGIN:
        metadata = context.invocation_metadata()
        carrier: dict[str, Any] = dict(metadata) if metadata else {}
        parent = extract(carrier, getter=_getter)
        attributes = method.attributes.copy()
        attributes.update(telemetry.peer_attributes(context.peer()))
        telemetry.user_agent(attributes, carrier.get("user-agent"))
        span = telemetry.tracer.start_span(
            method.span_name, parent, kind=telemetry.kind, attributes=attributes
        )
        return _ServerCall(telemetry, method, context, span, _set_span_in_context(span, parent))
    return None


def _is_abort(exc: BaseException) -> bool:
    # The sync server's abort() raises a bare Exception(); the aio server's, AbortError.
    if type(exc) is Exception and not exc.args:
        return True
    aio = getattr(grpc, "aio", None)
    abort_error = getattr(aio, "AbortError", None)
    return abort_error is not None and isinstance(exc, abort_error)


# --- behaviour wrappers: each keeps the nature of the user's behaviour ------------------------

Behavior = Callable[..., Any]


def _traced_function(telemetry: GrpcTelemetry, method: RpcMethod, behavior: Behavior) -> Behavior:
    """A plain behaviour returning one response (unary or client-streaming request)."""

    def traced(request: Any, context: Any) -> Any:
        call = _begin(telemetry, method, context)
        if call is None:
            return behavior(request, context)
        with call:
            return behavior(request, context)

    return traced


def _traced_generator(telemetry: GrpcTelemetry, method: RpcMethod, behavior: Behavior) -> Behavior:
    """A plain behaviour returning a response iterator: the span covers the whole stream.
    grpc drains (or closes) the iterator in the handler's thread, so the context can stay
    attached from the first message to the last and be detached in this same frame."""

    def traced(request: Any, context: Any) -> Iterator[Any]:
        call = _begin(telemetry, method, context)
        if call is None:
            yield from behavior(request, context)
            return
        with call:
            yield from behavior(request, context)

    return traced


def _traced_coroutine(telemetry: GrpcTelemetry, method: RpcMethod, behavior: Behavior) -> Behavior:
    """An ``async def`` behaviour (asyncio server): one response, or writes via the context."""

    async def traced(request: Any, context: Any) -> Any:
        call = _begin(telemetry, method, context)
        if call is None:
            return await behavior(request, context)
        with call:
            return await behavior(request, context)

    return traced


def _traced_async_generator(
    telemetry: GrpcTelemetry, method: RpcMethod, behavior: Behavior
) -> Behavior:
    """An async generator behaviour (asyncio server). The span is current while the behaviour
    runs, and only then: it is attached around each step, since the generator may be finalized
    from another task."""

    async def traced(request: Any, context: Any) -> AsyncIterator[Any]:
        call = _begin(telemetry, method, context)
        if call is None:
            async for message in behavior(request, context):
                yield message
            return
        token = attach(call.ctx)
        try:
            responses = behavior(request, context)
        finally:
            detach(token)
        try:
            while True:
                token = attach(call.ctx)
                try:
                    message = await responses.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    detach(token)
                yield message
        except BaseException as exc:
            call.finish(exc)
            await responses.aclose()
            raise
        call.finish(None)

    return traced


def _wrap(telemetry: GrpcTelemetry, method: RpcMethod, behavior: Behavior) -> Optional[Behavior]:
    if inspect.isasyncgenfunction(behavior):
        return _traced_async_generator(telemetry, method, behavior)
    if inspect.iscoroutinefunction(behavior):
        return _traced_coroutine(telemetry, method, behavior)
    return None  # a plain function: the caller knows whether it returns one message or many


def traced_handler(telemetry: GrpcTelemetry, method: RpcMethod, handler: Any) -> Any:
    """A copy of ``handler`` (a ``grpc.RpcMethodHandler``) whose behaviour is traced."""
    deserializer = handler.request_deserializer
    serializer = handler.response_serializer
    if handler.response_streaming:
        behavior = handler.stream_stream if handler.request_streaming else handler.unary_stream
        traced = _wrap(telemetry, method, behavior) or _traced_generator(
            telemetry, method, behavior
        )
        make = (
            grpc.stream_stream_rpc_method_handler
            if handler.request_streaming
            else grpc.unary_stream_rpc_method_handler
        )
    else:
        behavior = handler.stream_unary if handler.request_streaming else handler.unary_unary
        traced = _wrap(telemetry, method, behavior) or _traced_function(telemetry, method, behavior)
        make = (
            grpc.stream_unary_rpc_method_handler
            if handler.request_streaming
            else grpc.unary_unary_rpc_method_handler
        )
    return make(traced, request_deserializer=deserializer, response_serializer=serializer)


class HandlerCache:
    """The traced handler of each method, made once and reused while grpc returns the same
    handler object for that method."""

    __slots__ = ("_handlers", "telemetry")

    def __init__(self, telemetry: GrpcTelemetry) -> None:
        self.telemetry = telemetry
        self._handlers: dict[object, tuple[Any, Any]] = {}

    def traced(self, handler: Any, method_name: object) -> Any:
        cached = self._handlers.get(method_name)
        if cached is not None and cached[0] is handler:
            return cached[1]
        method = self.telemetry.method(method_name)
        traced = handler if method is None else traced_handler(self.telemetry, method, handler)
        if len(self._handlers) < _HANDLERS_KEPT:
            self._handlers[method_name] = (handler, traced)
        return traced


class ServerInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Traces every call a synchronous ``grpc.server`` handles."""

    def __init__(self, telemetry: GrpcTelemetry) -> None:
        self._cache = HandlerCache(telemetry)

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        telemetry = self._cache.telemetry
        if handler is None or telemetry.holder.global_ is not telemetry or is_suppressed():
            return handler
        return self._cache.traced(handler, handler_call_details.method)
