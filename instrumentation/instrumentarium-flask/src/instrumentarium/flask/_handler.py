"""What runs per request: the two patched ``Flask`` methods and their per-app configuration.

``Flask.wsgi_app`` (entry)          clock starts, exclusion check, active_requests +1;
                                    wraps start_response and the response body
  ``Flask.full_dispatch_request``   the route is known here: the span starts with its name and
                                    attributes, is current while hooks, view and handlers run,
                                    and records an exception that escapes them
  body closed by the server         span ends, duration recorded, active_requests -1

Both patches live on the class, so every app is covered, including apps created before
``instrument()``; each looks up the app's configuration (``instrument_app``) or the global one.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Callable, Final, Optional, Union

from opentelemetry import context as otel_context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, TracerProvider

from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import safe_hook
from instrumentarium.wsgi import ServerCall, ServerTelemetry

from .version import __version__

if TYPE_CHECKING:
    import flask

_HANDLER_ATTR: Final = "_instrumentarium_flask_handler"
_CALL_KEY: Final = "instrumentarium.flask.call"
_SQLCOMMENTER_KEY: Final = "SQLCOMMENTER_ORM_TAGS_AND_VALUES"
_MISSING: Final = object()


class FlaskHandler:
    """The configuration of one instrumented app (or of ``instrument()``), resolved once."""

    __slots__ = ("commenter", "request_hook", "response_hook", "telemetry")

    def __init__(
        self,
        request_hook: Optional[Callable[[Span, Any], None]] = None,
        response_hook: Optional[Callable[[Span, str, Any], None]] = None,
        tracer_provider: Optional[TracerProvider] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
        enable_commenter: bool = True,
        commenter_options: Optional[Mapping[str, bool]] = None,
        meter_provider: Optional[MeterProvider] = None,
    ) -> None:
        self.telemetry = ServerTelemetry(
            scope="instrumentarium.flask",
            version=__version__,
            library="FLASK",
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            excluded_urls=excluded_urls,
        )
        self.request_hook = safe_hook(request_hook, "request_hook")
        self.response_hook = safe_hook(response_hook, "response_hook")
        options = dict(commenter_options or {})
        self.commenter: Optional[tuple[Optional[str], bool, bool]] = None
        if enable_commenter:
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


def _flask_framework() -> str:
    try:
        return f"flask:{version('flask')}"
    except PackageNotFoundError:  # pragma: no cover - flask imported but not installed
        return "flask"


_global_handler: Optional[FlaskHandler] = None
_instrumented_apps: weakref.WeakSet[flask.Flask] = weakref.WeakSet()


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


def handler_for(app: flask.Flask) -> Optional[FlaskHandler]:
    handler: Optional[FlaskHandler] = app.__dict__.get(_HANDLER_ATTR, _global_handler)
    return handler


def _wsgi_app(
    wrapped: Callable[..., Iterable[bytes]],
    app: flask.Flask,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Iterable[bytes]:
    handler = handler_for(app)
    if handler is None or kwargs or len(args) != 2:
        return wrapped(*args, **kwargs)
    environ, start_response = args
    telemetry = handler.telemetry
    if telemetry.excluded is not None and telemetry.is_excluded(environ):
        environ[_CALL_KEY] = None
        return wrapped(environ, start_response)
    call = telemetry.begin(environ)
    call.streaming = False  # until full_dispatch_request sees a streamed response
    environ[_CALL_KEY] = call
    try:
        result = wrapped(environ, call.wrap_start_response(start_response, handler.response_hook))
    except BaseException as exc:
        call.finish(exc)
        raise
    return call.wrap_response(result)


def _full_dispatch_request(
    wrapped: Callable[..., flask.Response],
    app: flask.Flask,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> flask.Response:
    handler = handler_for(app)
    if handler is None:
        return wrapped(*args, **kwargs)
    if _Flask.request is None:
        _Flask.bind()
    request = _Flask.request._get_current_object()
    environ = request.environ
    call = environ.get(_CALL_KEY, _MISSING)
    if call is None:  # excluded at entry
        return wrapped(*args, **kwargs)
    owned = call is _MISSING
    if owned:
        # wsgi_app was bypassed (e.g. wrapped by middleware captured before instrument()):
        # this frame starts the request, and the response's close ends it.
        telemetry = handler.telemetry
        if telemetry.excluded is not None and telemetry.is_excluded(environ):
            return wrapped(*args, **kwargs)
        call = telemetry.begin(environ)
    rule = request.url_rule
    route = rule.rule if rule is not None else None
    span = call.start_span(call.span_name(route), route)
    if handler.request_hook is not None:
        handler.request_hook(span, environ)
    token = handler.attach(call, request.endpoint, route)
    try:
        response = wrapped(*args, **kwargs)
    except BaseException as exc:
        call.record_exception(exc, error_type=False)
        if owned:
            if isinstance(exc, Exception) and not _propagates_exceptions(app):
                # Flask's handle_exception answers 500, out of this path's sight.
                call.on_response("500 INTERNAL SERVER ERROR", [])
                call.finish()
            else:
                call.finish(exc)
        raise
    finally:
        otel_context.detach(token)  # type: ignore[arg-type]
    if owned:
        _finish_with_response(handler, call, response)
    else:
        call.streaming = _is_streamed(response)
    return response


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


def _finish_with_response(handler: FlaskHandler, call: ServerCall, response: Any) -> None:
    try:
        headers = list(response.headers.items())
        call.on_response(response.status, headers)
        if handler.response_hook is not None:
            handler.response_hook(call.ensure_span(), response.status, headers)
        response.call_on_close(call.finish)
    except Exception:  # not a werkzeug response: end now rather than never
        call.finish()


PATCHES: Final = PatchSet(
    [
        Patch("flask.app", "Flask.wsgi_app", _wsgi_app),
        Patch("flask.app", "Flask.full_dispatch_request", _full_dispatch_request),
    ]
)


def set_global_handler(handler: Optional[FlaskHandler]) -> None:
    global _global_handler
    _global_handler = handler
    _sync_patches()


def set_app_handler(app: flask.Flask, handler: Optional[FlaskHandler]) -> None:
    app.__dict__[_HANDLER_ATTR] = handler
    if handler is None:
        _instrumented_apps.discard(app)
    else:
        _instrumented_apps.add(app)
    _sync_patches()


def app_is_instrumented(app: flask.Flask) -> bool:
    return app.__dict__.get(_HANDLER_ATTR) is not None


def _sync_patches() -> None:
    if _global_handler is not None or len(_instrumented_apps):
        PATCHES.apply()
    else:
        PATCHES.remove()
