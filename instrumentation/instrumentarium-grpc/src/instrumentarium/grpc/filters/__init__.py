"""Filters that decide which RPCs are traced: a filter returning True means *trace this call*.

The predicates and combinators upstream offers, with the same names::

    from instrumentarium.grpc import GrpcInstrumentorClient, filters

    GrpcInstrumentorClient(filter_=filters.negate(filters.health_check())).instrument()

A filter receives an object with the full method name, ``/package.Service/Method``: a
``grpc.HandlerCallDetails`` (server), a ``grpc.aio.ClientCallDetails`` (aio client, where the
name may be bytes), or any object with ``method`` or ``full_method``. instrumentarium calls it
once per method name and remembers the answer, so a filter must depend on the name only (every
predicate here does).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

__all__ = [
    "Filter",
    "Condition",
    "CallDetailsT",
    "all_of",
    "any_of",
    "negate",
    "method_name",
    "method_prefix",
    "full_method_name",
    "service_name",
    "service_prefix",
    "health_check",
]

Filter = Callable[[Any], bool]
# Upstream's names for the same type: ``Condition[grpc.HandlerCallDetails]`` annotates a server
# filter. The type variable is not constrained to grpc's classes: this module imports no grpc.
CallDetailsT = TypeVar("CallDetailsT")
Condition = Callable[[CallDetailsT], bool]


def full_method_of(details: object) -> str:
    """The ``/package.Service/Method`` name carried by ``details`` (``""`` if there is none)."""
    method = getattr(details, "method", None)
    if method is None:
        method = getattr(details, "full_method", None)
    if isinstance(method, bytes):  # grpc.aio passes bytes on some versions
        return method.decode("utf-8", "replace")
    return method if isinstance(method, str) else ""


def split_method(full_method: str) -> tuple[str, str]:
    """``/package.Service/Method`` -> (``package.Service``, ``Method``); no slash: ("", name)."""
    service, _, method = full_method.rpartition("/")
    return service.lstrip("/"), method


def all_of(*filters: Filter) -> Filter:
    """True when every filter is (and for no filter at all)."""

    def check(details: Any) -> bool:
        return all(f(details) for f in filters)

    return check


def any_of(*filters: Filter) -> Filter:
    """True when at least one filter is."""

    def check(details: Any) -> bool:
        return any(f(details) for f in filters)

    return check


def negate(flt: Filter) -> Filter:
    """True when ``flt`` is not."""

    def check(details: Any) -> bool:
        return not flt(details)

    return check


def method_name(name: str) -> Filter:
    """The method (the part after the last ``/``) is ``name``."""
    return lambda details: split_method(full_method_of(details))[1] == name


def method_prefix(prefix: str) -> Filter:
    """The method starts with ``prefix``."""
    return lambda details: split_method(full_method_of(details))[1].startswith(prefix)


def full_method_name(name: str) -> Filter:
    """The full method is ``name``, e.g. ``/package.Service/Method``."""
    return lambda details: full_method_of(details) == name


def service_name(name: str) -> Filter:
    """The service (``package.Service``) is ``name``."""
    return lambda details: split_method(full_method_of(details))[0] == name


def service_prefix(prefix: str) -> Filter:
    """The service starts with ``prefix``."""
    return lambda details: split_method(full_method_of(details))[0].startswith(prefix)


def health_check() -> Filter:
    """The call is to the standard health service, ``grpc.health.v1.Health``."""
    return service_prefix("grpc.health.v1.Health")
