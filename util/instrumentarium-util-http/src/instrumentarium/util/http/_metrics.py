"""HTTP instruments, created once per instrumentor in the mode it emits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

from opentelemetry.context import Context
from opentelemetry.metrics import Histogram, Meter, UpDownCounter
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.semconv import SemconvMode

from . import _names as n

__all__ = ["HttpServerMetrics", "pick"]


def pick(
    attributes: Mapping[str, AttributeValue], keys: Sequence[str]
) -> dict[str, AttributeValue]:
    """The subset of ``attributes`` named in ``keys`` (a metric's bounded attribute set)."""
    return {key: attributes[key] for key in keys if key in attributes}


class HttpServerMetrics:
    """``http.server.duration`` (old, ms), ``http.server.request.duration`` (stable, s) and
    ``http.server.active_requests``, each created only in the modes that emit it."""

    __slots__ = ("active_keys", "active_requests", "duration_ms", "duration_s")

    def __init__(self, meter: Meter, mode: SemconvMode) -> None:
        self.duration_ms: Optional[Histogram] = None
        self.duration_s: Optional[Histogram] = None
        if mode.old:
            self.duration_ms = meter.create_histogram(
                n.HTTP_SERVER_DURATION,
                unit="ms",
                description="Measures the duration of inbound HTTP requests.",
                explicit_bucket_boundaries_advisory=n.DURATION_BUCKETS_MS,
            )
        if mode.new:
            self.duration_s = meter.create_histogram(
                n.HTTP_SERVER_REQUEST_DURATION,
                unit="s",
                description="Duration of HTTP server requests.",
                explicit_bucket_boundaries_advisory=n.DURATION_BUCKETS_S,
            )
        self.active_requests: UpDownCounter = meter.create_up_down_counter(
            n.HTTP_SERVER_ACTIVE_REQUESTS,
            unit="{request}",
            description="Number of active HTTP server requests.",
        )
        keys: tuple[str, ...] = ()
        if mode.old:
            keys += n.SERVER_ACTIVE_ATTRS_OLD
        if mode.new:
            keys += n.SERVER_ACTIVE_ATTRS_NEW
        self.active_keys = keys

    def record_duration(
        self,
        elapsed_ns: int,
        attributes: Mapping[str, AttributeValue],
        route: Optional[str],
        context: Optional[Context],
    ) -> None:
        """Record one request's duration with the bounded attribute set of each mode.

        With a route, the old-mode histogram carries it as ``http.target`` (what upstream's Flask
        and Django record there; never the raw target), the stable one as ``http.route``.
        """
        if self.duration_ms is not None:
            old = pick(attributes, n.SERVER_DURATION_ATTRS_OLD)
            if route:
                old[n.HTTP_TARGET] = route
            self.duration_ms.record(max(round(elapsed_ns / 1e6), 0), old, context=context)
        if self.duration_s is not None:
            self.duration_s.record(
                max(elapsed_ns / 1e9, 0.0),
                pick(attributes, n.SERVER_DURATION_ATTRS_NEW),
                context=context,
            )
