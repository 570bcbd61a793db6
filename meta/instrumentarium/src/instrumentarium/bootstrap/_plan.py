"""What to install: the installed libraries matched against each instrumentor's supported range.

The plan is built from installed distribution metadata only (``importlib.metadata``); nothing is
imported. For every instrumentor of the generated map (``_libraries.py``) whose library is
installed, the plan holds either a ``Proposal`` (install ``instrumentarium-<x>==<version>``) or a
``Skip`` with its reason::

    out-of-range        the library's version is outside the instrumentor's supported range
    already-installed   our instrumentor is installed at this version already
    upstream-installed  another distribution registers the same ``opentelemetry_instrumentor``
                        entry point (upstream's instrumentor): both would trace every call
    dependency-only     the library is there only because instrumented libraries or OpenTelemetry
                        packages require it (urllib3 under requests, whose instrumentor already
                        covers its calls); ``--include-dependencies`` or ``--only`` keeps it
    disabled            every entry point is listed in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``
    excluded            left out by ``--only`` / ``--exclude``

A library that is not installed gets neither: the plan only talks about what is there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Final, Optional

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ._libraries import INSTRUMENTORS
from .version import __version__

__all__ = [
    "DISABLED_ENV",
    "PREFIX",
    "Environment",
    "Instrumentor",
    "Plan",
    "Proposal",
    "Skip",
    "UnknownNameError",
    "instrumentors",
    "make_plan",
]

PREFIX: Final = "instrumentarium-"
DISABLED_ENV: Final = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
# The "library" of an instrumentor that requires none (upstream's bootstrap installs those, its
# default instrumentations, everywhere).
STANDARD_LIBRARY: Final = "python-standard-library"
ENTRY_POINT_GROUP: Final = "opentelemetry_instrumentor"


@dataclass(frozen=True)
class Instrumentor:
    """One instrumentarium distribution: what it instruments and its entry-point names."""

    distribution: str
    requirements: tuple[Requirement, ...]
    entry_points: tuple[str, ...]

    @property
    def library(self) -> str:
        """The name of the (first) instrumented library, as its requirement spells it;
        ``STANDARD_LIBRARY`` for an instrumentor of the standard library (logging, urllib)."""
        return self.requirements[0].name if self.requirements else STANDARD_LIBRARY

    @property
    def of_standard_library(self) -> bool:
        """It instruments a module of the standard library: always there, always proposed."""
        return not self.requirements

    @property
    def requirement(self) -> str:
        """The requirement line that installs this instrumentor at the bootstrap's version."""
        return f"{self.distribution}=={__version__}"

    def names(self) -> set[str]:
        """Every name ``--only``/``--exclude`` accept for it (canonical form)."""
        short = self.distribution[len(PREFIX) :]
        return {
            str(canonicalize_name(name))
            for name in (
                self.distribution,
                short,
                *self.entry_points,
                *(r.name for r in self.requirements),
            )
        }


def instrumentors() -> tuple[Instrumentor, ...]:
    """The generated map, parsed."""
    return tuple(
        Instrumentor(name, tuple(Requirement(r) for r in requirements), entry_points)
        for name, requirements, entry_points in INSTRUMENTORS
    )


@dataclass(frozen=True)
class Environment:
    """The installed distributions (canonical name -> (name, version)) and who registers which
    ``opentelemetry_instrumentor`` entry point name, read once from the metadata on ``path``."""

    versions: dict[str, tuple[str, str]]
    entry_point_owners: dict[str, list[str]]
    dependents: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Optional[Sequence[str]] = None) -> Environment:
        """The environment of this interpreter (``sys.path``), or of the directories ``path``."""
        versions: dict[str, tuple[str, str]] = {}
        owners: dict[str, list[str]] = {}
        dependents: dict[str, set[str]] = {}
        dists = (
            metadata.distributions() if path is None else metadata.distributions(path=list(path))
        )
        for dist in dists:
            name = dist.metadata["Name"]
            if not name:
                continue
            key = canonicalize_name(name)
            if key in versions:  # shadowed by an earlier entry of the path, as imports would be
                continue
            versions[key] = (name, dist.version)
            for entry_point in dist.entry_points:
                if entry_point.group == ENTRY_POINT_GROUP:
                    owners.setdefault(entry_point.name, []).append(name)
            for line in dist.requires or ():
                required = _required_name(line)
                if required is not None:
                    dependents.setdefault(required, set()).add(key)
        return cls(versions, owners, dependents)

    def version(self, name: str) -> Optional[str]:
        found = self.versions.get(canonicalize_name(name))
        return found[1] if found else None

    def display(self, name: str) -> str:
        """``name`` as its distribution spells it, with its version (``Flask 3.1.2``)."""
        found = self.versions.get(canonicalize_name(name))
        return f"{found[0]} {found[1]}" if found else name


def _required_name(line: str) -> Optional[str]:
    """The canonical name a ``Requires-Dist`` line always requires; None when it is behind an
    extra (we cannot tell whether it was asked for) or a marker false here."""
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return None
    marker = requirement.marker
    if marker is not None:
        if "extra" in str(marker):
            return None
        if not marker.evaluate():
            return None
    return canonicalize_name(requirement.name)


@dataclass(frozen=True)
class Proposal:
    """Install ``requirement`` for ``library`` (installed at ``library_version``)."""

    distribution: str
    requirement: str
    library: str
    library_version: str
    entry_points: tuple[str, ...]
    reason: str
    upgrade_from: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "distribution": self.distribution,
            "requirement": self.requirement,
            "library": self.library,
            "library_version": self.library_version,
            "entry_points": list(self.entry_points),
            "reason": self.reason,
            "upgrade_from": self.upgrade_from,
        }


@dataclass(frozen=True)
class Skip:
    """``distribution`` is not proposed although ``library`` is installed, because ``code``."""

    distribution: str
    library: str
    library_version: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "distribution": self.distribution,
            "library": self.library,
            "library_version": self.library_version,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True)
class Plan:
    proposals: tuple[Proposal, ...]
    skipped: tuple[Skip, ...]
    version: str = field(default=__version__)

    @property
    def requirements(self) -> list[str]:
        return [p.requirement for p in self.proposals]

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "requirements": self.requirements,
            "proposals": [p.as_dict() for p in self.proposals],
            "skipped": [s.as_dict() for s in self.skipped],
        }


class UnknownNameError(ValueError):
    """A name given to ``--only``/``--exclude`` matches no instrumentor."""


def _selector(
    known: Iterable[Instrumentor], only: Sequence[str], exclude: Sequence[str]
) -> tuple[set[str], set[str]]:
    every = set().union(*(i.names() for i in known))
    wanted = {str(canonicalize_name(n)) for n in only}
    unwanted = {str(canonicalize_name(n)) for n in exclude}
    unknown = sorted((wanted | unwanted) - every)
    if unknown:
        raise UnknownNameError(
            f"unknown instrumentor or library: {', '.join(unknown)}"
            f" (known: {', '.join(sorted(every))})"
        )
    return wanted, unwanted


def _in_range(requirement: Requirement, version: str) -> bool:
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return requirement.specifier.contains(parsed, prereleases=True)


def _disabled() -> set[str]:
    value = os.environ.get(DISABLED_ENV, "")
    return {item.strip() for item in value.split(",") if item.strip()}


def make_plan(
    env: Environment,
    *,
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
    known: Optional[Sequence[Instrumentor]] = None,
    include_dependencies: bool = False,
) -> Plan:
    """Match every instrumentor against ``env``; raises ``UnknownNameError`` for a bad name."""
    known = instrumentors() if known is None else known
    wanted, unwanted = _selector(known, only, exclude)
    disabled = _disabled()
    # Libraries whose calls an instrumentor covers: installed inside its range.
    covered = {
        canonicalize_name(i.library)
        for i in known
        if not i.of_standard_library
        and all((v := env.version(r.name)) is not None and _in_range(r, v) for r in i.requirements)
    }
    proposals: list[Proposal] = []
    skipped: list[Skip] = []
    for instrumentor in known:
        applicable = [
            r for r in instrumentor.requirements if r.marker is None or r.marker.evaluate()
        ]
        found = [(r, env.version(r.name)) for r in applicable]
        standard = instrumentor.of_standard_library
        if not standard and (not found or any(version is None for _, version in found)):
            continue  # the library is not installed: nothing to say
        library = instrumentor.library
        library_version = (found[0][1] or "") if found else ""
        library_display = (
            f"the standard library's {', '.join(instrumentor.entry_points)}"
            if standard
            else env.display(library)
        )

        def skip(
            code: str,
            message: str,
            instrumentor: Instrumentor = instrumentor,
            library: str = library,
            library_version: str = library_version,
        ) -> None:
            skipped.append(Skip(instrumentor.distribution, library, library_version, code, message))

        names = instrumentor.names()
        if (wanted and not names & wanted) or names & unwanted:
            skip("excluded", f"{library_display}: {instrumentor.distribution} left out on request")
            continue
        if "*" in disabled or (
            instrumentor.entry_points and set(instrumentor.entry_points) <= disabled
        ):
            skip(
                "disabled",
                f"{library_display}: {DISABLED_ENV} disables"
                f" {', '.join(instrumentor.entry_points)}",
            )
            continue
        outside = [(r, v) for r, v in found if v is not None and not _in_range(r, v)]
        if outside:
            requirement = outside[0][0]
            skip(
                "out-of-range",
                f"{env.display(requirement.name)} is outside the range"
                f" {instrumentor.distribution} supports ({requirement})",
            )
            continue
        rivals = sorted(
            {
                owner
                for name in instrumentor.entry_points
                for owner in env.entry_point_owners.get(name, [])
                if canonicalize_name(owner) != canonicalize_name(instrumentor.distribution)
            }
        )
        if rivals:
            skip(
                "upstream-installed",
                f"{library_display}: {', '.join(env.display(r) for r in rivals)} instruments it"
                f" already (entry point {', '.join(instrumentor.entry_points)}); with"
                f" {instrumentor.distribution} too, every call would be traced twice:"
                f" uninstall {' '.join(rivals)} first",
            )
            continue
        dependents = set() if standard else env.dependents.get(canonicalize_name(library), set())
        if (
            dependents
            and not include_dependencies
            and not names & wanted
            and all(d in covered or d.startswith(("opentelemetry-", PREFIX)) for d in dependents)
        ):
            skip(
                "dependency-only",
                f"{library_display} is installed only as a dependency of"
                f" {', '.join(env.display(d) for d in sorted(dependents))}, whose calls are"
                f" traced already; --include-dependencies or --only {library} adds"
                f" {instrumentor.distribution}",
            )
            continue
        ours = env.version(instrumentor.distribution)
        if ours == __version__:
            skip(
                "already-installed",
                f"{library_display}: {instrumentor.distribution} {ours} is installed already",
            )
            continue
        proposals.append(
            Proposal(
                distribution=instrumentor.distribution,
                requirement=instrumentor.requirement,
                library=library,
                library_version=library_version,
                entry_points=instrumentor.entry_points,
                reason=f"{library_display} is always there (upstream's bootstrap installs its"
                " instrumentor everywhere too)"
                if standard
                else f"{library_display} is installed"
                f" ({instrumentor.distribution} supports {', '.join(map(str, applicable))})",
                upgrade_from=ours,
            )
        )
    return Plan(tuple(proposals), tuple(skipped))
