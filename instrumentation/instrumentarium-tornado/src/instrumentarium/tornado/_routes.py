"""The route template of a request, from the Tornado rule that routed it to its handler.

Tornado does not keep the matched rule, so it is found again: among the application's rules
(host rules and nested routers included) those whose target is the handler's class, computed
once per class and kept on the application; when there are several, the first whose matcher
matches the request. A rule's template is its ``PathMatches`` reverse format with each group
named ``{name}``: the group's name, else the handler method's parameter name
(``r"/u/(\\d+)"`` with ``def get(self, uid)`` gives ``/u/{uid}``), as upstream names them. A
rule that cannot be reversed, a custom matcher, or no rule at all (the 404 of
``ErrorHandler``) gives no route: the span is named by the method alone.
"""

from __future__ import annotations

import inspect
from typing import Any, Final, Optional

__all__ = ["route_of"]

_ROUTES_KEY: Final = "_instrumentarium_tornado_routes"
_NO_ROUTE: Final = ""
_CACHE_LIMIT: Final = 1024


def route_of(handler: Any) -> Optional[str]:
    """The route template of ``handler``'s request; None when there is none."""
    application = handler.application
    cache: Optional[dict[Any, Any]] = application.__dict__.get(_ROUTES_KEY)
    if cache is None:
        cache = application.__dict__[_ROUTES_KEY] = {}
    handler_class = type(handler)
    request = handler.request
    method = request.method
    key = (handler_class, method)
    rules = cache.get(key)
    if rules is None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        rules = cache[key] = [
            (matcher, _template(matcher, handler_class, method))
            for matcher in _matchers_for(application.default_router, handler_class)
        ]
    if len(rules) == 1:
        return rules[0][1] or None
    for matcher, template in rules:
        if matcher.match(request) is not None:
            return template or None
    return None


def _matchers_for(router: Any, handler_class: type) -> list[Any]:
    """The matchers of every rule of ``router`` (and its nested routers) that targets
    ``handler_class``, in routing order."""
    found: list[Any] = []
    for rule in getattr(router, "rules", ()):
        target = rule.target
        if target is handler_class:
            found.append(rule.matcher)
        elif hasattr(target, "rules"):
            found.extend(_matchers_for(target, handler_class))
    return found


def _template(matcher: Any, handler_class: type, method: Optional[str]) -> str:
    path = getattr(matcher, "_path", None)
    if not isinstance(path, str):
        return _NO_ROUTE
    count = getattr(matcher, "_group_count", 0) or 0
    if count == 0:
        return path
    regex = matcher.regex
    if regex.groupindex:
        names = [name for name, _ in sorted(regex.groupindex.items(), key=lambda kv: kv[1])]
    else:
        names = _parameters(handler_class, method)
    if len(names) != count:
        return path  # upstream: the raw format when the names do not fit
    pieces = path.split("%s")
    if len(pieces) != count + 1:
        return path
    out = [pieces[0]]
    for name, piece in zip(names, pieces[1:]):
        out.append("{" + name + "}")
        out.append(piece)
    return "".join(out)


def _unsupported(method: str) -> object:
    """``RequestHandler``'s own placeholder for ``method`` (it answers 405)."""
    import tornado.web  # noqa: PLC0415 - imported by the time a request is routed

    return getattr(tornado.web.RequestHandler, method.lower(), None)


def _parameters(handler_class: type, method: Optional[str]) -> list[str]:
    """The path parameters of the handler's method for ``method``; for a method it does not
    implement (answered 405), those of the first one it does."""
    function = getattr(handler_class, (method or "").lower(), None)
    if function is None:
        for supported in getattr(handler_class, "SUPPORTED_METHODS", ()):
            function = getattr(handler_class, supported.lower(), None)
            if function is not None and function is not _unsupported(supported):
                break
        else:
            return []
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters[1:] if p.kind in positional]
