"""The patch targets, as data, and the configuration in force.

``ACTIVE`` holds the ``TornadoTelemetry`` of ``instrument()``: the server's and the client's
telemetry, each built once. Every target is a method of a Tornado base class, so handlers,
applications and clients created before ``instrument()`` are covered; the patches are applied
on the first import of ``tornado.web`` / ``tornado.httpclient`` when those are not imported yet.
"""

from __future__ import annotations

from typing import Any, Callable, Final

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.patching import Patch, PatchSet

from . import _client, _server
from ._client import TornadoClientTelemetry
from ._config import TornadoConfig
from ._server import TornadoServerTelemetry

__all__ = ["ACTIVE", "PATCHES", "TornadoTelemetry"]


class TornadoTelemetry:
    """What ``instrument()`` builds once from a ``TornadoConfig``: the two sides."""

    __slots__ = ("client", "server")

    def __init__(self, config: TornadoConfig) -> None:
        self.server = TornadoServerTelemetry(config)
        self.client = TornadoClientTelemetry(config)


def _execute(
    wrapped: Callable[..., Any], handler: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    telemetry = ACTIVE.global_
    return _server.execute(
        telemetry.server if telemetry is not None else None, wrapped, handler, args, kwargs
    )


def _fetch(
    wrapped: Callable[..., Any], _client_obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    telemetry = ACTIVE.global_
    return _client.fetch(telemetry.client if telemetry is not None else None, wrapped, args, kwargs)


PATCHES: Final = PatchSet(
    [
        Patch("tornado.web", "RequestHandler._execute", _execute),
        Patch(
            "tornado.web",
            "RequestHandler._handle_request_exception",
            _server.handle_request_exception,
        ),
        Patch("tornado.web", "RequestHandler.finish", _server.finish),
        Patch("tornado.httpclient", "AsyncHTTPClient.fetch", _fetch),
    ]
)

# The TornadoTelemetry in force (instrument() sets it, uninstrument() clears it); the patches
# are applied while it is set.
ACTIVE: Final[ActiveConfig[TornadoTelemetry]] = ActiveConfig("_instrumentarium_tornado", PATCHES)
