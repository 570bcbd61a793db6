"""What one RPC emits, for every side and flavour: the span, its attributes, the duration metric.

``RpcTelemetry`` is built once per instrumentor or interceptor with everything resolved: the
tracer, the histograms of each semconv mode, the hooks and the filter (the user's, narrowed by
``OTEL_PYTHON_GRPC_EXCLUDED_SERVICES``). Per method it builds once, and keeps, an ``RpcMethod``:
the span name, the start attributes and the metric attributes of a successful call, or None when
the filter excludes the method. Per call the sides (``_client``, ``_server``, ``_aio_*``) only
start a span with those prebuilt attributes and end it through ``end``, which applies the status
rules:

* client: any code other than OK is an ERROR;
* server: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS are
  errors, other codes leave the status UNSET (as upstream and the specification);
* an exception that escapes a handler is an ERROR with one exception event (code UNKNOWN).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, Callable, Final, Optional
from urllib.parse import unquote

from opentelemetry import trace
from opentelemetry.metrics import Histogram, MeterProvider
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.config import split_comma_list
from instrumentarium.util.http import histogram, names
from instrumentarium.util.metrics import shared_meter
from instrumentarium.util.safety import safe_hook, warn_once
from instrumentarium.util.semconv import opt_in_mode, schema_url

from ._env import EXCLUDED_SERVICES_ENV
from .filters import Filter, full_method_of, service_name, split_method
from .version import __version__

if TYPE_CHECKING:
    import grpc  # type: ignore[import-untyped]

__all__ = [
    "EXCLUDED_SERVICES_ENV",
    "SCOPE",
    "MetadataSetter",
    "MetadataGetter",
    "RpcMethod",
    "RpcTelemetry",
    "combined_filter",
]

SCOPE: Final = "instrumentarium.grpc"
_METHOD_CACHE_SIZE: Final = 1024

# Attribute names (old: the pre-stable rpc.* and net.* names upstream emits; new: semconv 1.45).
RPC_SYSTEM: Final = "rpc.system"
RPC_SERVICE: Final = "rpc.service"
RPC_METHOD: Final = "rpc.method"
RPC_GRPC_STATUS_CODE: Final = "rpc.grpc.status_code"
RPC_USER_AGENT: Final = "rpc.user_agent"
NET_PEER_IP: Final = "net.peer.ip"
NET_PEER_PORT: Final = "net.peer.port"
NET_PEER_NAME: Final = "net.peer.name"
RPC_SYSTEM_NAME: Final = "rpc.system.name"
RPC_RESPONSE_STATUS_CODE: Final = "rpc.response.status_code"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
NETWORK_PEER_ADDRESS: Final = "network.peer.address"
NETWORK_PEER_PORT: Final = "network.peer.port"
USER_AGENT_ORIGINAL: Final = "user_agent.original"
ERROR_TYPE: Final = "error.type"
GRPC: Final = "grpc"

RPC_CLIENT_DURATION: Final = "rpc.client.duration"
RPC_SERVER_DURATION: Final = "rpc.server.duration"
RPC_CLIENT_CALL_DURATION: Final = "rpc.client.call.duration"
RPC_SERVER_CALL_DURATION: Final = "rpc.server.call.duration"

# Codes named, not imported: this module is loaded by instrument(), which must not import grpc.
_SERVER_ERRORS: Final = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1"})

Attributes = dict[str, AttributeValue]


class MetadataSetter(Setter[list[tuple[str, str]]]):
    """Appends ``(key, value)`` to outgoing metadata; gRPC requires lower-case keys."""

    def set(self, carrier: list[tuple[str, str]], key: str, value: str) -> None:
        carrier.append((key.lower(), value))


class MetadataGetter(Getter[Mapping[str, Any]]):
    """Reads propagation fields from incoming metadata, turned into a dict once per call."""

    def get(self, carrier: Mapping[str, Any], key: str) -> Optional[list[str]]:
        value = carrier.get(key)
        if value is None or isinstance(value, bytes):  # binary (-bin) metadata carries no context
            return None
        return [value]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier)


def combined_filter(user_filter: Optional[Filter]) -> Optional[Filter]:
    """The user's filter narrowed by ``OTEL_PYTHON_GRPC_EXCLUDED_SERVICES``: a call is traced
    when the user's filter accepts it *and* its service is not excluded (read now, once)."""
    excluded = split_comma_list(os.environ.get(EXCLUDED_SERVICES_ENV, ""))
    if not excluded:
        return user_filter
    excluded_filters = [service_name(s) for s in excluded]

    def traced(details: Any) -> bool:
        if any(f(details) for f in excluded_filters):
            return False
        return user_filter is None or bool(user_filter(details))

    return traced


class _MethodDetails:
    """What a filter gets when instrumentarium asks it about one method name."""

    __slots__ = ("method",)

    def __init__(self, method: str) -> None:
        self.method = method

    @property
    def full_method(self) -> str:
        return self.method


class RpcMethod:
    """Everything about one method that does not change from call to call."""

    __slots__ = (
        "attributes",
        "metric_ms",
        "metric_s",
        "name",
        "rpc_method",
        "service",
        "span_name",
    )

    def __init__(
        self,
        span_name: str,
        attributes: Attributes,
        metric_ms: Attributes,
        metric_s: Attributes,
        service: str,
        name: str,
    ) -> None:
        self.span_name = span_name
        self.attributes = attributes
        self.metric_ms = metric_ms
        self.metric_s = metric_s
        self.service = service
        self.name = name


class _Peer:
    """``host:port`` of a channel target, for ``server.address`` / ``server.port``."""

    @staticmethod
    def parse_target(target: object) -> tuple[Optional[str], Optional[int]]:
        if isinstance(target, bytes):
            target = target.decode("utf-8", "replace")
        if not isinstance(target, str) or not target:
            return None, None
        scheme, sep, rest = target.partition(":")
        if sep and scheme in ("dns", "ipv4", "ipv6") and not rest.startswith("//"):
            target = rest
        elif sep and scheme in ("unix", "unix-abstract", "vsock"):
            return target, None
        elif target.startswith("dns://"):
            target = target[6:].partition("/")[2]
        return split_host_port(target)


def split_host_port(address: str) -> tuple[Optional[str], Optional[int]]:
    """``host:port``, ``[v6]:port`` or ``host`` -> (host, port or None); brackets removed."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        host, _, port_text = address.partition(":")
    else:
        host, port_text = address, ""
    port = int(port_text) if port_text.isdigit() else None
    return (host or None), port


class RpcTelemetry:
    """Spans and metrics of one side (client or server), configured once."""

    __slots__ = (
        "_lock",
        "_methods",
        "_peers",
        "active",
        "client",
        "duration_ms",
        "duration_s",
        "filter",
        "kind",
        "new",
        "old",
        "request_hook",
        "response_hook",
        "stable_names",
        "tracer",
    )

    def __init__(
        self,
        *,
        client: bool,
        tracer_provider: Optional[TracerProvider] = None,
        meter_provider: Optional[MeterProvider] = None,
        filter_: Optional[Filter] = None,
        request_hook: object = None,
        response_hook: object = None,
    ) -> None:
        mode = opt_in_mode("rpc")
        self.old = mode.old
        self.new = mode.new
        self.stable_names = not mode.old  # ``rpc/dup`` keeps upstream's span names
        url = schema_url("rpc", mode)
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=url)
        meter = shared_meter(SCOPE, __version__, meter_provider, schema_url=url)
        self.client = client
        self.kind = SpanKind.CLIENT if client else SpanKind.SERVER
        self.duration_ms: Optional[Histogram] = None
        self.duration_s: Optional[Histogram] = None
        side = "client" if client else "server"
        if mode.old:
            self.duration_ms = histogram(
                meter,
                RPC_CLIENT_DURATION if client else RPC_SERVER_DURATION,
                unit="ms",
                description=f"Measures the duration of {'outbound' if client else 'inbound'} RPC.",
                buckets=names.DURATION_BUCKETS_MS,
            )
        if mode.new:
            self.duration_s = histogram(
                meter,
                RPC_CLIENT_CALL_DURATION if client else RPC_SERVER_CALL_DURATION,
                unit="s",
                description=f"Measures the duration of an {side} Remote Procedure Call (RPC).",
                buckets=names.DURATION_BUCKETS_S,
            )
        self.filter = combined_filter(filter_)
        self.request_hook = safe_hook(request_hook, "request_hook")
        self.response_hook = safe_hook(response_hook, "response_hook")
        self.active = True
        self._methods: dict[object, Optional[RpcMethod]] = {}
        self._peers: dict[str, Attributes] = {}
        self._lock = threading.Lock()

    # --- per method, built once ---------------------------------------------------------------

    def method(self, full_method: object, target: object = None) -> Optional[RpcMethod]:
        """The prebuilt facts of ``full_method`` (called through ``target``, a channel's); None
        when the filter excludes it."""
        key = (full_method, target)
        try:
            return self._methods[key]
        except KeyError:
            pass
        found = self._build(full_method, target)
        if len(self._methods) < _METHOD_CACHE_SIZE:
            self._methods[key] = found
        return found

    def _build(self, raw_method: object, target: object) -> Optional[RpcMethod]:
        full = full_method_of(_MethodDetails(raw_method))  # type: ignore[arg-type]
        if self.filter is not None:
            try:
                if not self.filter(_MethodDetails(full)):
                    return None
            except Exception:
                warn_once(("grpc-filter", full), "filter_ raised for %s; tracing it", full)
        service, name = split_method(full)
        qualified = f"{service}/{name}" if service else name
        attributes: Attributes = {}
        metric_ms: Attributes = {}
        metric_s: Attributes = {}
        if self.old:
            metric_ms[RPC_SYSTEM] = attributes[RPC_SYSTEM] = GRPC
            if name:
                metric_ms[RPC_SERVICE] = attributes[RPC_SERVICE] = service
                metric_ms[RPC_METHOD] = attributes[RPC_METHOD] = name
            metric_ms[RPC_GRPC_STATUS_CODE] = attributes[RPC_GRPC_STATUS_CODE] = 0
        if self.new:
            metric_s[RPC_SYSTEM_NAME] = attributes[RPC_SYSTEM_NAME] = GRPC
            if name:
                metric_s[RPC_METHOD] = attributes[RPC_METHOD] = qualified
            metric_s[RPC_RESPONSE_STATUS_CODE] = attributes[RPC_RESPONSE_STATUS_CODE] = "OK"
            if self.client and target is not None:
                host, port = _Peer.parse_target(target)
                if host:
                    metric_s[SERVER_ADDRESS] = attributes[SERVER_ADDRESS] = host
                    if port is not None:
                        metric_s[SERVER_PORT] = attributes[SERVER_PORT] = port
        span_name = qualified if self.stable_names else full
        return RpcMethod(span_name or GRPC, attributes, metric_ms, metric_s, service, name)

    # --- per call -----------------------------------------------------------------------------

    def peer_attributes(self, peer: object) -> Attributes:
        """The server span's attributes for ``context.peer()`` (cached per peer string)."""
        if not isinstance(peer, str):
            return {}
        found = self._peers.get(peer)
        if found is not None:
            return found
        attributes: Attributes = {}
        kind, _, address = peer.partition(":")
        if kind in ("ipv4", "ipv6"):
            first = unquote(address.split(",", 1)[0])
            host, port = split_host_port(first)
            if host:
                if self.old:
                    attributes[NET_PEER_IP] = host
                    if port is not None:
                        attributes[NET_PEER_PORT] = port
                    if host in _LOOPBACK:
                        attributes[NET_PEER_NAME] = "localhost"
                if self.new:
                    attributes[NETWORK_PEER_ADDRESS] = host
                    if port is not None:
                        attributes[NETWORK_PEER_PORT] = port
        if len(self._peers) >= _METHOD_CACHE_SIZE:
            self._peers.clear()
        self._peers[peer] = attributes
        return attributes

    def user_agent(self, attributes: Attributes, value: object) -> None:
        if isinstance(value, str):
            if self.old:
                attributes[RPC_USER_AGENT] = value
            if self.new:
                attributes[USER_AGENT_ORIGINAL] = value

    def end(
        self,
        span: Span,
        method: RpcMethod,
        started_ns: int,
        code: Optional[grpc.StatusCode] = None,
        details: Optional[str] = None,
        exception: Optional[BaseException] = None,
        record: bool = False,
    ) -> None:
        """End ``span`` with ``code`` (None: OK, or UNKNOWN when ``exception`` is given) and
        record the duration. ``record`` adds ``exception`` as the span's one exception event."""
        if code is None and exception is not None:
            code = _grpc().StatusCode.UNKNOWN
        elapsed = perf_counter_ns() - started_ns
        if code is None or code.name == "OK":
            span.end()
            if self.duration_ms is not None:
                self.duration_ms.record(elapsed / 1e6, method.metric_ms)
            if self.duration_s is not None:
                self.duration_s.record(elapsed / 1e9, method.metric_s)
            return
        number = code.value[0]
        error_type = code.name
        if span.is_recording():
            if self.old:
                span.set_attribute(RPC_GRPC_STATUS_CODE, number)
            if self.new:
                span.set_attribute(RPC_RESPONSE_STATUS_CODE, code.name)
            if record and exception is not None:
                span.record_exception(exception)
            if self.client or code.name in _SERVER_ERRORS:
                if self.new:
                    span.set_attribute(ERROR_TYPE, error_type)
                if (
                    details is None
                    and exception is not None
                    and not isinstance(exception, _grpc().RpcError)
                ):
                    details = f"{type(exception).__name__}: {exception}"
                span.set_status(Status(StatusCode.ERROR, f"{code}:{details or ''}"))
        span.end()
        if self.duration_ms is not None:
            metric = dict(method.metric_ms)
            metric[RPC_GRPC_STATUS_CODE] = number
            self.duration_ms.record(elapsed / 1e6, metric)
        if self.duration_s is not None:
            metric = dict(method.metric_s)
            metric[RPC_RESPONSE_STATUS_CODE] = code.name
            if self.client or code.name in _SERVER_ERRORS:
                metric[ERROR_TYPE] = error_type
            self.duration_s.record(elapsed / 1e9, metric)


def _grpc() -> Any:
    """The grpc module, imported by the time a call is traced."""
    import grpc  # noqa: PLC0415  (see _SERVER_ERRORS)

    return grpc


def rpc_error_code(exc: BaseException) -> tuple[Optional[grpc.StatusCode], Optional[str]]:
    """(code, details) of a ``grpc.RpcError`` that is also a ``grpc.Call``; (None, None) else."""
    code_of: Optional[Callable[[], Any]] = getattr(exc, "code", None)
    if code_of is None:
        return None, None
    try:
        code = code_of()
        details_of = getattr(exc, "details", None)
        details = details_of() if details_of is not None else None
    except Exception:
        return None, None
    if not isinstance(code, _grpc().StatusCode):
        return None, None
    return code, details if isinstance(details, str) else None
