# ruff: noqa: PLC0415  (grpc is imported lazily, on first use: importing us must not import it)
"""What the four gRPC instrumentors patch, and the telemetry in force that the patches use.

Each instrumentor has one ``ActiveConfig`` holding its ``GrpcTelemetry`` while it is
instrumented and applying its patches exactly then:

* ``SERVER`` / ``AIO_SERVER``: ``grpc.server`` / ``grpc.aio.server`` get our interceptor first;
* ``CLIENT``: ``grpc.insecure_channel`` / ``grpc.secure_channel`` return a ``TracedChannel``
  (which factories is an option: ``client_patches``);
* ``AIO_CLIENT``: ``grpc.aio.insecure_channel`` / ``secure_channel`` get our four interceptors
  first.
"""

from __future__ import annotations

from typing import Any, Callable, Final

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.patching import Patch, PatchSet

from ._config import GrpcClientConfig
from ._telemetry import GrpcTelemetry

__all__ = ["AIO_CLIENT", "AIO_SERVER", "CLIENT", "SERVER", "client_patches"]

# The patches of each are set below, once the wrappers exist; CLIENT's at instrument() (which
# factories is an option: ``client_patches``).
SERVER: Final = ActiveConfig[GrpcTelemetry]("_instrumentarium_grpc_server")
AIO_SERVER: Final = ActiveConfig[GrpcTelemetry]("_instrumentarium_grpc_aio_server")
CLIENT: Final = ActiveConfig[GrpcTelemetry]("_instrumentarium_grpc_client")
AIO_CLIENT: Final = ActiveConfig[GrpcTelemetry]("_instrumentarium_grpc_aio_client")


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


def _serving(holder: ActiveConfig[GrpcTelemetry], sync: bool) -> Callable[..., Any]:
    """The wrapper of ``grpc.server`` (``sync``) or ``grpc.aio.server``: our interceptor goes
    first, while ``holder`` holds a telemetry."""

    def wrapper(wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        telemetry = holder.global_
        if telemetry is None:
            return wrapped(*args, **kwargs)
        interceptor = _sync_server(telemetry) if sync else _aio_server(telemetry)
        args, kwargs = _with_interceptors(args, kwargs, 2, [interceptor])
        return wrapped(*args, **kwargs)

    return wrapper


def _sync_server(telemetry: GrpcTelemetry) -> Any:
    from ._server import ServerInterceptor

    return ServerInterceptor(telemetry)


def _aio_server(telemetry: GrpcTelemetry) -> Any:
    from ._aio import AioServerInterceptor

    return AioServerInterceptor(telemetry)


def _channel(wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
    channel = wrapped(*args, **kwargs)
    telemetry = CLIENT.global_
    if telemetry is None:
        return channel
    from ._client import TracedChannel

    return TracedChannel(channel, telemetry, args[0] if args else kwargs.get("target"))


def _aio_channel(index: int) -> Callable[..., Any]:
    def wrapper(wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        telemetry = AIO_CLIENT.global_
        if telemetry is None:
            return wrapped(*args, **kwargs)
        from ._aio import aio_client_interceptors_for

        first = aio_client_interceptors_for(telemetry)
        args, kwargs = _with_interceptors(args, kwargs, index, first)
        return wrapped(*args, **kwargs)

    return wrapper


_INSECURE: Final = Patch("grpc", "insecure_channel", _channel)
_SECURE: Final = Patch("grpc", "secure_channel", _channel)


def client_patches(config: GrpcClientConfig) -> PatchSet:
    """Upstream's choice of factories: ``channel_type="secure"`` (only ``secure_channel``; any
    other value: only ``insecure_channel``), else the booleans ``secure_channel`` and
    ``insecure_channel`` (both True by default)."""
    if config.channel_type is not None:
        return PatchSet([_SECURE] if config.channel_type == "secure" else [_INSECURE])
    chosen = []
    if config.insecure_channel:
        chosen.append(_INSECURE)
    if config.secure_channel:
        chosen.append(_SECURE)
    return PatchSet(chosen)


SERVER.patches = PatchSet([Patch("grpc", "server", _serving(SERVER, True))])
AIO_SERVER.patches = PatchSet([Patch("grpc.aio", "server", _serving(AIO_SERVER, False))])
AIO_CLIENT.patches = PatchSet(
    [
        # (target, options, compression, interceptors)
        Patch("grpc.aio", "insecure_channel", _aio_channel(3)),
        # (target, credentials, options, compression, interceptors)
        Patch("grpc.aio", "secure_channel", _aio_channel(4)),
    ]
)
