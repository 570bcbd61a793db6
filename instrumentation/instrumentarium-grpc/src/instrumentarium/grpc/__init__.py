# ruff: noqa: PLC0415  (grpc is imported lazily, on first use: importing us must not import it)
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
does not import grpc: the patches are applied when grpc is imported. Options and attributes: see
the README.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Callable, Final, Optional

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from instrumentarium.util.patching import Patch, PatchSet

from . import filters
from ._env import EXCLUDED_SERVICES_ENV
from .package import _instruments
from .version import __version__

if TYPE_CHECKING:
    from ._telemetry import RpcTelemetry

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

Filter = Callable[[Any], bool]

# The telemetry of each instrumentor while it is instrumented.
_active: dict[str, RpcTelemetry] = {}


def _make_telemetry(
    client: bool, filter_: Optional[Filter], kwargs: dict[str, Any]
) -> RpcTelemetry:
    from ._telemetry import RpcTelemetry

    return RpcTelemetry(
        client=client,
        tracer_provider=kwargs.get("tracer_provider"),
        meter_provider=kwargs.get("meter_provider"),
        filter_=kwargs.get("filter_", filter_),
        request_hook=kwargs.get("request_hook") if client else None,
        response_hook=kwargs.get("response_hook") if client else None,
    )


# --- the patched factories ---------------------------------------------------------------------


def _with_interceptors(
    args: tuple[Any, ...], kwargs: dict[str, Any], index: int, first: list[Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``args``/``kwargs`` of a factory whose ``interceptors`` parameter is at ``index``, with
    ``first`` put before the caller's interceptors (a list, a tuple, or None)."""
    if len(args) > index:
        positional = list(args)
        positional[index] = [*first, *(positional[index] or ())]
        return tuple(positional), kwargs
    kwargs = dict(kwargs)
    kwargs["interceptors"] = [*first, *(kwargs.get("interceptors") or ())]
    return args, kwargs


def _server(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    telemetry = _active.get("server")
    if telemetry is None:
        return wrapped(*args, **kwargs)
    from ._server import ServerInterceptor

    args, kwargs = _with_interceptors(args, kwargs, 2, [ServerInterceptor(telemetry)])
    return wrapped(*args, **kwargs)


def _aio_server(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    telemetry = _active.get("aio_server")
    if telemetry is None:
        return wrapped(*args, **kwargs)
    from ._aio import AioServerInterceptor

    args, kwargs = _with_interceptors(args, kwargs, 2, [AioServerInterceptor(telemetry)])
    return wrapped(*args, **kwargs)


def _channel(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    channel = wrapped(*args, **kwargs)
    telemetry = _active.get("client")
    if telemetry is None:
        return channel
    from ._client import TracedChannel

    return TracedChannel(channel, telemetry, args[0] if args else kwargs.get("target"))


def _aio_channel(index: int) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        telemetry = _active.get("aio_client")
        if telemetry is None:
            return wrapped(*args, **kwargs)
        from ._aio import aio_client_interceptors_for

        first = aio_client_interceptors_for(telemetry)
        args, kwargs = _with_interceptors(args, kwargs, index, first)
        return wrapped(*args, **kwargs)

    return wrapper


_aio_insecure_channel = _aio_channel(3)  # (target, options, compression, interceptors)
_aio_secure_channel = _aio_channel(4)  # (target, credentials, options, compression, interceptors)

_INSECURE: Final = Patch("grpc", "insecure_channel", _channel)
_SECURE: Final = Patch("grpc", "secure_channel", _channel)
SERVER_PATCHES: Final = PatchSet([Patch("grpc", "server", _server)])
AIO_SERVER_PATCHES: Final = PatchSet([Patch("grpc.aio", "server", _aio_server)])
AIO_CLIENT_PATCHES: Final = PatchSet(
    [
        Patch("grpc.aio", "insecure_channel", _aio_insecure_channel),
        Patch("grpc.aio", "secure_channel", _aio_secure_channel),
    ]
)
_client_patches: Optional[PatchSet] = None


def _which_channels(kwargs: dict[str, Any]) -> list[Patch]:
    """Upstream's choice of factories: ``channel_type="secure"`` (only ``secure_channel``; any
    other value: only ``insecure_channel``), else the booleans ``secure_channel`` and
    ``insecure_channel`` (both True by default)."""
    if "channel_type" in kwargs:
        return [_SECURE] if kwargs["channel_type"] == "secure" else [_INSECURE]
    chosen = []
    if kwargs.get("insecure_channel", True):
        chosen.append(_INSECURE)
    if kwargs.get("secure_channel", True):
        chosen.append(_SECURE)
    return chosen


class _GrpcInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    _key = ""

    def __init__(self, filter_: Optional[Filter] = None) -> None:
        self._filter = filter_

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _stop(self) -> None:
        telemetry = _active.pop(self._key, None)
        if telemetry is not None:
            telemetry.active = False


class GrpcInstrumentorServer(_GrpcInstrumentor):
    """Traces every call served by a ``grpc.server()`` created after ``instrument()``.

    ``GrpcInstrumentorServer(filter_=...)``; ``instrument(tracer_provider=, meter_provider=)``.
    """

    _key = "server"

    def _instrument(self, **kwargs: Any) -> None:
        _active[self._key] = _make_telemetry(False, self._filter, kwargs)
        SERVER_PATCHES.apply()

    def _uninstrument(self, **kwargs: Any) -> None:
        SERVER_PATCHES.remove()
        self._stop()


class GrpcAioInstrumentorServer(_GrpcInstrumentor):
    """Traces every call served by a ``grpc.aio.server()`` created after ``instrument()``."""

    _key = "aio_server"

    def _instrument(self, **kwargs: Any) -> None:
        _active[self._key] = _make_telemetry(False, self._filter, kwargs)
        AIO_SERVER_PATCHES.apply()

    def _uninstrument(self, **kwargs: Any) -> None:
        AIO_SERVER_PATCHES.remove()
        self._stop()


class GrpcInstrumentorClient(_GrpcInstrumentor):
    """Traces every call made through a channel from ``grpc.insecure_channel()`` or
    ``grpc.secure_channel()`` created after ``instrument()``.

    ``instrument(tracer_provider=, meter_provider=, request_hook=, response_hook=)``; hooks are
    called as ``request_hook(span, request)`` and ``response_hook(span, response)``.
    """

    _key = "client"

    def _instrument(self, **kwargs: Any) -> None:
        global _client_patches
        _active[self._key] = _make_telemetry(True, self._filter, kwargs)
        _client_patches = PatchSet(_which_channels(kwargs))
        _client_patches.apply()

    def _uninstrument(self, **kwargs: Any) -> None:
        global _client_patches
        if _client_patches is not None:
            _client_patches.remove()
        _client_patches = None
        self._stop()


class GrpcAioInstrumentorClient(_GrpcInstrumentor):
    """Traces every call made through a channel from ``grpc.aio.insecure_channel()`` or
    ``grpc.aio.secure_channel()`` created after ``instrument()``."""

    _key = "aio_client"

    def _instrument(self, **kwargs: Any) -> None:
        _active[self._key] = _make_telemetry(True, self._filter, kwargs)
        AIO_CLIENT_PATCHES.apply()

    def _uninstrument(self, **kwargs: Any) -> None:
        AIO_CLIENT_PATCHES.remove()
        self._stop()


# --- interceptors by hand ----------------------------------------------------------------------


def client_interceptor(
    tracer_provider: Any = None,
    filter_: Optional[Filter] = None,
    request_hook: Any = None,
    response_hook: Any = None,
    meter_provider: Any = None,
) -> Any:
    """An interceptor for ``grpc.intercept_channel(channel, client_interceptor())``."""
    from ._client import ClientInterceptor

    kwargs = {
        "tracer_provider": tracer_provider,
        "meter_provider": meter_provider,
        "request_hook": request_hook,
        "response_hook": response_hook,
    }
    return ClientInterceptor(_make_telemetry(True, filter_, kwargs))


def server_interceptor(
    tracer_provider: Any = None, filter_: Optional[Filter] = None, meter_provider: Any = None
) -> Any:
    """An interceptor for ``grpc.server(..., interceptors=[server_interceptor()])``."""
    from ._server import ServerInterceptor

    kwargs = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
    return ServerInterceptor(_make_telemetry(False, filter_, kwargs))


def aio_client_interceptors(
    tracer_provider: Any = None,
    filter_: Optional[Filter] = None,
    request_hook: Any = None,
    response_hook: Any = None,
    meter_provider: Any = None,
) -> list[Any]:
    """The four interceptors for ``grpc.aio.insecure_channel(..., interceptors=...)``."""
    from ._aio import aio_client_interceptors_for

    kwargs = {
        "tracer_provider": tracer_provider,
        "meter_provider": meter_provider,
        "request_hook": request_hook,
        "response_hook": response_hook,
    }
    return aio_client_interceptors_for(_make_telemetry(True, filter_, kwargs))


def aio_server_interceptor(
    tracer_provider: Any = None, filter_: Optional[Filter] = None, meter_provider: Any = None
) -> Any:
    """An interceptor for ``grpc.aio.server(interceptors=[aio_server_interceptor()])``."""
    from ._aio import AioServerInterceptor

    kwargs = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
    return AioServerInterceptor(_make_telemetry(False, filter_, kwargs))
