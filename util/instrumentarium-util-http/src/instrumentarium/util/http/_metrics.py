"""HTTP instruments, created once per instrumentor in the mode it emits."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Final, Optional

from opentelemetry.context import Context
from opentelemetry.metrics import Histogram, Meter, MeterProvider
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.metrics import (
    DurationHistograms,
    ObservedCounts,
    histogram,
    shared_instrument,
)
from instrumentarium.util.semconv import SemconvMode

from . import _names as n

__all__ = ["ActiveRequests", "HttpServerMetrics", "active_requests", "pick"]

# (old-mode, stable-mode) duration attributes that depend on the request only; None: not emitted
DurationBases = tuple[Optional[dict[str, AttributeValue]], Optional[dict[str, AttributeValue]]]


def pick(
    attributes: Mapping[str, AttributeValue], keys: Sequence[str]
) -> dict[str, AttributeValue]:
    """The subset of ``attributes`` named in ``keys`` (a metric's bounded attribute set)."""
    return {key: attributes[key] for key in keys if key in attributes}


class ActiveRequests(ObservedCounts):
    """``http.server.active_requests``: in-flight requests per attribute set, an up-down sum.

    The exported data is what an ``UpDownCounter`` given +1 and -1 per request produces, but on
    every SDK but 1.28.0 a request costs two dict updates under a lock instead of two SDK
    measurements (see ``instrumentarium.util.metrics``). ``active_requests`` gives every
    instrumented app on one meter provider and scope the same instance.
    """

    __slots__ = ()

    def __init__(self, meter: Meter, *, observable: Optional[bool] = None) -> None:
        super().__init__(
            meter,
            n.HTTP_SERVER_ACTIVE_REQUESTS,
            unit="{request}",
            description="Number of active HTTP server requests.",
            monotonic=False,
            observable=observable,
        )

    def increment(self, key: tuple[Any, ...], attributes: Mapping[str, AttributeValue]) -> None:
        """Count one more request with ``attributes``, identified by ``key`` (a hashable form of
        them, e.g. ``tuple(attributes.items())``, which ``decrement`` takes back)."""
        self.add(1, attributes, key)

    def decrement(self, key: tuple[Any, ...]) -> None:
        """Count one request less under ``key``."""
        self.add_to_key(key, -1)

    def value(
        self, attributes: Mapping[str, AttributeValue], key: Optional[Hashable] = None
    ) -> int:
        """The current count for ``attributes`` (key: ``tuple(attributes.items())``)."""
        return super().value(attributes, tuple(attributes.items()) if key is None else key)


def active_requests(
    scope: str, version: str, meter_provider: Optional[MeterProvider], schema_url: str
) -> ActiveRequests:
    """The ``ActiveRequests`` of ``scope`` on ``meter_provider`` (None: the global provider)."""
    return shared_instrument(
        meter_provider, scope, version, schema_url, n.HTTP_SERVER_ACTIVE_REQUESTS, ActiveRequests
    )


class HttpServerMetrics:
    """``http.server.duration`` (old, ms), ``http.server.request.duration`` (stable, s) and
    ``http.server.active_requests``, each created only in the modes that emit it; with
    ``sizes``, the request and response size histograms of each mode too (old
    ``http.server.request.size`` / ``http.server.response.size``, stable
    ``http.server.request.body.size`` / ``http.server.response.body.size``)."""

    __slots__ = (
        "active_keys",
        "active_requests",
        "duration_ms",
        "duration_s",
        "sizes_new",
        "sizes_old",
    )

    def __init__(
        self,
        meter: Meter,
        mode: SemconvMode,
        active: Optional[ActiveRequests] = None,
        *,
        sizes: bool = False,
    ) -> None:
        durations = DurationHistograms(
            meter,
            mode,
            old_name=n.HTTP_SERVER_DURATION,
            old_description="Measures the duration of inbound HTTP requests.",
            new_name=n.HTTP_SERVER_REQUEST_DURATION,
            new_description="Duration of HTTP server requests.",
        )
        # Recorded here, each with its own attribute set (see record_duration).
        self.duration_ms: Optional[Histogram] = durations.ms
        self.duration_s: Optional[Histogram] = durations.s
        # (request, response) body-size histograms of each mode, when measured
        self.sizes_old: Optional[tuple[Histogram, Histogram]] = None
        self.sizes_new: Optional[tuple[Histogram, Histogram]] = None
        if sizes and mode.old:
            self.sizes_old = size_histograms(meter, _SERVER_SIZES_OLD)
        if sizes and mode.new:
            self.sizes_new = size_histograms(meter, _SERVER_SIZES_NEW)
        self.active_requests = active if active is not None else ActiveRequests(meter)
        keys: tuple[str, ...] = ()
        if mode.old:
            keys += n.SERVER_ACTIVE_ATTRS_OLD
        if mode.new:
            keys += n.SERVER_ACTIVE_ATTRS_NEW
        self.active_keys = keys

    def duration_bases(self, attributes: Mapping[str, AttributeValue]) -> DurationBases:
        """The part of each duration histogram's attribute set that does not depend on the
        response (method, scheme, host, ...): a caller that caches a request's shared attributes
        caches these too, so a request only adds its status and route."""
        return (
            pick(attributes, _OLD_REQUEST_KEYS) if self.duration_ms is not None else None,
            pick(attributes, _NEW_REQUEST_KEYS) if self.duration_s is not None else None,
        )

    def record_duration(
        self,
        elapsed_ns: int,
        attributes: Mapping[str, AttributeValue],
        route: Optional[str],
        context: Optional[Context],
        bases: Optional[DurationBases] = None,
        request_size: Optional[int] = None,
        response_size: Optional[int] = None,
    ) -> None:
        """Record one request's duration with the bounded attribute set of each mode.

        With a route, the old-mode histogram carries it as ``http.target`` (what upstream's Flask
        and Django record there; never the raw target), the stable one as ``http.route``.
        ``bases``: ``duration_bases`` of the request's shared attributes, when cached. The sizes
        (when the size histograms exist and a size is known) get the same attribute sets.
        """
        old_base, new_base = self.duration_bases(attributes) if bases is None else bases
        if self.duration_ms is not None and old_base is not None:
            old = dict(old_base)
            code = attributes.get(n.HTTP_STATUS_CODE)
            if code is not None:
                old[n.HTTP_STATUS_CODE] = code
            if route:
                old[n.HTTP_TARGET] = route
            self.duration_ms.record(max(round(elapsed_ns / 1e6), 0), old, context=context)
            sizes = self.sizes_old
            if sizes is not None:
                if request_size is not None:
                    sizes[0].record(request_size, old, context=context)
                if response_size is not None:
                    sizes[1].record(response_size, old, context=context)
        if self.duration_s is not None and new_base is not None:
            new = dict(new_base)
            for key in _NEW_RESPONSE_KEYS:
                value = attributes.get(key)
                if value is not None:
                    new[key] = value
            if route:
                new[n.HTTP_ROUTE] = route
            self.duration_s.record(max(elapsed_ns / 1e9, 0.0), new, context=context)
            sizes = self.sizes_new
            if sizes is not None:
                if request_size is not None:
                    sizes[0].record(request_size, new, context=context)
                if response_size is not None:
                    sizes[1].record(response_size, new, context=context)


# Byte sizes grow by powers of four from 64 B to 64 MiB: the SDK's default buckets are meant for
# milliseconds and put every body above 10 kB in the last bucket.
SIZE_BUCKETS_BYTES: Final = (
    0.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
)  # fmt: skip


def size_histograms(
    meter: Meter, names: tuple[tuple[str, str], tuple[str, str]]
) -> tuple[Histogram, Histogram]:
    """The request and the response body-size histograms, in bytes: ``names`` gives each one's
    (name, description). Client and server alike."""
    request, response = (
        histogram(meter, name, unit="By", description=description, buckets=SIZE_BUCKETS_BYTES)
        for name, description in names
    )
    return request, response


_SERVER_SIZES_OLD: Final = (
    (n.HTTP_SERVER_REQUEST_SIZE, "Measures the size of HTTP request messages (compressed)."),
    (n.HTTP_SERVER_RESPONSE_SIZE, "measures the size of HTTP response messages (compressed)."),
)
_SERVER_SIZES_NEW: Final = (
    (n.HTTP_SERVER_REQUEST_BODY_SIZE, "Size of HTTP server request bodies."),
    (n.HTTP_SERVER_RESPONSE_BODY_SIZE, "Size of HTTP server response bodies."),
)


# The duration attributes known once the request has arrived, and those set by its response.
_NEW_RESPONSE_KEYS: Final = (n.ERROR_TYPE, n.HTTP_RESPONSE_STATUS_CODE, n.HTTP_ROUTE)
_OLD_REQUEST_KEYS: Final = tuple(k for k in n.SERVER_DURATION_ATTRS_OLD if k != n.HTTP_STATUS_CODE)
_NEW_REQUEST_KEYS: Final = tuple(
    k for k in n.SERVER_DURATION_ATTRS_NEW if k not in _NEW_RESPONSE_KEYS
)
