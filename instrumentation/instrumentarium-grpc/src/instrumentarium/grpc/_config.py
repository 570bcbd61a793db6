"""The options of the four gRPC instrumentors and the by-hand interceptors, declared once.

``GrpcServerConfig``: ``GrpcInstrumentorServer`` / ``GrpcAioInstrumentorServer`` and
``server_interceptor()`` / ``aio_server_interceptor()``. ``GrpcClientConfig``: the two client
instrumentors and ``client_interceptor()`` / ``aio_client_interceptors()``. ``filter_`` is also
the instrumentors' constructor argument; a ``filter_`` given to ``instrument()`` wins.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from opentelemetry.trace import Span

from instrumentarium.util.config import ProviderConfig, option

from ._env import EXCLUDED_SERVICES_ENV
from .filters import Filter

__all__ = ["GrpcClientConfig", "GrpcServerConfig", "RequestHook", "ResponseHook"]

# request_hook(span, request) before the call; response_hook(span, response) per response.
RequestHook = Callable[[Span, Any], None]
ResponseHook = Callable[[Span, Any], None]


class _GrpcConfig(ProviderConfig):
    """What both sides take."""

    filter_: Optional[Filter] = option(
        None,
        env=EXCLUDED_SERVICES_ENV,
        doc="``filter_(details) -> bool``: trace only the calls it accepts (see ``filters``; also a"
        " constructor argument); services (``package.Service``) named in the variable, comma"
        "-separated, are never traced, filter or not",
    )


class GrpcServerConfig(_GrpcConfig):
    """The resolved options of a server instrumentor or interceptor."""


class GrpcClientConfig(_GrpcConfig):
    """The resolved options of a client instrumentor or interceptor."""

    request_hook: Optional[RequestHook] = option(
        None,
        doc="``hook(span, request)``: in the client span, before the call; ``request`` is the"
        " message, or the request iterator for client streaming",
    )
    response_hook: Optional[ResponseHook] = option(
        None,
        doc="``hook(span, response)``: in the client span, after each response message (once"
        " for a unary response, per message for a stream)",
    )
    channel_type: Optional[str] = option(
        None,
        doc='``"secure"``: only ``grpc.secure_channel`` is traced; any other value: only'
        " ``grpc.insecure_channel``; unset: as the two options below say",
    )
    insecure_channel: bool = option(True, doc="trace ``grpc.insecure_channel`` channels")
    secure_channel: bool = option(True, doc="trace ``grpc.secure_channel`` channels")
