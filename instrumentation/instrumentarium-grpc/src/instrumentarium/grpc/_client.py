"""The synchronous client: a channel whose multi-callables trace each call.

``TracedChannel`` wraps what ``grpc.insecure_channel`` / ``grpc.secure_channel`` return. Its
``unary_unary`` & co. return the real multi-callable wrapped in a small traced one, made once per
stub method, so the method's span name and attributes are looked up once, not per call. Per call
the wrapper starts a CLIENT span, puts the trace context into the outgoing metadata and makes the
real call. The span ends exactly once:

* ``__call__`` / ``with_call``: when the call returns or raises;
* ``future()``: in the future's done callback (completed, failed or cancelled);
* streamed responses: when the stream ends, fails, is cancelled, or is dropped by the caller
  (``ResponseStream`` ends it in ``__del__``, the call itself being cancelled by grpc).

``ClientInterceptor`` does the same through grpc's own interceptor API
(``grpc.intercept_channel(channel, client_interceptor())``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from time import perf_counter_ns
from typing import Any, Callable, Final, Optional

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.trace import Span

import grpc  # type: ignore[import-untyped]
from instrumentarium.util.safety import guard, is_suppressed

from ._telemetry import GrpcTelemetry, MetadataSetter, RpcMethod, describe, rpc_error_code

__all__ = ["ClientInterceptor", "ResponseStream", "TracedChannel", "begin", "fail"]

_setter = MetadataSetter()
_set_span_in_context = trace.set_span_in_context
_CANCELLED = grpc.StatusCode.CANCELLED


_BEGIN: Final = guard("starting the grpc client span")


def begin(
    telemetry: GrpcTelemetry, method: RpcMethod, metadata: Any, request: Any
) -> Optional[tuple[Span, list[tuple[str, Any]], int]]:
    """Start the CLIENT span of one call (sync or asyncio) and run the request hook; the span,
    the outgoing metadata with the context injected, the start time. None: make the call plain
    (not in force, suppressed, or a failure of ours, logged)."""
    if telemetry.holder.global_ is not telemetry or is_suppressed():
        return None
    with _BEGIN:
        span = telemetry.tracer.start_span(
            method.span_name, kind=telemetry.kind, attributes=method.attributes
        )
        carrier: list[tuple[str, Any]] = list(metadata) if metadata else []
        try:
            inject(carrier, context=_set_span_in_context(span), setter=_setter)
        except BaseException:
            span.end()
            raise
        if telemetry.request_hook is not None:
            telemetry.request_hook(span, request)
        return span, carrier, perf_counter_ns()
    return None


def fail(
    telemetry: GrpcTelemetry, span: Span, method: RpcMethod, started: int, exc: BaseException
) -> None:
    """End the span of a call that raised ``exc``: an ``RpcError`` with its code, a
    cancellation (asyncio) as CANCELLED, anything else as UNKNOWN."""
    if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        telemetry.end(span, method, started, _CANCELLED, "cancelled by the caller")
        return
    code, details = rpc_error_code(exc)
    if code is None:
        code, details = grpc.StatusCode.UNKNOWN, describe(exc)
    telemetry.end(span, method, started, code, details, exc, record=True)


def end_when_done(
    telemetry: GrpcTelemetry, span: Span, method: RpcMethod, started: int, future: Any
) -> None:
    """End the span when ``future`` (a ``grpc.Future`` that is also a ``grpc.Call``) is done."""

    def done(fut: Any) -> None:
        try:
            code = fut.code()
            details = fut.details()
            if code is grpc.StatusCode.OK and telemetry.response_hook is not None:
                telemetry.response_hook(span, fut.result())
        except grpc.FutureCancelledError:
            code, details = _CANCELLED, "cancelled by the caller"
        except Exception:
            code, details = grpc.StatusCode.UNKNOWN, None
        telemetry.end(span, method, started, code, details)

    future.add_done_callback(done)


Finish = Callable[[GrpcTelemetry, Span, RpcMethod, int, Any], Any]


def traced_call(
    telemetry: GrpcTelemetry,
    method: RpcMethod,
    metadata: Any,
    request: Any,
    invoke: Callable[[Any], Any],
    finish: Finish,
) -> Any:
    """``invoke(metadata)`` in a CLIENT span (plain when ``begin`` starts none): the context
    goes into the metadata and the request hook runs first; a raise ends the span ERROR, else
    ``finish`` ends it (now or later) and gives what the caller gets."""
    begun = begin(telemetry, method, metadata, request)
    if begun is None:
        return invoke(metadata)
    span, metadata, started = begun
    try:
        outcome = invoke(metadata)
    except BaseException as exc:
        fail(telemetry, span, method, started, exc)
        raise
    return finish(telemetry, span, method, started, outcome)


def _respond(
    telemetry: GrpcTelemetry, span: Span, method: RpcMethod, started: int, response: Any
) -> Any:
    """A unary response: the response hook, then the span ends."""
    if telemetry.response_hook is not None:
        telemetry.response_hook(span, response)
    telemetry.end(span, method, started)
    return response


def _respond_with_call(
    telemetry: GrpcTelemetry, span: Span, method: RpcMethod, started: int, result: Any
) -> Any:
    """``with_call``'s ``(response, call)``: the hook gets the response."""
    _respond(telemetry, span, method, started, result[0])
    return result


def _end_when_done(
    telemetry: GrpcTelemetry, span: Span, method: RpcMethod, started: int, future: Any
) -> Any:
    end_when_done(telemetry, span, method, started, future)
    return future


def _as_stream(
    telemetry: GrpcTelemetry, span: Span, method: RpcMethod, started: int, stream: Any
) -> Any:
    return ResponseStream(stream, telemetry, span, method, started)


class ResponseStream(Iterator[Any]):
    """A streamed response (an iterator that is also a ``grpc.Call`` and ``grpc.Future``) whose
    span ends when the stream ends, fails, is cancelled, or is dropped."""

    __slots__ = ("_method", "_next", "_response_hook", "_span", "_started", "_stream", "_tel")

    def __init__(
        self, stream: Any, telemetry: GrpcTelemetry, span: Span, method: RpcMethod, started: int
    ) -> None:
        self._stream = stream
        self._next: Callable[[], Any] = stream.__next__
        self._tel = telemetry
        self._span: Optional[Span] = span
        self._method = method
        self._started = started
        self._response_hook = telemetry.response_hook

    def __iter__(self) -> ResponseStream:
        return self

    def __next__(self) -> Any:
        try:
            message = self._next()
        except StopIteration:
            self._end(None, None, None)
            raise
        except grpc.RpcError as exc:
            code, details = rpc_error_code(exc)
            self._end(code or grpc.StatusCode.UNKNOWN, details, exc)
            raise
        if self._response_hook is not None and self._span is not None:
            self._response_hook(self._span, message)
        return message

    def _end(
        self,
        code: Optional[grpc.StatusCode],
        details: Optional[str],
        exc: Optional[BaseException],
    ) -> None:
        span, self._span = self._span, None
        if span is not None:
            self._tel.end(span, self._method, self._started, code, details, exc, record=True)

    def cancel(self) -> bool:
        cancelled = bool(self._stream.cancel())
        if cancelled:
            self._end(_CANCELLED, "cancelled by the caller", None)
        return cancelled

    def __del__(self) -> None:
        if self._span is None:
            return
        code: Optional[grpc.StatusCode] = _CANCELLED
        details: Optional[str] = "the caller dropped the stream before its end"
        try:
            if self._stream.done():  # finished, but the caller stopped before StopIteration
                code, details = self._stream.code(), self._stream.details()
            else:
                self._stream.cancel()
        except Exception:
            pass
        self._end(code, details, None)

    def __getattr__(self, name: str) -> Any:  # code(), details(), trailing_metadata(), ...
        return getattr(self._stream, name)


class _Traced:
    """The parts every traced multi-callable shares."""

    __slots__ = ("_inner", "_method", "_tel")

    def __init__(self, inner: Any, telemetry: GrpcTelemetry, method: Optional[RpcMethod]) -> None:
        self._inner = inner
        self._tel = telemetry
        self._method = method

    def _call(
        self, invoke: Callable[..., Any], request: Any, metadata: Any, kw: Any, finish: Finish
    ) -> Any:
        """``invoke(request, metadata=..., **kw)``, traced unless excluded or suppressed."""
        method = self._method
        if method is None:
            return invoke(request, metadata=metadata, **kw)
        return traced_call(
            self._tel,
            method,
            metadata,
            request,
            lambda metadata: invoke(request, metadata=metadata, **kw),
            finish,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _traced_method(attribute: Optional[str], finish: Finish) -> Callable[..., Any]:
    """A traced multi-callable method: ``__call__`` (``attribute`` None), ``with_call`` or
    ``future`` of the inner one, with grpc's parameters, ended by ``finish``."""

    def call(
        self: _Traced,
        request: Any,
        timeout: Optional[float] = None,
        metadata: Any = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> Any:
        invoke = self._inner if attribute is None else getattr(self._inner, attribute)
        kw = {
            "timeout": timeout,
            "credentials": credentials,
            "wait_for_ready": wait_for_ready,
            "compression": compression,
        }
        return self._call(invoke, request, metadata, kw, finish)

    return call


class _UnaryResponse(_Traced):
    """``unary_unary`` and ``stream_unary``: ``__call__``, ``with_call`` and ``future``."""

    __slots__ = ()
    __call__ = _traced_method(None, _respond)
    with_call = _traced_method("with_call", _respond_with_call)
    future = _traced_method("future", _end_when_done)


class _StreamResponse(_Traced):
    """``unary_stream`` and ``stream_stream``: the call returns a ``ResponseStream``."""

    __slots__ = ()
    __call__ = _traced_method(None, _as_stream)


class TracedChannel(grpc.Channel):  # type: ignore[misc]
    """A ``grpc.Channel`` whose calls are traced by ``telemetry``; everything else is the
    wrapped channel's."""

    def __init__(self, channel: grpc.Channel, telemetry: GrpcTelemetry, target: object) -> None:
        self._channel = channel
        self._telemetry = telemetry
        self._target = target

    def _traced(self, cls: type[_Traced], inner: Any, args: tuple[Any, ...], kw: Any) -> Any:
        method = args[0] if args else kw.get("method")
        return cls(inner, self._telemetry, self._telemetry.method(method, self._target))

    def unary_unary(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._channel.unary_unary(*args, **kwargs)
        return self._traced(_UnaryResponse, inner, args, kwargs)

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._channel.unary_stream(*args, **kwargs)
        return self._traced(_StreamResponse, inner, args, kwargs)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._channel.stream_unary(*args, **kwargs)
        return self._traced(_UnaryResponse, inner, args, kwargs)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._channel.stream_stream(*args, **kwargs)
        return self._traced(_StreamResponse, inner, args, kwargs)

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        self._channel.subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback: Any) -> None:
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> TracedChannel:
        self._channel.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        return self._channel.__exit__(*exc_info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)


class _CallDetails(grpc.ClientCallDetails):  # type: ignore[misc]
    """The call details passed on by ``ClientInterceptor``, with the context in the metadata."""

    def __init__(self, details: Any, metadata: list[tuple[str, Any]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class ClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Traces calls through grpc's interceptor API: ``grpc.intercept_channel(channel, it)``."""

    def __init__(self, telemetry: GrpcTelemetry) -> None:
        self._telemetry = telemetry

    def _intercept(self, continuation: Any, details: Any, request: Any, finish: Finish) -> Any:
        telemetry = self._telemetry
        method = telemetry.method(details.method)
        if method is None:
            return continuation(details, request)
        return traced_call(
            telemetry,
            method,
            details.metadata,
            request,
            lambda metadata: continuation(_CallDetails(details, metadata), request),
            finish,
        )

    def _unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return self._intercept(continuation, details, request, _end_when_done)

    def _stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return self._intercept(continuation, details, request, _as_stream)

    # grpc calls intercept_<type>(continuation, client_call_details, request or iterator).
    intercept_unary_unary = _unary
    intercept_stream_unary = _unary
    intercept_unary_stream = _stream
    intercept_stream_stream = _stream
