"""What runs per connection: ``Starlette.__call__``, patched on the class.

``Starlette.__call__(scope, receive, send)``   the app's configuration: its own
                                               (``instrument_app``), else ``instrument()``'s
  ``instrumentarium.asgi.serve``               the server span, named by the route template
                                               found in the app's routes, the internal spans,
                                               the metrics (see ``instrumentarium.asgi``)
    the original ``__call__``                  middleware stack, exception handlers, router

The patch lives on the class, so apps created before ``instrument()`` are covered, and so are
apps wrapped in middleware (CORS, GZip) from the outside. The span wraps the whole stack: user
middleware, exception handlers and ``ServerErrorMiddleware``'s 500 run inside it. A FastAPI
app is left to ``instrumentarium.fastapi`` (as upstream, Starlette's instrumentor does not
trace FastAPI apps); a traced app inside a traced app (a mounted sub-app) adds no span.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, MutableMapping
from typing import TYPE_CHECKING, Any, Callable, Final, Optional

from instrumentarium.asgi._telemetry import AsgiTelemetry, serve
from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.patching import Patch, PatchSet

from ._config import StarletteConfig
from ._routes import route_template
from .version import __version__

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["ACTIVE", "StarletteTelemetry", "app_route"]

_SCOPE: Final = "instrumentarium.starlette"


def app_route(app: Any, scope: MutableMapping[str, Any]) -> Optional[str]:
    """The route template of ``scope`` in a Starlette app's routes."""
    return route_template(app.router.routes, scope)


class StarletteTelemetry(AsgiTelemetry):
    """The ASGI core built once from a ``StarletteConfig``: spans named by route template."""

    __slots__ = ()

    def __init__(self, config: StarletteConfig) -> None:
        super().__init__(
            config,
            _SCOPE,
            __version__,
            "STARLETTE",
            route_of=app_route,
            websocket_method=False,  # upstream's Starlette names a websocket by its route
        )


_fastapi_types: dict[type, bool] = {}


def _is_fastapi(cls: type) -> bool:
    found = _fastapi_types.get(cls)
    if found is None:
        fastapi = sys.modules.get("fastapi.applications")
        found = fastapi is not None and issubclass(cls, fastapi.FastAPI)
        _fastapi_types[cls] = found
    return found


def _call(
    wrapped: Callable[..., Awaitable[None]],
    app: Starlette,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Awaitable[None]:
    telemetry = ACTIVE.config_for(app)
    if telemetry is None or kwargs or len(args) != 3 or _is_fastapi(type(app)):
        return wrapped(*args, **kwargs)
    scope, receive, send = args
    return serve(telemetry, wrapped, app, scope, receive, send)


PATCHES: Final = PatchSet([Patch("starlette.applications", "Starlette.__call__", _call)])

# The StarletteTelemetry in force: instrument() sets the global one, instrument_app() an app's
# own (or OFF); the patch is applied while any is set.
ACTIVE: Final = ActiveConfig[StarletteTelemetry]("_instrumentarium_starlette_telemetry", PATCHES)
