"""Counters that cost a dict update per call, one per meter provider, scope and name.

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
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Callable, Final, Optional, TypeVar, Union, cast

from opentelemetry.metrics import (
    CallbackOptions,
    Counter,
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

__all__ = [
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
_SETS_KEPT: Final = 1000  # idle attribute sets reported at zero beyond this many are dropped
_fallback_noted = False


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
    are more than a thousand sets; then those already reported at zero are dropped.
    """

    __slots__ = ("__weakref__", "_counts", "_lock", "_sync", "name")

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
            entry = self._counts.get(key)
            if entry is None:
                self._counts[key] = [amount, dict(attributes), False]
            else:
                entry[0] += amount
                if sync is not None and not entry[0]:
                    del self._counts[key]  # the SDK keeps reporting it; only add_to_key needs it
        if sync is not None:
            sync.add(amount, attributes)

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

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
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
        try:
            made = _meters.setdefault(provider, {})
        except TypeError:  # a provider that cannot be weakly referenced: ask it every time
            made = {}
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
        try:
            made = _shared.setdefault(provider, {})
        except TypeError:  # a provider that cannot be weakly referenced: no sharing
            made = {}
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
