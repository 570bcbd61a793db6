"""asyncio (``grpc.aio``): the four client interceptors and the server interceptor.

Client: a call's span starts when the interceptor runs and ends once,

* for a unary response, when the response (or the error) has arrived: the interceptor awaits
  the call, then returns it unchanged, so the caller awaits the same call object;
* for streamed responses, when the stream ends, fails, is cancelled or is dropped: the
  interceptor returns an async generator over the call's messages, which grpc hands to the
  caller.

Server: the same traced handlers as the synchronous server (``_server``), each keeping the nature
of the user's behaviour: ``async def``, async generator, or plain function.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from time import perf_counter_ns
from typing import Any, Optional

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import Span

import grpc  # type: ignore[import-untyped]
import grpc.aio  # type: ignore[import-untyped]
from instrumentarium.util.safety import is_suppressed

from ._server import HandlerCache
from ._telemetry import GrpcTelemetry, MetadataSetter, RpcMethod, rpc_error_code

__all__ = ["AioServerInterceptor", "aio_client_interceptors_for"]

_setter = MetadataSetter()
_set_span_in_context = trace.set_span_in_context
_CANCELLED = grpc.StatusCode.CANCELLED


class AioClientInterceptor:
    """What the four aio client interceptors share: the start of a traced call."""

    def __init__(self, telemetry: GrpcTelemetry) -> None:
        self._telemetry = telemetry

    def _begin(self, details: Any) -> Optional[tuple[RpcMethod, Span, Any, int]]:
        telemetry = self._telemetry
        if telemetry.holder.global_ is not telemetry or is_suppressed():
            return None
        method = telemetry.method(details.method)
        if method is None:
            return None
        span = telemetry.tracer.start_span(
            method.span_name, kind=telemetry.kind, attributes=method.attributes
        )
        carrier: list[tuple[str, Any]] = list(details.metadata) if details.metadata else []
        inject(carrier, context=_set_span_in_context(span), setter=_setter)
        traced_details = grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*carrier),
            details.credentials,
            details.wait_for_ready,
        )
        return method, span, traced_details, perf_counter_ns()

    def _fail(self, span: Span, method: RpcMethod, started: int, exc: BaseException) -> None:
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            self._telemetry.end(span, method, started, _CANCELLED, "cancelled by the caller")
            return
        code, details = rpc_error_code(exc)
        if code is None:
            code, details = grpc.StatusCode.UNKNOWN, f"{type(exc).__name__}: {exc}"
        self._telemetry.end(span, method, started, code, details, exc, record=True)

    async def _start(
        self, continuation: Any, details: Any, request: Any
    ) -> tuple[Optional[tuple[RpcMethod, Span, Any, int]], Any]:
        """Start the call: ``(None, call)`` when it is not traced, else the span's
        ``(method, span, traced details, started)`` and the call, made with the request hook
        run first; a call that fails to start ends its span."""
        begun = self._begin(details)
        if begun is None:
            return None, await continuation(details, request)
        method, span, traced_details, started = begun
        if self._telemetry.request_hook is not None:
            self._telemetry.request_hook(span, request)
        try:
            return begun, await continuation(traced_details, request)
        except BaseException as exc:
            self._fail(span, method, started, exc)
            raise

    async def _unary_response(self, continuation: Any, details: Any, request: Any) -> Any:
        begun, call = await self._start(continuation, details, request)
        if begun is None:
            return call
        method, span, _, started = begun
        telemetry = self._telemetry
        try:
            response = await call
        except grpc.aio.AioRpcError as exc:
            self._fail(span, method, started, exc)
            return call  # the caller gets the same error from the call it awaits
        except BaseException as exc:
            self._fail(span, method, started, exc)
            raise
        if telemetry.response_hook is not None:
            telemetry.response_hook(span, response)
        telemetry.end(span, method, started)
        return call

    async def _stream_response(self, continuation: Any, details: Any, request: Any) -> Any:
        begun, call = await self._start(continuation, details, request)
        if begun is None:
            return call
        method, span, _, started = begun
        return self._messages(call, span, method, started)

    async def _messages(
        self, call: Any, span: Span, method: RpcMethod, started: int
    ) -> AsyncIterator[Any]:
        hook = self._telemetry.response_hook
        try:
            async for message in call:
                if hook is not None:
                    hook(span, message)
                yield message
        except BaseException as exc:
            if isinstance(exc, GeneratorExit):  # dropped by the caller: stop the call too
                call.cancel()
            self._fail(span, method, started, exc)
            raise
        self._telemetry.end(span, method, started)


class _UnaryUnary(AioClientInterceptor, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return await self._unary_response(continuation, client_call_details, request)


class _StreamUnary(AioClientInterceptor, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await self._unary_response(continuation, client_call_details, request_iterator)


class _UnaryStream(AioClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return await self._stream_response(continuation, client_call_details, request)


class _StreamStream(AioClientInterceptor, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await self._stream_response(continuation, client_call_details, request_iterator)


def aio_client_interceptors_for(telemetry: GrpcTelemetry) -> list[AioClientInterceptor]:
    """The four interceptors (one per call type) tracing with ``telemetry``."""
    return [
        _UnaryUnary(telemetry),
        _UnaryStream(telemetry),
        _StreamUnary(telemetry),
        _StreamStream(telemetry),
    ]


class AioServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Traces every call a ``grpc.aio.server`` handles."""

    def __init__(self, telemetry: GrpcTelemetry) -> None:
        self._cache = HandlerCache(telemetry)

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        handler = await continuation(handler_call_details)
        telemetry = self._cache.telemetry
        if handler is None or telemetry.holder.global_ is not telemetry or is_suppressed():
            return handler
        return self._cache.traced(handler, handler_call_details.method)
