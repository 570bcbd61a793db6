# ruff: noqa: PLC0415  (grpc is imported lazily, on first use: importing us must not import it)
"""Interceptors to install by hand, without the instrumentors (upstream's helpers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from ._config import GrpcClientConfig, GrpcServerConfig, RequestHook, ResponseHook
from ._telemetry import GrpcTelemetry
from .filters import Filter

if TYPE_CHECKING:
    from ._aio import AioClientInterceptor, AioServerInterceptor
    from ._client import ClientInterceptor
    from ._server import ServerInterceptor

__all__ = [
    "aio_client_interceptors",
    "aio_server_interceptor",
    "client_interceptor",
    "server_interceptor",
]


def _client_telemetry(
    tracer_provider: Optional[TracerProvider],
    filter_: Optional[Filter],
    request_hook: Optional[RequestHook],
    response_hook: Optional[ResponseHook],
    meter_provider: Optional[MeterProvider],
) -> GrpcTelemetry:
    config = GrpcClientConfig.resolve(
        {
            "tracer_provider": tracer_provider,
            "filter_": filter_,
            "request_hook": request_hook,
            "response_hook": response_hook,
            "meter_provider": meter_provider,
        }
    )
    return GrpcTelemetry(config)


def _server_telemetry(
    tracer_provider: Optional[TracerProvider],
    filter_: Optional[Filter],
    meter_provider: Optional[MeterProvider],
) -> GrpcTelemetry:
    config = GrpcServerConfig.resolve(
        {"tracer_provider": tracer_provider, "filter_": filter_, "meter_provider": meter_provider}
    )
    return GrpcTelemetry(config)


def client_interceptor(
    tracer_provider: Optional[TracerProvider] = None,
    filter_: Optional[Filter] = None,
    request_hook: Optional[RequestHook] = None,
    response_hook: Optional[ResponseHook] = None,
    meter_provider: Optional[MeterProvider] = None,
) -> ClientInterceptor:
    """An interceptor for ``grpc.intercept_channel(channel, client_interceptor())``."""
    from ._client import ClientInterceptor

    telemetry = _client_telemetry(
        tracer_provider, filter_, request_hook, response_hook, meter_provider
    )
    return ClientInterceptor(telemetry)


def server_interceptor(
    tracer_provider: Optional[TracerProvider] = None,
    filter_: Optional[Filter] = None,
    meter_provider: Optional[MeterProvider] = None,
) -> ServerInterceptor:
    """An interceptor for ``grpc.server(..., interceptors=[server_interceptor()])``."""
    from ._server import ServerInterceptor

    return ServerInterceptor(_server_telemetry(tracer_provider, filter_, meter_provider))


def aio_client_interceptors(
    tracer_provider: Optional[TracerProvider] = None,
    filter_: Optional[Filter] = None,
    request_hook: Optional[RequestHook] = None,
    response_hook: Optional[ResponseHook] = None,
    meter_provider: Optional[MeterProvider] = None,
) -> list[AioClientInterceptor]:
    """The four interceptors for ``grpc.aio.insecure_channel(..., interceptors=...)``."""
    from ._aio import aio_client_interceptors_for

    telemetry = _client_telemetry(
        tracer_provider, filter_, request_hook, response_hook, meter_provider
    )
    return aio_client_interceptors_for(telemetry)


def aio_server_interceptor(
    tracer_provider: Optional[TracerProvider] = None,
    filter_: Optional[Filter] = None,
    meter_provider: Optional[MeterProvider] = None,
) -> AioServerInterceptor:
    """An interceptor for ``grpc.aio.server(interceptors=[aio_server_interceptor()])``."""
    from ._aio import AioServerInterceptor

    return AioServerInterceptor(_server_telemetry(tracer_provider, filter_, meter_provider))
