"""What runs per request: the two patched ``Flask`` methods and the configuration they read.

``Flask.wsgi_app`` (entry)          clock starts, exclusion check, active_requests +1;
                                    wraps start_response and the response body
  ``Flask.full_dispatch_request``   the route is known here: the span starts with its name and
                                    attributes, is current while hooks, view and handlers run,
                                    and records an exception that escapes them
  body closed by the server         span ends, duration recorded, active_requests -1

Both patches live on the class, so every app is covered, including apps created before
``instrument()``; each asks ``ACTIVE`` for the app's ``FlaskTelemetry`` (its own, from
``instrument_app``, else the global one). Each step of ours runs under a guard: when it fails,
the failure is logged once and the request goes on untraced; Flask's own calls never run inside
one.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Callable, Final, Optional

from opentelemetry import context as otel_context

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.http import (
    Environ,
    MethodNormalizer,
    ResponseHook,
    ServerCall,
    ServerTelemetry,
    WsgiRequest,
    traced_start_response,
)
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import guard, safe_hook

from ._config import FlaskConfig
from .version import __version__

if TYPE_CHECKING:
    import flask

__all__ = ["ACTIVE", "FlaskTelemetry", "PATCHES", "get_default_span_name"]

_CALL_KEY: Final = "instrumentarium.flask.call"
_SQLCOMMENTER_KEY: Final = "SQLCOMMENTER_ORM_TAGS_AND_VALUES"
_MISSING: Final = object()
_detach: Final = otel_context.detach
_ENTERING: Final = guard("starting the Flask request")
_STARTING: Final = guard("starting the Flask span")
_FAILING: Final = guard("recording the Flask view's exception")
_RESPONDING: Final = guard("recording the Flask response")


class FlaskTelemetry(ServerTelemetry):
    """The server core built once from a ``FlaskConfig``, with its hooks and commenter tags."""

    __slots__ = ("commenter", "request_hook", "response_hook")

    def __init__(self, config: FlaskConfig) -> None:
        super().__init__("instrumentarium.flask", __version__, "FLASK", config)
        self.request_hook = safe_hook(config.request_hook, "request_hook")
        self.response_hook = _span_first(safe_hook(config.response_hook, "response_hook"))
        options = dict(config.commenter_options or {})
        self.commenter: Optional[tuple[Optional[str], bool, bool]] = None
        if config.enable_commenter:
            self.commenter = (
                _flask_framework() if options.get("framework", True) else None,
                bool(options.get("controller", True)),
                bool(options.get("route", True)),
            )

    def attach(self, call: ServerCall, endpoint: Optional[str], route: Optional[str]) -> object:
        """Make the span current (with the SQL commenter's tags, when enabled)."""
        ctx = call.context
        commenter = self.commenter
        if commenter is not None:
            framework, with_controller, with_route = commenter
            tags: dict[str, str] = {}
            if framework:
                tags["framework"] = framework
            if with_controller and endpoint:
                tags["controller"] = endpoint
            if with_route and route:
                tags["route"] = route
            ctx = otel_context.set_value(_SQLCOMMENTER_KEY, tags, ctx)
        return otel_context.attach(ctx)  # type: ignore[arg-type]


def _span_first(hook: Optional[Callable[..., None]]) -> Optional[ResponseHook]:
    """The user's ``hook(span, status, headers)`` as the core calls it."""
    if hook is None:
        return None

    def response_hook(call: ServerCall, status: str, headers: list[tuple[str, str]]) -> None:
        hook(call.ensure_span(), status, headers)

    return response_hook


def _flask_framework() -> str:
    try:
        return f"flask:{version('flask')}"
    except PackageNotFoundError:  # pragma: no cover - flask imported but not installed
        return "flask"


class _Flask:
    """What the per-request code needs from Flask and Werkzeug, imported on first use: importing
    this package must not import Flask (``opentelemetry-instrument`` patches on Flask's import)."""

    request: Any = None
    closing_iterator: Any = None

    @classmethod
    def bind(cls) -> None:
        from werkzeug.wsgi import ClosingIterator  # noqa: PLC0415

        from flask import request  # noqa: PLC0415 - see the class docstring

        cls.request = request
        cls.closing_iterator = ClosingIterator


def _wsgi_app(
    wrapped: Callable[..., Iterable[bytes]],
    app: flask.Flask,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Iterable[bytes]:
    telemetry = ACTIVE.config_for(app)
    if telemetry is None or kwargs or len(args) != 2:
        return wrapped(*args, **kwargs)
    environ, start_response = args
    call = _enter(telemetry, environ)
    if call is None:  # excluded, or our step failed: Flask runs untraced
        return telemetry.run_declined(WsgiRequest(environ), wrapped, environ, start_response)
    try:
        result = wrapped(
            environ, traced_start_response(call, start_response, telemetry.response_hook)
        )
    except BaseException as exc:
        call.finish(exc)
        raise
    return call.wrap_response(result)


@_ENTERING
def _enter(telemetry: FlaskTelemetry, environ: Environ) -> Optional[ServerCall]:
    """The request's call (clock started, counted active), left in the environ for
    ``full_dispatch_request``; None (also in the environ) when its URL is excluded."""
    environ[_CALL_KEY] = None
    request = WsgiRequest(environ)
    if telemetry.excluded is not None and telemetry.is_excluded(request):
        return None
    call = ServerCall(telemetry, request)
    call.streaming = False  # until full_dispatch_request sees a streamed response
    environ[_CALL_KEY] = call
    return call


def _full_dispatch_request(
    wrapped: Callable[..., flask.Response],
    app: flask.Flask,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> flask.Response:
    telemetry = ACTIVE.config_for(app)
    if telemetry is None:
        return wrapped(*args, **kwargs)
    started = _start(telemetry)
    if started is None:  # excluded, or our step failed: the view runs untraced
        return wrapped(*args, **kwargs)
    call, owned, token = started
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        _record_failure(app, call, owned, exc)
        raise
    finally:
        _detach(token)  # type: ignore[arg-type]
    if owned:
        _finish_with_response(telemetry, call, response)
    else:
        call.streaming = _is_streamed(response)
    return response


@_STARTING
def _start(telemetry: FlaskTelemetry) -> Optional[tuple[ServerCall, bool, object]]:
    """Start the span of the current request, named by its URL rule, and make it current:
    ``(call, owned, token)``; ``owned`` when ``wsgi_app`` was bypassed (e.g. wrapped by
    middleware captured before ``instrument()``), so this frame began the request and the
    response's close ends it. None when the request is excluded."""
    if _Flask.request is None:
        _Flask.bind()
    request = _Flask.request._get_current_object()
    environ = request.environ
    call = environ.get(_CALL_KEY, _MISSING)
    if call is None:  # excluded at entry
        return None
    owned = call is _MISSING
    if owned:
        server_request = WsgiRequest(environ)
        if telemetry.excluded is not None and telemetry.is_excluded(server_request):
            return None
        call = ServerCall(telemetry, server_request)
    rule = request.url_rule
    route = rule.rule if rule is not None else None
    span = call.start_span(call.span_name(route), route)
    if telemetry.request_hook is not None:
        telemetry.request_hook(span, environ)
    return call, owned, telemetry.attach(call, request.endpoint, route)


@_FAILING
def _record_failure(app: flask.Flask, call: ServerCall, owned: bool, exc: BaseException) -> None:
    call.record_exception(exc, error_type=False)
    if owned:
        if isinstance(exc, Exception) and not _propagates_exceptions(app):
            # Flask's handle_exception answers 500, out of this path's sight.
            call.on_response("500 INTERNAL SERVER ERROR", [])
            call.finish()
        else:
            call.finish(exc)


def _is_streamed(response: object) -> bool:
    """True when the view returned a body that is produced while it is sent (a generator or
    another iterator); then the span ends when the server closes the body. Error pages and
    other WSGI callables that Flask coerces (``ClosingIterator``) are already complete."""
    body_type = type(getattr(response, "response", None))
    return hasattr(body_type, "__next__") and body_type is not _Flask.closing_iterator


def _propagates_exceptions(app: flask.Flask) -> bool:
    """Flask's own rule (``Flask.handle_exception``): re-raise rather than answer 500."""
    propagate = app.config["PROPAGATE_EXCEPTIONS"]
    return bool(app.testing or app.debug) if propagate is None else bool(propagate)


def _finish_with_response(telemetry: FlaskTelemetry, call: ServerCall, response: Any) -> None:
    if _respond(telemetry, call, response) is None:  # our step failed: end now, not never
        call.finish()


@_RESPONDING
def _respond(telemetry: FlaskTelemetry, call: ServerCall, response: Any) -> bool:
    """Record the response of a request this patch began; it ends when Werkzeug closes it."""
    headers = list(response.headers.items())
    call.on_response(response.status, headers)
    if telemetry.response_hook is not None:
        telemetry.response_hook(call, response.status, headers)
    response.call_on_close(call.finish)
    return True


PATCHES: Final = PatchSet(
    [
        Patch("flask.app", "Flask.wsgi_app", _wsgi_app),
        Patch("flask.app", "Flask.full_dispatch_request", _full_dispatch_request),
    ]
)

# The FlaskTelemetry in force: instrument() sets the global one, instrument_app() an app's own
# (or OFF); the patches are applied while any is set.
ACTIVE: Final = ActiveConfig[FlaskTelemetry]("_instrumentarium_flask_telemetry", PATCHES)


def get_default_span_name() -> str:
    """The name the span of the current request gets: ``"{METHOD} {url_rule}"``, the method
    alone when no rule matched, ``HTTP`` for a method outside the known list. Call it inside a
    request context (``flask.request``); it reads the method variables on each call."""
    import flask  # noqa: PLC0415 - importing the package must not import Flask

    method, _ = MethodNormalizer.from_env().normalize(
        flask.request.environ.get("REQUEST_METHOD") or ""
    )
    if method == "_OTHER":
        method = "HTTP"
    rule = flask.request.url_rule
    return f"{method} {rule.rule}" if rule is not None else method
