"""Trace context in Kafka record headers: a list of ``(str key, bytes value)`` pairs.

Producing: the propagator writes into a plain dict, then ``with_context`` builds a *new* list for
``send()``: the caller's headers in their order, minus any header the propagator writes (compared
without case, so a ``traceparent`` the caller set is replaced, never duplicated), then the
propagator's fields. The caller's list or tuple is never mutated.

Consuming: ``HEADERS_GETTER`` reads the fields from a record's headers (first match wins, a
``None`` value or one that is not UTF-8 counts as absent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, Optional

from opentelemetry.propagators.textmap import Getter

__all__ = ["HEADERS_GETTER", "HeadersGetter", "with_context"]

Headers = Sequence[tuple[str, Optional[bytes]]]


class HeadersGetter(Getter[Headers]):
    """Reads propagation fields from a record's header pairs."""

    def get(self, carrier: Headers, key: str) -> Optional[list[str]]:
        if not carrier:
            return None
        for entry in carrier:
            try:
                name, value = entry
            except (TypeError, ValueError):
                continue
            if name == key and value is not None:
                try:
                    return [value.decode("utf-8") if isinstance(value, bytes) else str(value)]
                except UnicodeDecodeError:
                    return None
        return None

    def keys(self, carrier: Headers) -> list[str]:
        if not carrier:
            return []
        found = []
        for entry in carrier:
            try:
                name, _ = entry
            except (TypeError, ValueError):
                continue
            found.append(name)
        return found


HEADERS_GETTER: Final = HeadersGetter()


def with_context(headers: Optional[Iterable[Any]], fields: dict[str, str]) -> list[Any]:
    """A new header list: ``headers`` (any iterable of pairs, or None) without the entries the
    propagator writes, followed by ``fields`` encoded as UTF-8. Raises (TypeError, ValueError)
    when ``headers`` is not an iterable of pairs, so the caller can leave them to kafka-python."""
    result: list[Any] = []
    if headers:
        injected = {key.lower() for key in fields}
        for entry in headers:
            name, _ = entry  # a malformed entry raises: kafka-python reports it, not us
            if not (isinstance(name, str) and name.lower() in injected):
                result.append(entry)
    for key, value in fields.items():
        result.append((key, value.encode("utf-8")))
    return result
