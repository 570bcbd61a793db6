"""HTTP instruments, created once per instrumentor in the mode it emits."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Histogram, Meter, MeterProvider, Observation
from opentelemetry.metrics import get_meter as _get_meter
from opentelemetry.util.types import AttributeValue

from instrumentarium.util.instrumentation import logger
from instrumentarium.util.semconv import SemconvMode

from . import _names as n

__all__ = ["ActiveRequests", "HttpServerMetrics", "active_requests", "histogram", "pick"]


def pick(
    attributes: Mapping[str, AttributeValue], keys: Sequence[str]
) -> dict[str, AttributeValue]:
    """The subset of ``attributes`` named in ``keys`` (a metric's bounded attribute set)."""
    return {key: attributes[key] for key in keys if key in attributes}


# The histograms made per meter: a second instrumentor (grpc client and aio client, two Flask
# apps) asking for the same name gets the same instrument, and older SDKs do not warn about a
# duplicate registration.
_histograms: weakref.WeakKeyDictionary[Meter, dict[tuple[Any, ...], Histogram]] = (
    weakref.WeakKeyDictionary()
)
_histograms_lock = threading.Lock()
_advisory_noted = False


def histogram(
    meter: Meter, name: str, *, unit: str, description: str, buckets: Sequence[float]
) -> Histogram:
    """A histogram with advisory bucket boundaries, one per meter and name.

    SDKs older than 1.29 do not take the advisory and give the SDK's default buckets; that is
    said once, at INFO (an expected condition with a supported SDK, not a problem to warn about).
    """
    key = (name, unit, description, tuple(buckets))
    with _histograms_lock:
        try:
            made = _histograms.setdefault(meter, {})
        except TypeError:  # a meter that cannot be weakly referenced: no sharing
            made = {}
        found = made.get(key)
        if found is None:
            found = made[key] = _create_histogram(meter, name, unit, description, buckets)
    return found


def _create_histogram(
    meter: Meter, name: str, unit: str, description: str, buckets: Sequence[float]
) -> Histogram:
    global _advisory_noted
    try:
        return meter.create_histogram(
            name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
        )
    except TypeError:
        pass
    if tuple(buckets) != n.DURATION_BUCKETS_MS and not _advisory_noted:  # ms: the SDK defaults
        _advisory_noted = True
        logger.info(
            "this OpenTelemetry SDK (< 1.29) ignores advisory bucket boundaries: instrumentarium's"
            " histograms (%s, ...) get its default buckets; upgrade the SDK or configure Views",
            name,
        )
    return meter.create_histogram(name, unit=unit, description=description)


class ActiveRequests:
    """``http.server.active_requests``: in-flight counts per attribute set, reported by an
    asynchronous up-down counter when the SDK collects.

    The exported data is what an ``UpDownCounter`` given +1 and -1 per request produces (a
    non-monotonic sum per attribute set), but a request costs two dict updates under a lock
    instead of two SDK measurements, each of which cleans, sorts and hashes its attributes.
    Idle attribute sets keep reporting zero, as an ``UpDownCounter`` would, unless there are more
    than a thousand of them; then those already reported at zero are dropped.

    One instance serves every instrumented app that shares a meter provider and scope: the SDK
    keeps the first callback registered under an instrument name, so a second one would be lost.
    """

    __slots__ = ("__weakref__", "_counts", "_lock")

    def __init__(self, meter: Meter) -> None:
        self._lock = threading.Lock()
        # key -> [count, attributes, reported at zero once]
        self._counts: dict[tuple[Any, ...], list[Any]] = {}
        meter.create_observable_up_down_counter(
            n.HTTP_SERVER_ACTIVE_REQUESTS,
            callbacks=[self._observe],
            unit="{request}",
            description="Number of active HTTP server requests.",
        )

    def increment(self, key: tuple[Any, ...], attributes: Mapping[str, AttributeValue]) -> None:
        """Count one more request with ``attributes``, identified by ``key`` (a hashable form of
        them, e.g. ``tuple(attributes.items())``, which ``decrement`` takes back)."""
        with self._lock:
            entry = self._counts.get(key)
            if entry is None:
                self._counts[key] = [1, attributes, False]
            else:
                entry[0] += 1

    def decrement(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            entry = self._counts.get(key)
            if entry is not None:
                entry[0] -= 1

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        observations = []
        with self._lock:
            for key, entry in list(self._counts.items()):
                count, attributes, zero_reported = entry
                observations.append(Observation(count, attributes))
                if count:
                    entry[2] = False
                elif zero_reported and len(self._counts) > _ACTIVE_SETS_KEPT:
                    del self._counts[key]  # idle and one of too many: stop reporting it
                else:
                    entry[2] = True
        return observations

    def value(self, attributes: Mapping[str, AttributeValue]) -> int:
        """The current count for ``attributes`` (for tests and debugging)."""
        with self._lock:
            entry = self._counts.get(tuple(attributes.items()))
            return int(entry[0]) if entry is not None else 0


_ACTIVE_SETS_KEPT = 1000
_shared_active: dict[tuple[Any, ...], tuple[Any, ActiveRequests]] = {}
_shared_lock = threading.Lock()


def active_requests(
    scope: str, version: str, meter_provider: Optional[MeterProvider], schema_url: str
) -> ActiveRequests:
    """The ``ActiveRequests`` of ``scope`` on ``meter_provider`` (None: the global provider)."""
    key = (id(meter_provider), scope, version, schema_url)
    with _shared_lock:
        found = _shared_active.get(key)
        if found is not None:
            provider_ref, shared = found
            if provider_ref is None or provider_ref() is meter_provider:
                return shared
        meter = _get_meter(scope, version, meter_provider, schema_url=schema_url)
        shared = ActiveRequests(meter)
        ref = weakref.ref(meter_provider) if meter_provider is not None else None
        _shared_active[key] = (ref, shared)
        return shared


class HttpServerMetrics:
    """``http.server.duration`` (old, ms), ``http.server.request.duration`` (stable, s) and
    ``http.server.active_requests``, each created only in the modes that emit it."""

    __slots__ = ("active_keys", "active_requests", "duration_ms", "duration_s")

    def __init__(
        self,
        meter: Meter,
        mode: SemconvMode,
        active: Optional[ActiveRequests] = None,
    ) -> None:
        self.duration_ms: Optional[Histogram] = None
        self.duration_s: Optional[Histogram] = None
        if mode.old:
            self.duration_ms = histogram(
                meter,
                n.HTTP_SERVER_DURATION,
                unit="ms",
                description="Measures the duration of inbound HTTP requests.",
                buckets=n.DURATION_BUCKETS_MS,
            )
        if mode.new:
            self.duration_s = histogram(
                meter,
                n.HTTP_SERVER_REQUEST_DURATION,
                unit="s",
                description="Duration of HTTP server requests.",
                buckets=n.DURATION_BUCKETS_S,
            )
        self.active_requests = active if active is not None else ActiveRequests(meter)
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
            new = pick(attributes, n.SERVER_DURATION_ATTRS_NEW)
            if route:
                new[n.HTTP_ROUTE] = route
            self.duration_s.record(max(elapsed_ns / 1e9, 0.0), new, context=context)
