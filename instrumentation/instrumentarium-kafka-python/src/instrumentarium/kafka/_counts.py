"""Message counters that cost a dict update per call instead of an SDK measurement.

``messaging.client.sent.messages`` and ``messaging.client.consumed.messages`` are monotonic sums
per attribute set. A synchronous counter's ``add()`` makes the SDK clean, sort and hash the
attributes on every message; here the counts are kept in a dict (keyed by the attribute set) and
reported by an asynchronous counter when the SDK collects, which exports the same cumulative sums.
One ``MessageCounts`` serves every ``instrument()`` that shares a meter provider and scope: the
SDK keeps the first callback registered under an instrument name, so a second one would be lost.
(The same idea as ``instrumentarium.util.http.ActiveRequests``; a candidate for util.)
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation, get_meter
from opentelemetry.util.types import AttributeValue

__all__ = ["MessageCounts", "message_counts"]


class MessageCounts:
    """Cumulative counts per attribute set, observed by an asynchronous counter."""

    __slots__ = ("__weakref__", "_counts", "_lock")

    def __init__(self, meter: Any, name: str, description: str) -> None:
        self._lock = threading.Lock()
        self._counts: dict[frozenset[Any], list[Any]] = {}  # key -> [count, attributes]
        meter.create_observable_counter(
            name, callbacks=[self._observe], unit="{message}", description=description
        )

    def add(self, amount: int, attributes: Mapping[str, AttributeValue]) -> None:
        key = frozenset(attributes.items())
        with self._lock:
            entry = self._counts.get(key)
            if entry is None:
                self._counts[key] = [amount, dict(attributes)]
            else:
                entry[0] += amount

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(count, attributes) for count, attributes in self._counts.values()]


_shared: dict[tuple[Any, ...], tuple[Any, MessageCounts]] = {}
_shared_lock = threading.Lock()


def message_counts(
    name: str,
    description: str,
    scope: str,
    version: str,
    meter_provider: Optional[MeterProvider],
    schema_url: str,
) -> MessageCounts:
    """The ``MessageCounts`` named ``name`` of ``scope`` on ``meter_provider`` (None: global)."""
    key = (id(meter_provider), name, scope, version, schema_url)
    with _shared_lock:
        found = _shared.get(key)
        if found is not None:
            provider_ref, shared = found
            if provider_ref is None or provider_ref() is meter_provider:
                return shared
        meter = get_meter(scope, version, meter_provider, schema_url=schema_url)
        shared = MessageCounts(meter, name, description)
        ref = weakref.ref(meter_provider) if meter_provider is not None else None
        _shared[key] = (ref, shared)
        return shared
