"""The module-level helpers upstream's ``opentelemetry.instrumentation.wsgi`` exports, for code
(frameworks, users' own middleware) that builds its spans from them.

The middleware does not use them: it resolves its options once and goes through the server core.
They read the environment on each call, as upstream's do. ``sem_conv_opt_in_mode`` takes our
``SemconvMode`` (``instrumentarium.util.semconv``), upstream's ``_StabilityMode`` (matched by its
value: ``"default"``, ``"http"``, ``"http/dup"``), or None for ``OTEL_SEMCONV_STABILITY_OPT_IN``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Optional, TypeVar, Union

from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.propagators.textmap import Setter
from opentelemetry.trace import NoOpTracerProvider, Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.http import (
    Environ,
    HeaderCapture,
    MethodNormalizer,
    ServerTelemetry,
    WsgiRequest,
    names,
    parse_status_line,
    request_headers,
)
from instrumentarium.util.semconv import DEFAULT, DUP, STABLE, SemconvMode, opt_in_mode

from ._config import WsgiConfig
from ._telemetry import span_name

__all__ = [
    "ResponsePropagationSetter",
    "add_response_attributes",
    "collect_custom_request_headers_attributes",
    "collect_custom_response_headers_attributes",
    "collect_request_attributes",
    "default_response_propagation_setter",
    "get_default_span_name",
]

T = TypeVar("T")  # a header value, as upstream's setter is typed
# What a caller may pass as the mode: ours, upstream's enum (by its value), or None (the env).
Mode = Union[SemconvMode, object, None]
_BY_VALUE = {"default": DEFAULT, "http": STABLE, "http/dup": DUP}


def _mode(given: Mode) -> SemconvMode:
    if given is None:
        return opt_in_mode("http")
    if isinstance(given, SemconvMode):
        return given
    return _BY_VALUE.get(str(getattr(given, "value", given)), DEFAULT)


def get_default_span_name(environ: Environ) -> str:
    """Upstream's WSGI span name: ``"{METHOD} {PATH_INFO}"``, ``"HTTP"`` for unknown methods.

    Reads the method variables on each call; the middleware resolves them once instead.
    """
    method, _ = MethodNormalizer.from_env().normalize(environ.get("REQUEST_METHOD") or "")
    return span_name(method, environ)


def collect_request_attributes(
    environ: Environ, sem_conv_opt_in_mode: Mode = None
) -> dict[str, AttributeValue]:
    """The span attributes of a request, as the middleware records them (no span, no
    metrics)."""
    builder = _attribute_builder(_mode(sem_conv_opt_in_mode))
    # Read the method variables on each call, as upstream's sanitize_method does.
    method, original = MethodNormalizer.from_env().normalize(environ.get("REQUEST_METHOD") or "")
    return builder.request_attributes(WsgiRequest(environ), method, original)


def collect_custom_request_headers_attributes(environ: Environ) -> dict[str, list[str]]:
    """``http.request.header.*`` for the request headers named in
    ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST`` (sanitised)."""
    return HeaderCapture.from_config("SERVER").request.attributes(request_headers(environ))


def collect_custom_response_headers_attributes(
    response_headers: list[tuple[str, str]],
) -> dict[str, list[str]]:
    """``http.response.header.*`` for the response headers named in
    ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE`` (sanitised; a repeated header
    is one value joined by ``,``)."""
    return HeaderCapture.from_config("SERVER").response.attributes(response_headers or ())


def add_response_attributes(
    span: Span,
    start_response_status: str,
    response_headers: list[tuple[str, str]],  # noqa: ARG001 - upstream's name; unread there too
    duration_attrs: Optional[MutableMapping[str, AttributeValue]] = None,
    sem_conv_opt_in_mode: Mode = None,
) -> None:
    """Record the status of ``start_response`` on a server span, as upstream does.

    The status code goes to the span (``http.status_code`` and/or
    ``http.response.status_code``) and to ``duration_attrs``; the span status is ERROR for 5xx
    (with ``error.type`` in the stable mode) and UNSET otherwise; a status that is not a number
    makes it ERROR ``"Non-integer HTTP status: ..."``. ``response_headers`` is not read.
    """
    mode = _mode(sem_conv_opt_in_mode)
    attrs: MutableMapping[str, AttributeValue] = (
        duration_attrs if duration_attrs is not None else {}
    )
    text = start_response_status.partition(" ")[0]
    code = parse_status_line(start_response_status)
    recording = span.is_recording()
    if code < 0:
        if mode.new:
            attrs[names.ERROR_TYPE] = text
            if recording:
                span.set_attribute(names.ERROR_TYPE, text)
        if recording:
            span.set_status(Status(StatusCode.ERROR, "Non-integer HTTP status: " + text))
        return
    error = code >= 500 or code < 100
    if mode.old:
        attrs[names.HTTP_STATUS_CODE] = code
        if recording:
            span.set_attribute(names.HTTP_STATUS_CODE, code)
    if mode.new:
        attrs[names.HTTP_RESPONSE_STATUS_CODE] = code
        if recording:
            span.set_attribute(names.HTTP_RESPONSE_STATUS_CODE, code)
        if error:
            attrs[names.ERROR_TYPE] = text
            if recording:
                span.set_attribute(names.ERROR_TYPE, text)
    if recording:
        span.set_status(Status(StatusCode.ERROR if error else StatusCode.UNSET))


class ResponsePropagationSetter(Setter[list[tuple[str, T]]]):
    """Writes a propagated field into a WSGI response header list (``traceresponse``)."""

    def set(self, carrier: list[tuple[str, T]], key: str, value: T) -> None:  # type: ignore[override]
        carrier.append((key, value))


default_response_propagation_setter = ResponsePropagationSetter[str]()

_builders: dict[str, ServerTelemetry] = {}


def _attribute_builder(mode: SemconvMode) -> ServerTelemetry:
    builder = _builders.get(mode.name)
    if builder is None:
        options = WsgiConfig(
            tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
        )
        builder = _builders[mode.name] = ServerTelemetry(
            "instrumentarium.wsgi", "", "WSGI", options, mode
        )
    return builder
