"""One start-up summary, at DEBUG, of what instrumentarium did under ``opentelemetry-instrument``.

The agent goes through every ``opentelemetry_instrumentor`` entry point, then calls each
``opentelemetry_post_instrument`` entry point; ``log_startup_summary`` is ours. When the
``instrumentarium`` logger is enabled for DEBUG, or ``OTEL_LOG_LEVEL=debug``, it logs one record
with a line per instrumentarium entry point::

    instrumentarium start-up: 2 instrumented, 6 deferred, 1 disabled, 1 skipped
      requests         instrumented  requests 2.34.2
      redis            deferred      patched on first import of redis; redis 8.1.0
      urllib3          instrumented  urllib3 2.8.0
      urllib           instrumented  standard library (Python 3.12.8)
      ...
      grpc_server      disabled      listed in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS
      kafka            skipped       kafka-python 1.0 is outside the supported range kafka-...

States: ``instrumented`` (patched now: the library was already imported), ``deferred``
(instrumented, and the patches land when the library is first imported), ``disabled``
(``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``, ``*`` included), ``skipped`` (the library is missing
or outside the supported range: the agent's own check, the agent's reason), ``failed`` (no
dependency problem, yet not instrumented: loading or ``instrument()`` failed and the agent logged
it).

When another distribution's instrumentor under the same entry-point name (upstream's package for
the same library) was instrumented too, the line names it: every call is then traced twice, and
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` cannot pick one (it disables a name, so both).

Below DEBUG the entry point costs one level check and one environment lookup: no metadata is read.
Without a logging handler (the usual case that early: the application has not configured logging
yet), ``OTEL_LOG_LEVEL=debug`` writes the record to stderr in ``logging``'s basic format.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from importlib.metadata import Distribution, EntryPoint, PackageNotFoundError, version
from typing import Any, Final, Optional

from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

# The agent's own list, with each entry point's distribution on every Python (a backport on
# 3.9) and cached on recent releases, so the summary sees exactly the entry points it went through.
from opentelemetry.util._importlib_metadata import entry_points
from packaging.requirements import InvalidRequirement, Requirement

from instrumentarium.util.patching import PatchSet, active_patch_sets
from instrumentarium.util.safety import logger

__all__ = [
    "INSTRUMENTED",
    "DEFERRED",
    "DISABLED",
    "SKIPPED",
    "FAILED",
    "EntryPointStatus",
    "startup_summary",
    "format_summary",
    "log_startup_summary",
]

INSTRUMENTED: Final = "instrumented"
DEFERRED: Final = "deferred"
DISABLED: Final = "disabled"
SKIPPED: Final = "skipped"
FAILED: Final = "failed"
_STATES: Final = (INSTRUMENTED, DEFERRED, DISABLED, SKIPPED, FAILED)

_INSTRUMENTOR_GROUP: Final = "opentelemetry_instrumentor"
_OURS: Final = "instrumentarium."
_STANDARD_LIBRARY: Final = "standard library (Python {}.{}.{})".format(*sys.version_info[:3])
_DISABLED_VARIABLE: Final = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
_EXTRAS: Final = ({"extra": "instruments"}, {"extra": "instruments-any"})


class EntryPointStatus:
    """What became of one instrumentarium entry point at start-up.

    A plain class rather than a dataclass: this module is imported at every start-up, and a
    dataclass costs most of its import time.
    """

    __slots__ = ("also_by", "detail", "name", "state", "target")

    def __init__(
        self, name: str, target: str, state: str, detail: str, also_by: tuple[str, ...] = ()
    ) -> None:
        self.name = name  # the entry-point name, as OTEL_PYTHON_DISABLED_INSTRUMENTATIONS has it
        self.target = target  # "instrumentarium.redis:RedisInstrumentor"
        self.state = state  # one of INSTRUMENTED, DEFERRED, DISABLED, SKIPPED, FAILED
        self.detail = detail  # why, or what the patches wait for; installed library versions
        self.also_by = also_by  # others instrumented under the same entry-point name

    def __repr__(self) -> str:
        return f"EntryPointStatus({self.name!r}, {self.state!r}, {self.detail!r})"

    @property
    def doubled(self) -> bool:
        """Whether each call is traced twice: ours and another instrumentor are both active."""
        return self.state in (INSTRUMENTED, DEFERRED) and bool(self.also_by)


def log_startup_summary(**_: object) -> None:
    """The ``opentelemetry_post_instrument`` entry point: log the summary if DEBUG is wanted.

    Never raises: a failure is reported through the same route, at DEBUG.
    """
    forced = os.environ.get("OTEL_LOG_LEVEL", "").strip().lower() == "debug"
    if not forced and not logger.isEnabledFor(logging.DEBUG):
        return
    try:
        _emit(format_summary(startup_summary()), None)
    except Exception:
        _emit("instrumentarium start-up: the summary could not be made", sys.exc_info())


def _emit(text: str, exc_info: Any) -> None:
    record = logger.makeRecord(
        logger.name, logging.DEBUG, __file__, 0, "%s", (text,), exc_info, "log_startup_summary"
    )
    if logger.hasHandlers():
        logger.handle(record)  # the handlers' levels and filters still apply; the logger's not
        return
    # No handler anywhere: logging's last resort would drop a DEBUG record. Write this one.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    handler.handle(record)


def startup_summary() -> tuple[EntryPointStatus, ...]:
    """The state of every instrumentarium ``opentelemetry_instrumentor`` entry point, now.

    Meant to run right after the agent's instrumentation pass (as ``log_startup_summary`` does);
    reads entry points and distribution metadata, so it is not for a hot path.
    """
    every = list(entry_points(group=_INSTRUMENTOR_GROUP))
    disabled = _disabled_names()
    patch_sets = _patch_sets_by_package(active_patch_sets())
    statuses = []
    for entry_point in every:
        if not _is_ours(entry_point):
            continue
        others = tuple(
            _provider(other)
            for other in every
            if other.name == entry_point.name and not _is_ours(other) and _is_instrumented(other)
        )
        statuses.append(_status(entry_point, disabled, patch_sets, others))
    return tuple(statuses)


def format_summary(statuses: Iterable[EntryPointStatus]) -> str:
    """One header line with the count per state, then one line per entry point."""
    statuses = tuple(statuses)
    counts = [
        f"{sum(s.state == state for s in statuses)} {state}"
        for state in _STATES
        if any(s.state == state for s in statuses)
    ]
    lines = [f"instrumentarium start-up: {', '.join(counts) or 'no entry points found'}"]
    width = max((len(s.name) for s in statuses), default=0)
    for status in statuses:
        detail = status.detail
        if status.doubled:
            others = ", ".join(status.also_by)
            detail = _join(detail, f"also instrumented by {others}: each call is traced twice")
        lines.append(f"  {status.name:<{width}}  {status.state:<12}  {detail}".rstrip())
    return "\n".join(lines)


# --- one entry point ---------------------------------------------------------------------------


def _status(
    entry_point: EntryPoint,
    disabled: frozenset[str],
    patch_sets: dict[str, list[PatchSet]],
    others: tuple[str, ...],
) -> EntryPointStatus:
    def status(state: str, detail: str) -> EntryPointStatus:
        return EntryPointStatus(entry_point.name, entry_point.value, state, detail, others)

    dist: Optional[Distribution] = getattr(entry_point, "dist", None)
    if _is_instrumented(entry_point):  # asked first: older agents (0.49b0) ignore "*"
        # No library to install (logging, urllib): the standard library is what it patches.
        installed = ", ".join(_installed_libraries(dist)) or _STANDARD_LIBRARY
        sets = patch_sets.get(_package(entry_point.value.partition(":")[0]), [])
        waiting = [module for patch_set in sets for module in patch_set.waiting_for]
        if not waiting:
            return status(INSTRUMENTED, installed)
        when = f"patched on first import of {_importable_names(waiting)}"
        applied = any(patch_set.applied for patch_set in sets)
        return status(INSTRUMENTED if applied else DEFERRED, _join(when, installed))
    if "*" in disabled or entry_point.name in disabled:
        return status(DISABLED, f"listed in {_DISABLED_VARIABLE}")
    conflict = get_dist_dependency_conflicts(dist) if dist is not None else None
    if conflict is None:
        return status(FAILED, "loading or instrumenting it failed; the agent logged why")
    return status(SKIPPED, _conflict_reason(conflict))


def _is_instrumented(entry_point: EntryPoint) -> bool:
    """Whether the agent instrumented it; looks at loaded modules only, never imports."""
    module_name, _, attribute = entry_point.value.partition(":")
    owner: object = sys.modules.get(module_name.strip())
    for part in attribute.strip().split("."):
        owner = getattr(owner, part, None)
    instance = vars(owner).get("_instance") if isinstance(owner, type) else None
    return bool(getattr(instance, "is_instrumented_by_opentelemetry", False))


def _conflict_reason(conflict: Any) -> str:
    """The agent's verdict in a few words (attributes read defensively: they changed over
    releases, ``required_any`` / ``found_any`` came with the ``instruments-any`` extra)."""
    required = _without_marker(getattr(conflict, "required", None))
    found = getattr(conflict, "found", None)
    required_any = ", ".join(map(_without_marker, getattr(conflict, "required_any", None) or ()))
    found_any = ", ".join(getattr(conflict, "found_any", None) or ())
    if required and found:
        return f"{found} is outside the supported range {required}"
    if required:
        return f"not installed: {required}"
    if required_any and found_any:
        return f"{found_any} outside the supported ranges: any of {required_any}"
    if required_any:
        return f"not installed: any of {required_any}"
    return str(conflict)


def _without_marker(requirement: object) -> str:
    """``redis>=2.6; extra == "instruments"`` → ``redis >=2.6``: the extra says nothing here."""
    if requirement is None:
        return ""
    try:
        parsed = Requirement(str(requirement))
    except InvalidRequirement:
        return str(requirement)
    return f"{parsed.name} {parsed.specifier}".rstrip()


def _installed_libraries(dist: Optional[Distribution]) -> list[str]:
    """``"name version"`` of each installed library in the ``instruments`` extras of ``dist``."""
    found = []
    for line in (dist.requires if dist is not None else None) or ():
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is None or not any(marker.evaluate(extra) for extra in _EXTRAS):
            continue
        try:
            found.append(f"{requirement.name} {version(requirement.name)}")
        except PackageNotFoundError:
            continue
    return found


def _provider(entry_point: EntryPoint) -> str:
    dist: Optional[Distribution] = getattr(entry_point, "dist", None)
    if dist is None:
        return entry_point.value
    return f"{dist.metadata['Name']} {dist.version} ({entry_point.value})"


# --- helpers -----------------------------------------------------------------------------------


def _disabled_names() -> frozenset[str]:
    """The agent's reading of the variable: split on commas, each item stripped."""
    value = os.environ.get(_DISABLED_VARIABLE, "")
    return frozenset(item.strip() for item in value.split(",")) if value else frozenset()


def _is_ours(entry_point: EntryPoint) -> bool:
    return entry_point.value.strip().startswith(_OURS)


def _package(module: str) -> str:
    """``instrumentarium.redis._x`` → ``instrumentarium.redis``: one distribution's package."""
    return ".".join(module.split(".")[:2])


def _patch_sets_by_package(patch_sets: Iterable[PatchSet]) -> dict[str, list[PatchSet]]:
    """Active patch sets grouped by the instrumentarium package their wrappers come from.

    Entry points that share a package (the four gRPC ones) share its patch sets here: they
    patch the same library, so they wait for the same import.
    """
    grouped: dict[str, list[PatchSet]] = {}
    for patch_set in patch_sets:
        for patch in patch_set.patches:
            wrapper = getattr(patch.wrapper, "func", patch.wrapper)  # a functools.partial
            module = getattr(wrapper, "__module__", None)
            if isinstance(module, str) and module.startswith(_OURS):
                grouped.setdefault(_package(module), []).append(patch_set)
                break
    return grouped


def _importable_names(modules: Iterable[str]) -> str:
    """What the application has to import: the top-level package while it is not imported,
    else the submodules themselves (``redis``; ``django.core.handlers.base``)."""
    names: dict[str, None] = {}
    for module in modules:
        top = module.partition(".")[0]
        names[top if top not in sys.modules else module] = None
    return ", ".join(names)


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)
