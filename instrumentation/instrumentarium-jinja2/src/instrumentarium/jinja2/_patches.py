"""What runs per call: the patched Jinja2 methods and the spans they make.

Every span is INTERNAL, carries ``jinja2.template_name`` (``<memory>`` for a template made
from a string) and is current while the call runs, so a template loaded inside another's
rendering (``{% include %}``, ``{% extends %}``) nests under it::

    Environment._load_template   jinja2.load      (+ jinja2.template_path once loaded; a cache
                                                   hit is a load span without a compile child)
    Environment.compile          jinja2.compile   (under jinja2.load, or alone: from_string)
    Template.render              jinja2.render    (not in an async environment: there render
    Template.render_async        jinja2.render     runs render_async, which has the span)
    Template.generate            jinja2.render    (the span lasts until the stream is
                                                   exhausted or closed, current at each step)

    _traced (one wrapper for the first four)
      suppression check; nothing instrumented: the original call as is
      _begin (guarded)           the span, its attributes passed to the sampler
      original call              the span current
      _end (guarded)             an exception recorded (ERROR "Type: message"), the span ended

A failure in ``_begin`` or ``_end`` is logged once and the call goes on; the original call
never runs inside a guard, so template errors propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, Final, Optional

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from instrumentarium.util.config import ActiveConfig
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import guard, is_suppressed

from ._config import Jinja2Config
from .version import __version__

__all__ = ["ACTIVE", "Jinja2Telemetry"]

_SCOPE: Final = "instrumentarium.jinja2"
_SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.11.0"  # upstream's, for every span
TEMPLATE_NAME: Final = "jinja2.template_name"
TEMPLATE_PATH: Final = "jinja2.template_path"
DEFAULT_NAME: Final = "<memory>"
_LOAD: Final = "jinja2.load"
_COMPILE: Final = "jinja2.compile"
_RENDER: Final = "jinja2.render"
_BEGIN: Final = guard("starting the jinja2 span")
_END: Final = guard("ending the jinja2 span")
_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_set_span_in_context: Final = trace.set_span_in_context
_ERROR: Final = StatusCode.ERROR


class Jinja2Telemetry:
    """What ``instrument()`` builds once from a ``Jinja2Config``: the tracer."""

    __slots__ = ("tracer",)

    def __init__(self, config: Jinja2Config) -> None:
        self.tracer = trace.get_tracer(
            _SCOPE, __version__, config.tracer_provider, schema_url=_SCHEMA_URL
        )


def _template_name(template: Any) -> str:
    return template.name or DEFAULT_NAME


def _compiled_name(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``Environment.compile(source, name=None, ...)``'s name."""
    name = args[1] if len(args) > 1 else kwargs.get("name")
    return name if isinstance(name, str) and name else DEFAULT_NAME


def _loaded_name(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``Environment._load_template(name, globals)``'s name (upstream fails on a keyword)."""
    name = args[0] if args else kwargs.get("name")
    return name if isinstance(name, str) and name else DEFAULT_NAME


@_BEGIN
def _begin(telemetry: Jinja2Telemetry, span_name: str, template_name: str) -> Optional[Span]:
    return telemetry.tracer.start_span(span_name, attributes={TEMPLATE_NAME: template_name})


@_END
def _end(span: Span, exc: Optional[BaseException], loaded: Any = None) -> None:
    try:
        if exc is not None:
            if span.is_recording():
                span.record_exception(exc)
            span.set_status(Status(_ERROR, f"{type(exc).__name__}: {exc}"))
        elif loaded is not None and span.is_recording():
            filename = getattr(loaded, "filename", None)
            if filename is not None:
                span.set_attribute(TEMPLATE_PATH, filename)
    finally:
        span.end()


def _traced(
    span_name: str,
    name_of: Callable[[Any, tuple[Any, ...], dict[str, Any]], str],
    sync_render: bool = False,
) -> Callable[..., Any]:
    """The wrapper of one method: its span named ``span_name``, the template name from
    ``name_of(instance, args, kwargs)``. ``sync_render``: no span in an async environment,
    where ``Template.render`` runs ``render_async``, whose span it is."""
    loads = span_name == _LOAD

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        telemetry = ACTIVE.global_
        if telemetry is None or (sync_render and instance.environment.is_async) or is_suppressed():
            return wrapped(*args, **kwargs)
        span = _begin(telemetry, span_name, name_of(instance, args, kwargs))
        if span is None:  # our own failure (logged)
            return wrapped(*args, **kwargs)
        token = _attach(_set_span_in_context(span))
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            _end(span, exc)
            raise
        _detach(token)
        _end(span, None, result if loads else None)
        return result

    return wrapper


_load = _traced(_LOAD, lambda _env, args, kwargs: _loaded_name(args, kwargs))
_compile = _traced(_COMPILE, lambda _env, args, kwargs: _compiled_name(args, kwargs))
_render = _traced(_RENDER, lambda template, _args, _kwargs: _template_name(template), True)


async def _render_async(
    wrapped: Callable[..., Any], template: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    telemetry = ACTIVE.global_
    if telemetry is None or is_suppressed():
        return await wrapped(*args, **kwargs)
    span = _begin(telemetry, _RENDER, _template_name(template))
    if span is None:
        return await wrapped(*args, **kwargs)
    token = _attach(_set_span_in_context(span))
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        _detach(token)
        _end(span, exc)
        raise
    _detach(token)
    _end(span, None)
    return result


def _generate(
    wrapped: Callable[..., Any], template: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    telemetry = ACTIVE.global_
    if telemetry is None or template.environment.is_async or is_suppressed():
        return wrapped(*args, **kwargs)
    span = _begin(telemetry, _RENDER, _template_name(template))
    if span is None:
        return wrapped(*args, **kwargs)
    token = _attach(_set_span_in_context(span))
    try:
        pieces = wrapped(*args, **kwargs)
    except BaseException as exc:
        _detach(token)
        _end(span, exc)
        raise
    _detach(token)
    return _streamed(span, pieces)


def _streamed(span: Span, pieces: Iterator[str]) -> Iterator[str]:
    """``pieces`` with ``span`` current while each is rendered, ended once when the stream is
    exhausted, fails, or is closed (or collected) before its end."""
    context = _set_span_in_context(span)
    failure: Optional[BaseException] = None
    try:
        while True:
            token = _attach(context)
            try:
                piece = next(pieces)
            except StopIteration:
                return
            except BaseException as exc:
                failure = exc
                raise
            finally:
                _detach(token)
            yield piece
    finally:
        _end(span, failure)


# The configuration in force (Jinja2 has no per-object instrumentation).
ACTIVE: Final[ActiveConfig[Jinja2Telemetry]] = ActiveConfig(
    "_instrumentarium_jinja2",
    PatchSet(
        [
            Patch("jinja2.environment", "Environment._load_template", _load),
            Patch("jinja2.environment", "Environment.compile", _compile),
            Patch("jinja2.environment", "Template.render", _render),
            Patch("jinja2.environment", "Template.render_async", _render_async),
            Patch("jinja2.environment", "Template.generate", _generate),
        ]
    ),
)
