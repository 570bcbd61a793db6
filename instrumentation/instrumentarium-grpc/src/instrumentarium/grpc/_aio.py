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

from collections.abc import AsyncIterator
from typing import Any, Optional

from opentelemetry import trace
from opentelemetry.trace import Span

import grpc  # type: ignore[import-untyped]
import grpc.aio  # type: ignore[import-untyped]
from instrumentarium.util.safety import is_suppressed

from ._client import begin, fail
from ._server import HandlerCache
from ._telemetry import GrpcTelemetry, MetadataSetter, RpcMethod

__all__ = ["AioServerInterceptor", "aio_client_interceptors_for"]

_setter = MetadataSetter()
_set_span_in_context = trace.set_span_in_context
_CANCELLED = grpc.StatusCode.CANCELLED


class AioClientInterceptor:
    """What the four aio client interceptors share: the start of a traced call and the wait
    for its response(s); each subclass is the one method grpc calls for its call type."""

    def __init__(self, telemetry: GrpcTelemetry) -> None:
        self._telemetry = telemetry

    async def _start(
        self, continuation: Any, details: Any, request: Any
    ) -> tuple[Optional[tuple[RpcMethod, Span, int]], Any]:
        """Start the call: ``(None, call)`` when it is not traced, else the span's
        ``(method, span, started)`` and the call, made with the request hook run first; a call
        that fails to start ends its span."""
        telemetry = self._telemetry
        method = telemetry.method(details.method)
        begun = None if method is None else begin(telemetry, method, details.metadata, request)
        if method is None or begun is None:
            return None, await continuation(details, request)
        span, carrier, started = begun
        traced_details = grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*carrier),
            details.credentials,
            details.wait_for_ready,
        )
        try:
            return (method, span, started), await continuation(traced_details, request)
        except BaseException as exc:
            fail(telemetry, span, method, started, exc)
            raise

    async def unary_response(self, continuation: Any, details: Any, request: Any) -> Any:
        begun, call = await self._start(continuation, details, request)
        if begun is None:
            return call
        method, span, started = begun
        telemetry = self._telemetry
        try:
            response = await call
        except grpc.aio.AioRpcError as exc:
            fail(telemetry, span, method, started, exc)
            return call  # the caller gets the same error from the call it awaits
        except BaseException as exc:
            fail(telemetry, span, method, started, exc)
            raise
        if telemetry.response_hook is not None:
            telemetry.response_hook(span, response)
        telemetry.end(span, method, started)
        return call

    async def stream_response(self, continuation: Any, details: Any, request: Any) -> Any:
        begun, call = await self._start(continuation, details, request)
        if begun is None:
            return call
        method, span, started = begun
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
            fail(self._telemetry, span, method, started, exc)
            raise
        self._telemetry.end(span, method, started)


# grpc calls intercept_<type>(continuation, client_call_details, request or request_iterator).
class _UnaryUnary(AioClientInterceptor, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    intercept_unary_unary = AioClientInterceptor.unary_response


class _StreamUnary(AioClientInterceptor, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    intercept_stream_unary = AioClientInterceptor.unary_response


class _UnaryStream(AioClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    intercept_unary_stream = AioClientInterceptor.stream_response


class _StreamStream(AioClientInterceptor, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    intercept_stream_stream = AioClientInterceptor.stream_response


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
