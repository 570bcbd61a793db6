"""What runs per connection: ``FastAPI.__call__`` and ``BackgroundTask.__call__``, patched.

``FastAPI.__call__(scope, receive, send)``     the app's configuration: its own
                                               (``instrument_app``), else ``instrument()``'s;
                                               FastAPI's built-in tracing is turned off for
                                               the request (``scope["fastapi.telemetry"]``),
                                               so a request has one server span, never two
  ``instrumentarium.asgi.serve``               the server span, named by the route template
                                               (routers' prefixes and mounts included), the
                                               internal spans, the metrics
    the original ``__call__``                  middleware stack, exception handlers, router
``BackgroundTask.__call__``                    an INTERNAL ``"BackgroundTask {name}"`` span,
                                               child of the request's span (upstream's)

The patches live on the classes, so apps created before ``instrument()`` (or imported as
``from fastapi import FastAPI`` before it) are covered, and so are apps wrapped in middleware
or mounted in another app.
"""

from __future__ import annotations

from collections.abc import Awaitable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Final, Optional

from opentelemetry.trace import SpanKind

from instrumentarium.asgi._telemetry import AsgiTelemetry, serve
from instrumentarium.starlette._routes import route_template
from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.patching import Patch, PatchSet

from ._config import FastAPIConfig
from .version import __version__

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ACTIVE", "FastAPITelemetry", "app_route"]

_SCOPE: Final = "instrumentarium.fastapi"
# FastAPI (0.160+) traces requests itself unless this key is in the scope; None: "off".
_FASTAPI_TELEMETRY_KEY: Final = "fastapi.telemetry"
_TRACED: Final = frozenset({"http", "websocket"})


class _Flattened:
    """FastAPI 0.137+ keeps included routers as lazy route trees; ``iter_route_contexts``
    flattens them into routes with their full paths. Flattened once per routes list (and again
    when routes are added)."""

    iterate: ClassVar[Any] = None
    bound: ClassVar[bool] = False
    cache: ClassVar[dict[int, tuple[Sequence[Any], int, Sequence[Any]]]] = {}

    @classmethod
    def routes(cls, routes: Sequence[Any]) -> Sequence[Any]:
        if not cls.bound:
            try:
                from fastapi.routing import iter_route_contexts  # noqa: PLC0415
            except ImportError:  # FastAPI < 0.137.2: the routes as they are
                cls.iterate = None
            else:
                cls.iterate = iter_route_contexts
            cls.bound = True
        if cls.iterate is None:
            return routes
        found = cls.cache.get(id(routes))
        if found is not None and found[0] is routes and found[1] == len(routes):
            return found[2]
        # A RouteContext forwards .matches and .path to its effective route through
        # __getattr__ and properties; the walk asks the effective routes directly.
        flat = tuple(
            getattr(context, "_effective_route", context) for context in cls.iterate(routes)
        )
        if len(cls.cache) >= 256:
            cls.cache.clear()
        cls.cache[id(routes)] = (routes, len(routes), flat)
        return flat


def app_route(app: Any, scope: MutableMapping[str, Any]) -> Optional[str]:
    """The full route template of ``scope`` in a FastAPI app's routes."""
    return route_template(app.router.routes, scope, _Flattened.routes)


class FastAPITelemetry(AsgiTelemetry):
    """The ASGI core built once from a ``FastAPIConfig``: spans named by route template."""

    __slots__ = ()

    def __init__(self, config: FastAPIConfig) -> None:
        super().__init__(config, _SCOPE, __version__, "FASTAPI", route_of=app_route)


def _call(
    wrapped: Callable[..., Awaitable[None]],
    app: FastAPI,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Awaitable[None]:
    telemetry = ACTIVE.config_for(app)
    if telemetry is None or kwargs or len(args) != 3:
        return wrapped(*args, **kwargs)
    scope, receive, send = args
    if scope.get("type") in _TRACED and _FASTAPI_TELEMETRY_KEY not in scope:
        scope[_FASTAPI_TELEMETRY_KEY] = None
    return serve(telemetry, wrapped, app, scope, receive, send)


def _background_task(
    wrapped: Callable[..., Awaitable[None]],
    task: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Awaitable[None]:
    telemetry = ACTIVE.global_ or _Last.telemetry
    if telemetry is None:
        return wrapped(*args, **kwargs)
    return _traced_task(telemetry, wrapped(*args, **kwargs), task)


async def _traced_task(telemetry: AsgiTelemetry, call: Awaitable[None], task: Any) -> None:
    func = getattr(task, "func", None)
    name = getattr(func, "__name__", None) or type(func).__name__
    with telemetry.tracer.start_as_current_span(f"BackgroundTask {name}", kind=SpanKind.INTERNAL):
        await call


class _Last:
    """The telemetry of the app instrumented last: background tasks do not know their app."""

    telemetry: Optional[FastAPITelemetry] = None


PATCHES: Final = PatchSet(
    [
        Patch("fastapi.applications", "FastAPI.__call__", _call),
        Patch("starlette.background", "BackgroundTask.__call__", _background_task),
    ]
)

# The FastAPITelemetry in force: instrument() sets the global one, instrument_app() an app's own
# (or OFF); the patches are applied while any is set.
ACTIVE: Final = ActiveConfig[FastAPITelemetry]("_instrumentarium_fastapi_telemetry", PATCHES)
