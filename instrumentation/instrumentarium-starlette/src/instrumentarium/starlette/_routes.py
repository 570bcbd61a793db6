"""The route template of a request, found in a Starlette app's routes (FastAPI's too).

``route_template(routes, scope, flatten)`` walks the routes the way Starlette's router matches
them, before the app runs (so the span starts with its final name, and samplers see
``http.route``), and descends into ``Mount`` and ``Host`` routes, so a mounted sub-app or router
gives the full template (``/api/v1/items/{item_id}``), not the mount prefix alone. A full match
wins; else the first partial match (a wrong method: 405) gives its template; no match gives None
(the span is then named by the method alone, never by the raw path).
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, Callable, Final, Optional

__all__ = ["route_template"]

Flatten = Callable[[Sequence[Any]], Sequence[Any]]
_FULL: Final = 2  # starlette.routing.Match.FULL.value (an Enum, not comparable to ints)
_PARTIAL: Final = 1
_MAX_DEPTH: Final = 8


def _as_is(routes: Sequence[Any]) -> Sequence[Any]:
    return routes


def route_template(
    routes: Sequence[Any],
    scope: MutableMapping[str, Any],
    flatten: Flatten = _as_is,
    depth: int = 0,
) -> Optional[str]:
    """The template of the route ``scope`` goes to among ``routes``; None when none matches."""
    partial: Optional[str] = None
    for route in flatten(routes):
        try:
            found, child = route.matches(scope)
            match = found.value
        except Exception:  # a route we cannot match is not ours to fail on
            continue
        if match == _FULL:
            path = getattr(route, "path", None)
            inner = getattr(route, "routes", None) if depth < _MAX_DEPTH else None
            if inner is None:  # an endpoint route
                return path if path is not None else scope.get("path")
            # A Mount or a Host: the rest of the template comes from what it routes to.
            below = route_template(inner, {**scope, **child}, flatten, depth + 1) if inner else None
            prefix = path or ""
            if below is not None:
                return prefix + below
            return prefix or None
        if match == _PARTIAL and partial is None:
            partial = getattr(route, "path", None)
    return partial
