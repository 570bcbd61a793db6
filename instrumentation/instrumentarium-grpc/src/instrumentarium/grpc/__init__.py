"""OpenTelemetry instrumentation for gRPC (grpcio): clients and servers, sync and asyncio.

Usage::

    from instrumentarium.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer

    GrpcInstrumentorServer().instrument()   # every grpc.server() created from now on
    GrpcInstrumentorClient().instrument()   # every grpc.insecure_channel()/secure_channel()

and ``GrpcAioInstrumentorServer`` / ``GrpcAioInstrumentorClient`` for ``grpc.aio``; or with no
code at all: ``opentelemetry-instrument python app.py`` (entry points ``grpc_client``,
``grpc_server``, ``grpc_aio_client``, ``grpc_aio_server``). Without the instrumentors, the
helpers give interceptors to install by hand: ``server_interceptor()``, ``client_interceptor()``
(for ``grpc.intercept_channel``), ``aio_server_interceptor()``, ``aio_client_interceptors()``.

Each call gets one span, CLIENT or SERVER, named by its full method (``/package.Service/Method``),
and one duration record. The trace context travels in the call's metadata. Importing this module
does not import grpc: the patches (``_patches``) are applied when grpc is imported. Options
(``GrpcClientConfig``, ``GrpcServerConfig``) and attributes: see the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar, Optional

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from instrumentarium.util.config import ActiveConfig

from . import filters
from ._config import GrpcClientConfig, GrpcServerConfig
from ._env import EXCLUDED_SERVICES_ENV
from ._interceptors import (
    aio_client_interceptors,
    aio_server_interceptor,
    client_interceptor,
    server_interceptor,
)
from ._patches import AIO_CLIENT, AIO_SERVER, CLIENT, SERVER, client_patches
from ._telemetry import GrpcTelemetry
from .filters import Filter
from .package import _instruments
from .version import __version__

__all__ = [
    "GrpcInstrumentorClient",
    "GrpcInstrumentorServer",
    "GrpcAioInstrumentorClient",
    "GrpcAioInstrumentorServer",
    "client_interceptor",
    "server_interceptor",
    "aio_client_interceptors",
    "aio_server_interceptor",
    "filters",
    "EXCLUDED_SERVICES_ENV",
    "__version__",
]


class _GrpcInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """What the four share: the filter given to the constructor, and the server side's
    instrument / uninstrument, with the options of ``_options``."""

    _active: ClassVar[ActiveConfig[GrpcTelemetry]]
    _options: ClassVar[type[GrpcServerConfig | GrpcClientConfig]] = GrpcServerConfig

    def __init__(self, filter_: Optional[Filter] = None) -> None:
        self._filter = filter_

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _config(self, kwargs: dict[str, Any]) -> GrpcServerConfig | GrpcClientConfig:
        return self._options.resolve({"filter_": self._filter, **kwargs})

    def _instrument(self, **kwargs: Any) -> None:
        self._active.set_global(GrpcTelemetry(self._config(kwargs), self._active))

    def _uninstrument(self, **_kwargs: Any) -> None:
        self._active.set_global(None)


class GrpcInstrumentorServer(_GrpcInstrumentor):
    """Traces every call served by a ``grpc.server()`` created after ``instrument()``.

    ``GrpcInstrumentorServer(filter_=...)``; ``instrument()`` takes:

    Options (generated from GrpcServerConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``filter_`` (default ``None``; environment ``OTEL_PYTHON_GRPC_EXCLUDED_SERVICES``):
      ``filter_(details) -> bool``: trace only the calls it accepts (see ``filters``; also a
      constructor argument); services (``package.Service``) named in the variable, comma-separated,
      are never traced, filter or not

    """

    _active = SERVER


class GrpcAioInstrumentorServer(_GrpcInstrumentor):
    """Traces every call served by a ``grpc.aio.server()`` created after ``instrument()``."""

    _active = AIO_SERVER


class GrpcInstrumentorClient(_GrpcInstrumentor):
    """Traces every call made through a channel from ``grpc.insecure_channel()`` or
    ``grpc.secure_channel()`` created after ``instrument()``; ``instrument()`` takes:

    Options (generated from GrpcClientConfig by scripts/generate):
    * ``tracer_provider`` (default ``None``): where spans go; None: the global tracer provider
    * ``meter_provider`` (default ``None``): where metrics go; None: the global meter provider
    * ``filter_`` (default ``None``; environment ``OTEL_PYTHON_GRPC_EXCLUDED_SERVICES``):
      ``filter_(details) -> bool``: trace only the calls it accepts (see ``filters``; also a
      constructor argument); services (``package.Service``) named in the variable, comma-separated,
      are never traced, filter or not
    * ``request_hook`` (default ``None``): ``hook(span, request)``: in the client span, before the
      call; ``request`` is the message, or the request iterator for client streaming
    * ``response_hook`` (default ``None``): ``hook(span, response)``: in the client span, after each
      response message (once for a unary response, per message for a stream)
    * ``channel_type`` (default ``None``): ``"secure"``: only ``grpc.secure_channel`` is traced; any
      other value: only ``grpc.insecure_channel``; unset: as the two options below say
    * ``insecure_channel`` (default ``True``): trace ``grpc.insecure_channel`` channels
    * ``secure_channel`` (default ``True``): trace ``grpc.secure_channel`` channels

    """

    _active = CLIENT

    _options = GrpcClientConfig

    def _instrument(self, **kwargs: Any) -> None:
        config = GrpcClientConfig.resolve({"filter_": self._filter, **kwargs})
        CLIENT.patches = client_patches(config)
        CLIENT.set_global(GrpcTelemetry(config, CLIENT))


class GrpcAioInstrumentorClient(_GrpcInstrumentor):
    """Traces every call made through a channel from ``grpc.aio.insecure_channel()`` or
    ``grpc.aio.secure_channel()`` created after ``instrument()``."""

    _active = AIO_CLIENT

    _options = GrpcClientConfig
