"""The client side of one HTTP request, shared by the requests and urllib3 instrumentors.

``HttpClientTelemetry`` is built once per ``instrument()`` from the instrumentor's config
(tracer, instruments per semconv mode, compiled patterns, redactor, header capture);
``HttpClientCall`` carries one request. An instrumentor's patched call runs it in two guarded
steps around the user's call, which itself never runs inside a guard::

    if http_instrumentation_suppressed():
        return original(...)                       # nothing allocated beyond the check
    call = begin(...)                              # @guard: None if excluded or if it failed
    if call is None:
        return original(...)
    token = call.attach()                          # span current, HTTP instrumentation suppressed
    try:
        response = original(...)                   # an inner client layer creates no span
    except BaseException as exc:
        call.detach(token)
        finish(call, None, exc)                    # @guard: ERROR, error.type, metrics recorded
        raise                                      # the same exception, the same traceback
    call.detach(token)
    finish(call, response, None)

    begin:  call = telemetry.start(method, url)    # attributes built once, passed to the sampler
            call.inject(headers)                   # traceparent (a failing propagator is logged)
    finish: try: call.on_response(status, version, headers) ... finally: call.end(exc)

What the span and the metrics carry in each mode (``old`` is upstream's default):

* span, old: ``http.method``, ``http.url`` (redacted), ``http.status_code``; with ``user_agent``
  (requests) also ``user_agent.original`` and ``user_agent.synthetic.type``, as upstream;
* span, new: ``http.request.method`` (+ ``_original``), ``url.full`` (redacted),
  ``server.address``, ``server.port``, ``network.peer.address``/``port`` (only when the host is an
  IP literal: upstream writes the host name there), ``http.response.status_code``,
  ``network.protocol.version``, ``error.type``;
* dup: the union of the two (upstream's requests also leaks ``http.host``/``net.peer.port``);
* metrics: the bounded client lists of ``names`` (``CLIENT_DURATION_ATTRS_OLD``/``_NEW``).
"""

from __future__ import annotations

import io
import ipaddress
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, Optional, Union

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import (
    _SUPPRESS_HTTP_INSTRUMENTATION_KEY,
    _SUPPRESS_INSTRUMENTATION_KEY,
    Context,
)
from opentelemetry.metrics import Histogram, MeterProvider
from opentelemetry.propagate import inject as _inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.config import ProviderConfig
from instrumentarium.util.metrics import DurationHistograms, shared_meter
from instrumentarium.util.net import DEFAULT_PORTS, split_host_port
from instrumentarium.util.safety import guard
from instrumentarium.util.semconv import SemconvMode, opt_in_mode, schema_url

from . import _names as n
from ._excluded import ExcludedUrls
from ._headers import HeaderCapture
from ._methods import OTHER_METHOD, MethodNormalizer
from ._metrics import SIZE_BUCKETS_BYTES, size_histograms
from ._redact import UrlRedactor, redacted_exception
from ._status import client_status_is_error, synthetic_user_agent_type
from .version import __version__

__all__ = [
    "SIZE_BUCKETS_BYTES",
    "HttpClientCall",
    "HttpClientConfig",
    "HttpClientTelemetry",
    "body_size",
    "header_items",
    "header_text",
    "http_instrumentation_suppressed",
    "http_version",
]

_time_ns: Final = time.time_ns
_get_current: Final = otel_context.get_current
_attach: Final = otel_context.attach
_detach: Final = otel_context.detach
_modules: Final = sys.modules
_set_value: Final = otel_context.set_value
_set_span_in_context: Final = trace.set_span_in_context
_CLIENT: Final = SpanKind.CLIENT
_ERROR: Final = StatusCode.ERROR
_PLAIN_SUPPRESS_KEY: Final = "suppress_instrumentation"  # the backward-compatible plain key
_ORIGIN_CACHE_LIMIT: Final = 256
_INJECT: Final = guard("injecting the trace context into the request headers")
# Upstream's peer-IP enrichment of http.client (opentelemetry-util-http), used when imported.
_PEER_IP_MODULE: Final = "opentelemetry.util.http.httplib"
_PEER_IP: Final = guard("handing the span to the net.peer.ip enrichment")

_VERSIONS: Final = {9: "0.9", 10: "1.0", 11: "1.1", 20: "2", 30: "3"}
HeaderText = Union[str, bytes]  # what requests, urllib3 and http.client take as a header
_ORIGIN: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def http_instrumentation_suppressed() -> bool:
    """True inside ``suppress_instrumentation()`` or ``suppress_http_instrumentation()`` (the
    keys of ``opentelemetry-instrumentation``, so exporters and outer client layers are obeyed)."""
    ctx = _get_current()
    return bool(
        ctx.get(_SUPPRESS_HTTP_INSTRUMENTATION_KEY)
        or ctx.get(_SUPPRESS_INSTRUMENTATION_KEY)
        or ctx.get(_PLAIN_SUPPRESS_KEY)
    )


def http_version(version: object) -> Optional[str]:
    """``"1.1"`` from the integer ``11`` that ``http.client`` and urllib3 report."""
    return _VERSIONS.get(version) if isinstance(version, int) else None


def body_size(body: object) -> Optional[int]:
    """The size in bytes of a request body, when it is known before sending.

    None (no body) is 0; a str is measured as UTF-8 bytes (upstream counts characters); a
    ``BytesIO`` by its buffer; an iterator or a file is unknown (None: not recorded).
    """
    if body is None:
        return 0
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    if isinstance(body, str):
        return len(body) if body.isascii() else len(body.encode("utf-8", "surrogatepass"))
    if isinstance(body, memoryview):
        return body.nbytes
    if isinstance(body, io.BytesIO):
        return body.getbuffer().nbytes
    return None


class _Origin:
    """What one ``scheme://authority`` gives the span and the metrics, computed once."""

    __slots__ = ("metric_new", "metric_old", "span_new", "span_old")

    def __init__(self, origin: str, default_peer_port: bool = False) -> None:
        scheme, _, authority = origin.partition("://")
        scheme = scheme.lower()
        authority = authority.rpartition("@")[2]
        host, port = split_host_port(authority)
        host = host.lower()  # server.address is canonical: names compare case-insensitively
        effective = port if port is not None else DEFAULT_PORTS.get(scheme)
        self.span_old: dict[str, AttributeValue] = {}
        self.span_new: dict[str, AttributeValue] = {}
        self.metric_old: dict[str, AttributeValue] = {}
        self.metric_new: dict[str, AttributeValue] = {}
        if scheme:
            self.metric_old[n.HTTP_SCHEME] = scheme
        if host:
            self.metric_old[n.HTTP_HOST] = host
            self.metric_old[n.NET_PEER_NAME] = host
            self.metric_new[n.SERVER_ADDRESS] = host
            self.span_new[n.SERVER_ADDRESS] = host
        if port is not None:
            self.metric_old[n.NET_PEER_PORT] = port
        elif default_peer_port and effective is not None:
            self.metric_old[n.NET_PEER_PORT] = effective
        if effective is not None:
            self.metric_new[n.SERVER_PORT] = effective
            self.span_new[n.SERVER_PORT] = effective
        if host and _is_ip(host):
            self.span_new[n.NETWORK_PEER_ADDRESS] = host
            if effective is not None:
                self.span_new[n.NETWORK_PEER_PORT] = effective


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HttpClientConfig(ProviderConfig):
    """The options every HTTP client instrumentor has; its ``<Lib>Config`` adds its own."""


class HttpClientTelemetry:
    """Everything resolved once for one instrumented HTTP client library.

    Args:
        config: the instrumentor's resolved options (its ``<Lib>Config``): those of its fields
            named like the keywords below (``tracer_provider``, ``meter_provider``,
            ``excluded_urls``, ``captured_request_headers``, ``captured_response_headers``,
            ``sensitive_headers``, ``duration_histogram_boundaries``) are used when the keyword
            itself is not given.
        library: the instrumented library (``"requests"``): names the
            ``OTEL_PYTHON_<LIBRARY>_EXCLUDED_URLS`` variable and the default scope.
        scope, version: the instrumentation scope of the tracer and meter (default:
            ``instrumentarium.<library>`` and the version every distribution shares).
        excluded_urls: the keyword argument (comma string or list); None reads the environment.
        captured_request_headers, captured_response_headers, sensitive_headers: lists that win
            over the ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_*`` variables.
        duration_histogram_boundaries: advisory boundaries of the duration histograms, in the
            unit of the one the old conventions emit (see ``duration_buckets``); None:
            ``names.DURATION_BUCKETS_MS`` / ``_S``.
        size_metrics: also create the request and response body-size histograms.
        user_agent: write ``user_agent.original`` (in every mode, as upstream's requests does).
        default_peer_port: the old metrics' ``net.peer.port`` is the scheme's default port when
            the URL names none (upstream's urllib3 reports the pool's port; its requests only an
            explicit one).
        duration_description: of ``http.client.duration`` (upstream's two packages differ).
    """

    __slots__ = (
        "_origins",
        "default_peer_port",
        "duration_ms",
        "duration_s",
        "excluded",
        "headers",
        "methods",
        "mode",
        "new",
        "old",
        "redactor",
        "request_size_new",
        "request_size_old",
        "response_size_new",
        "response_size_old",
        "tracer",
        "user_agent",
    )

    def __init__(
        self,
        config: Optional[HttpClientConfig] = None,
        *,
        library: str,
        scope: Optional[str] = None,
        version: str = __version__,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        excluded_urls: Union[str, Iterable[str], None] = None,
        captured_request_headers: Optional[Sequence[str]] = None,
        captured_response_headers: Optional[Sequence[str]] = None,
        sensitive_headers: Optional[Sequence[str]] = None,
        duration_histogram_boundaries: Optional[Sequence[float]] = None,
        size_metrics: bool = False,
        user_agent: bool = False,
        default_peer_port: bool = False,
        duration_description: str = "measures the duration of the outbound HTTP request",
        mode: Optional[SemconvMode] = None,
    ) -> None:
        if config is not None:  # the keywords win over the config's fields of the same name
            tracer_provider = _option(config, "tracer_provider", tracer_provider)
            meter_provider = _option(config, "meter_provider", meter_provider)
            excluded_urls = _option(config, "excluded_urls", excluded_urls)
            captured_request_headers = _option(
                config, "captured_request_headers", captured_request_headers
            )
            captured_response_headers = _option(
                config, "captured_response_headers", captured_response_headers
            )
            sensitive_headers = _option(config, "sensitive_headers", sensitive_headers)
            duration_histogram_boundaries = _option(
                config, "duration_histogram_boundaries", duration_histogram_boundaries
            )
        if scope is None:
            scope = f"instrumentarium.{library.lower()}"
        self.mode = mode if mode is not None else opt_in_mode("http")
        self.old = self.mode.old
        self.new = self.mode.new
        buckets_ms, buckets_s = duration_buckets(duration_histogram_boundaries, self.old)
        url = schema_url("http", self.mode)
        self.tracer = trace.get_tracer(scope, version, tracer_provider, schema_url=url)
        meter = shared_meter(scope, version, meter_provider, schema_url=url)
        durations = DurationHistograms(
            meter,
            self.mode,
            old_name=n.HTTP_CLIENT_DURATION,
            old_description=duration_description,
            new_name=n.HTTP_CLIENT_REQUEST_DURATION,
            new_description="Duration of HTTP client requests.",
            buckets_ms=n.DURATION_BUCKETS_MS if buckets_ms is None else buckets_ms,
            buckets_s=n.DURATION_BUCKETS_S if buckets_s is None else buckets_s,
        )
        # Recorded in HttpClientCall.finish, each mode with its own attributes and sizes.
        self.duration_ms: Optional[Histogram] = durations.ms
        self.duration_s: Optional[Histogram] = durations.s
        self.request_size_old: Optional[Histogram] = None
        self.response_size_old: Optional[Histogram] = None
        self.request_size_new: Optional[Histogram] = None
        self.response_size_new: Optional[Histogram] = None
        if size_metrics and self.old:
            self.request_size_old, self.response_size_old = size_histograms(meter, _SIZES_OLD)
        if size_metrics and self.new:
            self.request_size_new, self.response_size_new = size_histograms(meter, _SIZES_NEW)
        self.excluded: Optional[ExcludedUrls] = (
            ExcludedUrls.from_config(library, excluded_urls) or None
        )
        self.headers: Optional[HeaderCapture] = (
            HeaderCapture.from_config(
                "CLIENT", captured_request_headers, captured_response_headers, sensitive_headers
            )
            or None
        )
        self.methods = MethodNormalizer.from_env()
        self.redactor = UrlRedactor.from_env()
        self.user_agent = user_agent
        self.default_peer_port = default_peer_port
        self._origins: dict[str, _Origin] = {}

    def is_excluded(self, url: str) -> bool:
        excluded = self.excluded
        return excluded is not None and excluded.matches(url)

    def _origin(self, url: str) -> _Origin:
        match = _ORIGIN.match(url)
        key = match.group() if match is not None else ""
        origin = self._origins.get(key)
        if origin is None:
            origin = _Origin(key, self.default_peer_port)
            if len(self._origins) >= _ORIGIN_CACHE_LIMIT:
                self._origins.clear()
            self._origins[key] = origin
        return origin

    def start(
        self,
        method: str,
        url: str,
        *,
        request_headers: Optional[Iterable[tuple[HeaderText, HeaderText]]] = None,
        user_agent: Optional[HeaderText] = None,
    ) -> HttpClientCall:
        """Start the CLIENT span of one request (not yet current) and its clock.

        ``request_headers`` (``(name, value)`` pairs) are read only when capture is configured.
        Header names and values may be str or bytes, as the client libraries accept both.
        """
        return HttpClientCall(self, method, url, request_headers, user_agent)


class HttpClientCall:
    """One outgoing request: its span, its metric attributes, and its end (exactly once)."""

    __slots__ = (
        "context",
        "ended",
        "errored",
        "metric_new",
        "metric_old",
        "peer_ip",
        "span",
        "start_ns",
        "telemetry",
    )

    def __init__(
        self,
        telemetry: HttpClientTelemetry,
        raw_method: str,
        url: str,
        request_headers: Optional[Iterable[tuple[HeaderText, HeaderText]]],
        user_agent: Optional[HeaderText],
    ) -> None:
        self.telemetry = telemetry
        method, original = telemetry.methods.normalize(raw_method)
        origin = telemetry._origin(url)
        url = telemetry.redactor.redact_url(url)
        attrs: dict[str, AttributeValue]
        if telemetry.old:
            attrs = {n.HTTP_METHOD: method, n.HTTP_URL: url}
            self.metric_old: Optional[dict[str, AttributeValue]] = dict(origin.metric_old)
            self.metric_old[n.HTTP_METHOD] = method
        else:
            attrs = {}
            self.metric_old = None
        if telemetry.new:
            attrs.update(origin.span_new)
            attrs[n.HTTP_REQUEST_METHOD] = method
            if original is not None:
                attrs[n.HTTP_REQUEST_METHOD_ORIGINAL] = original
            attrs[n.URL_FULL] = url
            self.metric_new: Optional[dict[str, AttributeValue]] = dict(origin.metric_new)
            self.metric_new[n.HTTP_REQUEST_METHOD] = method
        else:
            self.metric_new = None
        if user_agent and telemetry.user_agent:
            if not isinstance(user_agent, str):
                user_agent = header_text(user_agent)
            attrs[n.USER_AGENT_ORIGINAL] = user_agent
            synthetic = synthetic_user_agent_type(user_agent)
            if synthetic is not None:
                attrs[n.USER_AGENT_SYNTHETIC_TYPE] = synthetic
        capture = telemetry.headers
        if capture is not None and request_headers is not None and capture.request:
            attrs.update(capture.request.attributes(_text_pairs(request_headers)))
        self.errored = False
        self.ended = False
        self.peer_ip: Optional[AbstractContextManager[object]] = None
        self.start_ns = _time_ns()
        span = telemetry.tracer.start_span(
            "HTTP" if method == OTHER_METHOD else method,
            kind=_CLIENT,
            attributes=attrs,
            start_time=self.start_ns,
        )
        self.span: Span = span
        self.context: Context = _set_span_in_context(span)

    def inject(self, carrier: Any) -> None:
        """Write the span's context into outgoing headers with the global propagator; a
        propagator that raises costs this request its trace context, not the request."""
        with _INJECT:
            _inject(carrier, context=self.context)

    def attach(self) -> object:
        """Make the span current with HTTP instrumentation suppressed (so a client library
        underneath creates no second span); give the token to ``detach`` in the same frame.

        When upstream's peer-IP enrichment (``opentelemetry-util-http``'s
        ``HttpClientInstrumentor``) is on, the span is also handed to it for the request, so
        that ``http.client`` writes ``net.peer.ip`` on it, as upstream's clients do.
        """
        token = _attach(_set_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, self.context))
        if _PEER_IP_MODULE in _modules:  # one dict lookup when the enrichment is not imported
            self._hand_over_for_peer_ip()
        return token

    def detach(self, token: object) -> None:
        """Undo ``attach``: the peer-IP hand-over first, then the context."""
        peer_ip = self.peer_ip
        if peer_ip is not None:
            self.peer_ip = None
            with _PEER_IP:
                peer_ip.__exit__(None, None, None)
        _detach(token)  # type: ignore[arg-type]

    @_PEER_IP
    def _hand_over_for_peer_ip(self) -> None:
        module = _modules.get(_PEER_IP_MODULE)
        instrumentor = getattr(module, "HttpClientInstrumentor", None)
        if instrumentor is None or not instrumentor().is_instrumented_by_opentelemetry:
            return
        manager = module.set_ip_on_next_http_connection(self.span)  # type: ignore[union-attr]
        manager.__enter__()
        self.peer_ip = manager

    def on_response(
        self,
        status: object,
        version: object = None,
        headers: Optional[Iterable[tuple[HeaderText, HeaderText]]] = None,
    ) -> None:
        """Record the response status, protocol version and captured response headers."""
        telemetry = self.telemetry
        span = self.span
        recording = span.is_recording()
        flavor = http_version(version)
        metric_old = self.metric_old
        metric_new = self.metric_new
        if not isinstance(status, int):
            self._error_type(str(status))
            self._set_error(f"Non-integer HTTP status: {status}")
        else:
            if metric_old is not None:
                metric_old[n.HTTP_STATUS_CODE] = status
                if recording:
                    span.set_attribute(n.HTTP_STATUS_CODE, status)
            if metric_new is not None:
                metric_new[n.HTTP_RESPONSE_STATUS_CODE] = status
                if recording:
                    span.set_attribute(n.HTTP_RESPONSE_STATUS_CODE, status)
            if client_status_is_error(status):
                self._error_type(str(status))
                self._set_error(None)
        if flavor is not None:
            if metric_old is not None:
                metric_old[n.HTTP_FLAVOR] = flavor
            if metric_new is not None:
                metric_new[n.NETWORK_PROTOCOL_VERSION] = flavor
                if recording:
                    span.set_attribute(n.NETWORK_PROTOCOL_VERSION, flavor)
        capture = telemetry.headers
        if recording and capture is not None and headers is not None and capture.response:
            span.set_attributes(capture.response.attributes(_text_pairs(headers)))

    def _error_type(self, value: str) -> None:
        metric_new = self.metric_new
        if metric_new is not None:
            metric_new[n.ERROR_TYPE] = value
            self.span.set_attribute(n.ERROR_TYPE, value)

    def _set_error(self, description: Optional[str]) -> None:
        if not self.errored:
            self.errored = True
            self.span.set_status(Status(_ERROR, description))

    def end(
        self,
        exc: Optional[BaseException] = None,
        request_size: Optional[int] = None,
        response_size: Optional[int] = None,
    ) -> None:
        """End the span and record the metrics; only the first call does anything.

        An exception is recorded as one ``exception`` event, ERROR ``"Type: message"`` and, in
        the stable mode, ``error.type`` = its class's qualified name (span and metrics).
        """
        if self.ended:
            return
        self.ended = True
        end_ns = _time_ns()
        span = self.span
        if exc is not None:
            # Client exceptions quote the URL they failed on: record them redacted.
            event, description = redacted_exception(exc, self.telemetry.redactor)
            if span.is_recording():
                span.record_exception(exc, attributes=event)
            if self.metric_new is not None and n.ERROR_TYPE not in self.metric_new:
                self._error_type(type(exc).__qualname__)
            if not self.errored:
                self.errored = True
                span.set_status(Status(_ERROR, description))
        span.end(end_ns)
        telemetry = self.telemetry
        elapsed = end_ns - self.start_ns
        ctx = self.context
        metric_old = self.metric_old
        if metric_old is not None:
            if telemetry.duration_ms is not None:
                telemetry.duration_ms.record(max(round(elapsed / 1e6), 0), metric_old, context=ctx)
            if request_size is not None and telemetry.request_size_old is not None:
                telemetry.request_size_old.record(request_size, metric_old, context=ctx)
            if response_size is not None and telemetry.response_size_old is not None:
                telemetry.response_size_old.record(response_size, metric_old, context=ctx)
        metric_new = self.metric_new
        if metric_new is not None:
            if telemetry.duration_s is not None:
                telemetry.duration_s.record(max(elapsed / 1e9, 0.0), metric_new, context=ctx)
            if request_size is not None and telemetry.request_size_new is not None:
                telemetry.request_size_new.record(request_size, metric_new, context=ctx)
            if response_size is not None and telemetry.response_size_new is not None:
                telemetry.response_size_new.record(response_size, metric_new, context=ctx)


# (name, description) of the request and the response body-size histograms, per convention.
_SIZES_OLD: Final = (
    (n.HTTP_CLIENT_REQUEST_SIZE, "Measures the size of HTTP request messages."),
    (n.HTTP_CLIENT_RESPONSE_SIZE, "Measures the size of HTTP response messages."),
)
_SIZES_NEW: Final = (
    (n.HTTP_CLIENT_REQUEST_BODY_SIZE, "Size of HTTP client request bodies."),
    (n.HTTP_CLIENT_RESPONSE_BODY_SIZE, "Size of HTTP client response bodies."),
)


def _option(config: HttpClientConfig, name: str, given: Any) -> Any:
    return given if given is not None else getattr(config, name, None)


def duration_buckets(
    boundaries: Optional[Sequence[float]], old: bool
) -> tuple[Optional[Sequence[float]], Optional[Sequence[float]]]:
    """``duration_histogram_boundaries`` for the ms and the s histogram.

    Upstream gives the same list to both, so one of the two is always off by a factor of 1000.
    Here the list is in the unit of the histogram the user sees by default: milliseconds when the
    old conventions are emitted (default and ``http/dup``; the seconds histogram then gets the
    same boundaries divided by 1000), seconds in the stable-only mode (``http``), where an
    upstream user's list was necessarily written in seconds.
    """
    if boundaries is None:
        return None, None
    values = tuple(float(b) for b in boundaries)
    if old:
        return values, tuple(b / 1000 for b in values)
    return None, values


def header_text(value: object) -> str:
    """A header name or value as text, whether the library was given str or bytes.

    Bytes are read as UTF-8, as the OpenTelemetry SDK reads a bytes attribute (so a bytes
    ``User-Agent`` is recorded as upstream records it), else as Latin-1, HTTP's own encoding
    (never fails). Anything else is ``str()``-ed.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    return str(value)


def _text_pairs(pairs: Iterable[tuple[object, object]]) -> list[tuple[str, str]]:
    return [(header_text(name), header_text(value)) for name, value in pairs]


def header_items(headers: Optional[Mapping[Any, Any]]) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of a headers mapping (a dict, requests' or urllib3's), as text
    (bytes names and values decoded by ``header_text``)."""
    if headers is None:
        return []
    return _text_pairs(headers.items())
