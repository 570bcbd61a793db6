"""Metric helpers every instrumentor shares: histograms, the duration pair, cheap counters.

``histogram`` makes a histogram with advisory bucket boundaries, one per meter and name.
``DurationHistograms`` is the duration of one operation in the semconv modes that emit it: the
old histogram in milliseconds under its old name, the stable one in seconds under its stable
name, both recorded from one nanosecond duration.

**Counters that cost a dict update per call**, one per meter provider, scope and name.

instrumentarium's counters (``http.server.active_requests``, ``messaging.client.sent.messages``,
``messaging.client.consumed.messages``) are cumulative sums per attribute set. A synchronous
``Counter.add()`` makes the SDK clean, sort and hash the attributes on every call; an
``ObservedCounts`` keeps the sums in a dict, keyed by the attribute set, and an asynchronous
counter (or up-down counter) reports them when the SDK collects. What is exported is what the
synchronous instrument given the same ``add()`` calls would export.

OpenTelemetry SDK 1.28.0 cannot export asynchronous instruments: it samples an exemplar for every
observation, whatever the exemplar filter says, that exemplar has no span, and the OTLP encoder of
the same release raises on it (``'NoneType' object has no attribute 'to_bytes'``), which drops
the whole export. 1.28.1 fixed it. On 1.28.0 an ``ObservedCounts`` therefore reports through the
synchronous instrument of the same name, unit and description (``observed`` is False): the same
data, at the synchronous instrument's cost per call.

``shared_counts`` (and ``shared_instrument`` for subclasses) hands every caller on one meter
provider, scope, version, schema URL and instrument name the same object: the SDK keeps the first
callback registered under a name, so the counts of a second asynchronous instrument would never
be reported. Entries go away with their meter provider.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Callable, Final, Optional, TypeVar, Union, cast

from opentelemetry.context import Context
from opentelemetry.metrics import (
    CallbackOptions,
    Counter,
    Histogram,
    Meter,
    MeterProvider,
    Observation,
    UpDownCounter,
    get_meter,
    get_meter_provider,
)
from opentelemetry.metrics import _internal as _api_internal
from opentelemetry.util.types import AttributeValue
from opentelemetry.version import __version__ as _api_version

from instrumentarium.util.safety import logger
from instrumentarium.util.semconv import SemconvMode

__all__ = [
    "SDK_DEFAULT_BUCKETS_MS",
    "DURATION_BUCKETS_S",
    "histogram",
    "DurationHistograms",
    "ObservedCounts",
    "observables_export_correctly",
    "shared_counts",
    "shared_instrument",
    "shared_meter",
]

# The SDK releases whose asynchronous instruments break the OTLP export (see the module
# docstring). opentelemetry-sdk requires opentelemetry-api of exactly its own version, so the
# API's version names the SDK's without importing the SDK, which is optional for us.
_BROKEN_OBSERVABLES: Final = frozenset({"1.28.0"})
_advisory_noted = False
_SETS_KEPT: Final = 1000  # idle attribute sets reported at zero beyond this many are dropped
_fallback_noted = False


# The SDK's default histogram boundaries, which the old (ms) duration histograms keep.
SDK_DEFAULT_BUCKETS_MS: Final = (
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
    7500.0, 10000.0,
)  # fmt: skip
# The stable conventions' advisory boundaries for a duration in seconds (HTTP, RPC).
DURATION_BUCKETS_S: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

# --- histograms ---------------------------------------------------------------------------------

# The histograms made per meter: a second instrumentor (grpc client and aio client, two Flask
# apps) asking for the same name gets the same instrument, and older SDKs do not warn about a
# duplicate registration.
_histograms: weakref.WeakKeyDictionary[Meter, dict[tuple[Any, ...], Histogram]] = (
    weakref.WeakKeyDictionary()
)
_histograms_lock = threading.Lock()


_K = TypeVar("_K")
_V = TypeVar("_V")


def _made_for(
    registry: weakref.WeakKeyDictionary[_K, dict[tuple[Any, ...], _V]], owner: _K
) -> dict[tuple[Any, ...], _V]:
    """What ``owner`` (a meter, a meter provider) has made so far, kept while it lives; a
    fresh dict, so no sharing, for an owner that cannot be weakly referenced."""
    try:
        return registry.setdefault(owner, {})
    except TypeError:
        return {}


def histogram(
    meter: Meter, name: str, *, unit: str, description: str, buckets: Sequence[float]
) -> Histogram:
    """A histogram with advisory bucket boundaries, one per meter and name.

    SDKs older than 1.30 do not take the advisory and give the SDK's default buckets; that is
    said once, at INFO (an expected condition with a supported SDK, not a problem to warn about).
    """
    key = (name, unit, description, tuple(buckets))
    with _histograms_lock:
        made = _made_for(_histograms, meter)
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
    if tuple(buckets) != SDK_DEFAULT_BUCKETS_MS and not _advisory_noted:
        _advisory_noted = True
        logger.info(
            "this OpenTelemetry SDK (< 1.30) ignores advisory bucket boundaries: instrumentarium's"
            " histograms (%s, ...) get its default buckets; upgrade the SDK or configure Views",
            name,
        )
    return meter.create_histogram(name, unit=unit, description=description)


class DurationHistograms:
    """One operation's duration in the modes that emit it (see the module docstring).

    ``mode.old`` creates ``old_name`` in ``ms``, ``mode.new`` creates ``new_name`` in ``s``;
    ``mode`` None creates the stable one only, in every mode (the database and messaging
    conventions, whose old form recorded no duration). ``whole_ms`` records the old one in whole
    milliseconds (HTTP's), else as a float (RPC's). Either instrument is None when not emitted.
    """

    __slots__ = ("ms", "s", "whole_ms")

    def __init__(
        self,
        meter: Meter,
        mode: Optional[SemconvMode],
        *,
        new_name: str,
        new_description: str,
        old_name: str = "",
        old_description: str = "",
        buckets_s: Sequence[float] = DURATION_BUCKETS_S,
        buckets_ms: Sequence[float] = SDK_DEFAULT_BUCKETS_MS,
        whole_ms: bool = False,
    ) -> None:
        self.whole_ms = whole_ms
        self.ms: Optional[Histogram] = None
        self.s: Optional[Histogram] = None
        if mode is not None and mode.old and old_name:
            self.ms = histogram(
                meter, old_name, unit="ms", description=old_description, buckets=buckets_ms
            )
        if mode is None or mode.new:
            self.s = histogram(
                meter, new_name, unit="s", description=new_description, buckets=buckets_s
            )

    def record(
        self,
        elapsed_ns: int,
        old: Mapping[str, AttributeValue],
        new: Mapping[str, AttributeValue],
        context: Optional[Context] = None,
    ) -> None:
        """Record ``elapsed_ns`` with the old histogram's attributes ``old`` and the stable
        one's ``new`` (the same mapping when both modes share one set)."""
        ms = self.ms
        if ms is not None:
            value = max(round(elapsed_ns / 1e6), 0) if self.whole_ms else elapsed_ns / 1e6
            ms.record(value, old, context=context)
        s = self.s
        if s is not None:
            s.record(elapsed_ns / 1e9, new, context=context)


# --- counts -------------------------------------------------------------------------------------


def observables_export_correctly() -> bool:
    """Whether this OpenTelemetry release exports asynchronous instruments (all but 1.28.0)."""
    return _api_version not in _BROKEN_OBSERVABLES


def _note_fallback(name: str) -> None:
    global _fallback_noted
    if not _fallback_noted:
        _fallback_noted = True
        logger.info(
            "OpenTelemetry SDK %s cannot export asynchronous instruments: instrumentarium's"
            " counters (%s, ...) use synchronous ones; upgrading the SDK makes them cheaper",
            _api_version,
            name,
        )


class ObservedCounts:
    """Cumulative sums per attribute set, reported when the SDK collects (see the module
    docstring).

    ``monotonic`` picks a counter (the sums only grow) or an up-down counter. ``observable``:
    None chooses by the SDK (``observables_export_correctly()``); True or False forces the
    asynchronous or the synchronous instrument.

    An idle attribute set keeps reporting zero, as a synchronous instrument's would, unless there
    are more than a thousand sets; then those already reported at zero are dropped when the SDK
    collects, and every set at zero when a new one comes in: with no ``MeterProvider`` (a
    traces-only service) nothing ever collects, and the sets must not grow without bound.
    """

    __slots__ = ("__weakref__", "_counts", "_lock", "_prune_at", "_sync", "name")

    def __init__(
        self,
        meter: Meter,
        name: str,
        *,
        unit: str,
        description: str,
        monotonic: bool,
        observable: Optional[bool] = None,
    ) -> None:
        self.name = name
        self._lock = threading.Lock()
        # key -> [count, attributes, reported at zero once]
        self._counts: dict[Hashable, list[Any]] = {}
        self._prune_at = _SETS_KEPT  # prune the sets at zero when a new one would pass this
        self._sync: Optional[Union[Counter, UpDownCounter]] = None
        if observable is None:
            observable = observables_export_correctly()
            if not observable:
                _note_fallback(name)
        if not observable:
            create_sync = meter.create_counter if monotonic else meter.create_up_down_counter
            self._sync = create_sync(name, unit=unit, description=description)
        else:
            create = (
                meter.create_observable_counter
                if monotonic
                else meter.create_observable_up_down_counter
            )
            create(name, callbacks=[self._observe], unit=unit, description=description)

    @property
    def observed(self) -> bool:
        """True when an asynchronous instrument reports the counts, False on the fallback."""
        return self._sync is None

    def add(
        self,
        amount: int,
        attributes: Mapping[str, AttributeValue],
        key: Optional[Hashable] = None,
    ) -> None:
        """Add ``amount`` to the sum of ``attributes``.

        ``key`` is a hashable form of the attributes that a caller keeps to save building one
        per call (``tuple(attributes.items())``, say); the same set must always come with the same
        key. The default is ``frozenset(attributes.items())``.
        """
        if key is None:
            key = frozenset(attributes.items())
        sync = self._sync
        with self._lock:
            counts = self._counts
            entry = counts.get(key)
            if entry is None:
                if len(counts) >= self._prune_at:
                    self._prune()
                counts[key] = [amount, dict(attributes), False]
            else:
                entry[0] += amount
                if sync is not None and not entry[0]:
                    del self._counts[key]  # the SDK keeps reporting it; only add_to_key needs it
        if sync is not None:
            sync.add(amount, attributes)

    def _prune(self) -> None:
        """Drop every set at zero (under the lock); the next prune waits until the sets in use
        have doubled, so many requests in flight do not make each new set pay for a scan."""
        counts = self._counts
        for key in [key for key, entry in counts.items() if not entry[0]]:
            del counts[key]
        self._prune_at = max(_SETS_KEPT, 2 * len(counts))

    def add_to_key(self, key: Hashable, amount: int) -> None:
        """Add ``amount`` to the set counted under ``key``; nothing if ``key`` was never given
        to ``add`` (or, with the synchronous fallback, if its sum is back at zero)."""
        with self._lock:
            entry = self._counts.get(key)
            if entry is None:
                return
            entry[0] += amount
            sync = self._sync
            if sync is None:
                return
            attributes = entry[1]
            if not entry[0]:
                del self._counts[key]
        sync.add(amount, attributes)

    def value(
        self, attributes: Mapping[str, AttributeValue], key: Optional[Hashable] = None
    ) -> int:
        """The current sum for ``attributes`` (``key`` as for ``add``), for tests and
        debugging."""
        if key is None:
            key = frozenset(attributes.items())
        with self._lock:
            entry = self._counts.get(key)
            return int(entry[0]) if entry is not None else 0

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        observations = []
        with self._lock:
            for key, entry in list(self._counts.items()):
                count, attributes, zero_reported = entry
                observations.append(Observation(count, attributes))
                if count:
                    entry[2] = False
                elif zero_reported and len(self._counts) > _SETS_KEPT:
                    del self._counts[key]  # idle and one of too many: stop reporting it
                else:
                    entry[2] = True
        return observations


# meter provider -> (scope, version, schema URL) -> meter
_meters: weakref.WeakKeyDictionary[MeterProvider, dict[tuple[str, str, Optional[str]], Meter]] = (
    weakref.WeakKeyDictionary()
)
_meters_lock = threading.Lock()


def shared_meter(
    name: str,
    version: str = "",
    meter_provider: Optional[MeterProvider] = None,
    schema_url: Optional[str] = None,
) -> Meter:
    """``get_meter``, asked once per meter provider (None: the global one now) and scope.

    Without a ``MeterProvider`` set, the API's provider keeps every meter it hands out, and every
    instrument made on it, to bind them when one is set: a meter asked for at every
    ``instrument()`` was kept for good, with its histograms. The SDK gives one meter per scope
    anyway, so the answer is the same.
    """
    provider = meter_provider if meter_provider is not None else get_meter_provider()
    key = (name, version, schema_url)
    with _meters_lock:
        made = _made_for(_meters, provider)  # a fresh dict: asked every time
        meter = made.get(key)
        if meter is None:
            meter = made[key] = get_meter(name, version, provider, schema_url=schema_url)
        return meter


_C = TypeVar("_C", bound=ObservedCounts)

# meter provider -> (scope, version, schema URL, name) -> counts. "The global provider" is the
# one set when the counts are asked for: one set later (a test suite's next test) gets its own.
_shared: weakref.WeakKeyDictionary[MeterProvider, dict[tuple[str, ...], ObservedCounts]] = (
    weakref.WeakKeyDictionary()
)
_shared_lock = threading.Lock()


def shared_instrument(
    meter_provider: Optional[MeterProvider],
    scope: str,
    version: str,
    schema_url: str,
    name: str,
    make: Callable[[Meter], _C],
) -> _C:
    """The counts named ``name`` of ``scope`` on ``meter_provider`` (None: the global one at this
    call), made by ``make(meter)`` the first time. Callers asking for one name must make one
    type."""
    key = (scope, version, schema_url, name)
    provider = meter_provider if meter_provider is not None else get_meter_provider()
    with _shared_lock:
        made = _made_for(_shared, provider)
        found = made.get(key)
        if found is None and meter_provider is None:
            found = _made_before_the_global_was_set(provider, key)
        if found is None:
            found = make(shared_meter(scope, version, provider, schema_url=schema_url))
        made[key] = found
        return cast("_C", found)


def _made_before_the_global_was_set(
    provider: MeterProvider, key: tuple[str, ...]
) -> Optional[ObservedCounts]:
    """Counts made while no global provider was set, on the API's proxy, which moved them onto
    ``provider`` when it was set: they report there already, and a second instrument of that
    name would never be (the SDK keeps the first callback). None if there are none, or if the
    proxy was replaced since (a test helper resetting the globals): those moved nowhere."""
    proxy = getattr(_api_internal, "_PROXY_METER_PROVIDER", None)
    if proxy is None or proxy is provider:
        return None
    try:
        return _shared.get(proxy, {}).get(key)
    except TypeError:
        return None


def shared_counts(
    name: str,
    *,
    unit: str,
    description: str,
    monotonic: bool,
    scope: str,
    version: str,
    meter_provider: Optional[MeterProvider],
    schema_url: str,
) -> ObservedCounts:
    """The ``ObservedCounts`` named ``name`` of ``scope`` on ``meter_provider`` (None: the
    global one), created with ``unit``, ``description`` and ``monotonic`` the first time."""

    def make(meter: Meter) -> ObservedCounts:
        return ObservedCounts(meter, name, unit=unit, description=description, monotonic=monotonic)

    return shared_instrument(meter_provider, scope, version, schema_url, name, make)
