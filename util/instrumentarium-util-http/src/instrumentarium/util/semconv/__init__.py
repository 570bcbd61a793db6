"""Which semantic conventions to emit: ``OTEL_SEMCONV_STABILITY_OPT_IN``, parsed in one place.

The specification's migration plan gives every domain three states:

* unset               -> the old (pre-stable) attribute names only (the default, as upstream);
* ``<domain>``        -> the stable names only;
* ``<domain>/dup``    -> both, so dashboards can move over without a gap (``/dup`` wins).

Domains: ``http``, ``database``, ``rpc``, ``messaging``. Tokens are comma-separated and matched
exactly after stripping (``HTTP`` is not ``http``: it is reported once and ignored, as the value is
case-sensitive in the specification). Unlike upstream, the value is read when an instrumentor is
configured (``instrument()``, a middleware's constructor), not cached for the life of the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, Optional

from instrumentarium.util.safety import warn_once

__all__ = [
    "OPT_IN_ENV",
    "DOMAINS",
    "SemconvMode",
    "DEFAULT",
    "STABLE",
    "DUP",
    "opt_in_mode",
    "opt_in_modes",
    "schema_url",
]

OPT_IN_ENV: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"

DOMAINS: Final = ("http", "database", "rpc", "messaging")

# Tokens other OpenTelemetry components understand; they are accepted silently.
_FOREIGN_TOKENS: Final = frozenset(
    {"gen_ai_latest_experimental", "code", "code/dup", "gen_ai", "gen_ai/dup"}
)


class SemconvMode:
    """Which attribute names one domain emits: ``old`` (pre-stable), ``new`` (stable), or both."""

    __slots__ = ("name", "new", "old")

    name: str
    old: bool
    new: bool

    def __init__(self, name: str, *, old: bool, new: bool) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "old", old)
        object.__setattr__(self, "new", new)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("SemconvMode is immutable")

    def __repr__(self) -> str:
        return f"SemconvMode.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # the module-level constant of the same name


DEFAULT: Final = SemconvMode("DEFAULT", old=True, new=False)
STABLE: Final = SemconvMode("STABLE", old=False, new=True)
DUP: Final = SemconvMode("DUP", old=True, new=True)
_BY_NAME: Final = {m.name: m for m in (DEFAULT, STABLE, DUP)}

# Schema URL per domain when the stable conventions are emitted; the old names are 1.11.0.
_STABLE_SCHEMA: Final[Mapping[str, str]] = {
    "http": "https://opentelemetry.io/schemas/1.21.0",
    "database": "https://opentelemetry.io/schemas/1.25.0",
    "rpc": "https://opentelemetry.io/schemas/1.37.0",
    "messaging": "https://opentelemetry.io/schemas/1.27.0",
}
_OLD_SCHEMA: Final = "https://opentelemetry.io/schemas/1.11.0"


def _tokens(value: str) -> set[str]:
    tokens = {token.strip() for token in value.split(",")}
    tokens.discard("")
    return tokens


def opt_in_modes(value: Optional[str] = None) -> dict[str, SemconvMode]:
    """Every domain's mode, from ``value`` or, when it is None, from the environment.

    Unknown tokens are reported once (naming the variable) and ignored.
    """
    if value is None:
        value = os.environ.get(OPT_IN_ENV, "")
    tokens = _tokens(value)
    modes: dict[str, SemconvMode] = {}
    known: set[str] = set(_FOREIGN_TOKENS)
    for domain in DOMAINS:
        dup = f"{domain}/dup"
        known.update((domain, dup))
        if dup in tokens:
            modes[domain] = DUP
        elif domain in tokens:
            modes[domain] = STABLE
        else:
            modes[domain] = DEFAULT
    for token in sorted(tokens - known):
        hint = ""
        if token.lower() in known:
            hint = f" (the value is case-sensitive: did you mean {token.lower()!r}?)"
        warn_once(
            ("semconv-token", token),
            "%s: ignoring unknown token %r%s; known tokens: %s",
            OPT_IN_ENV,
            token,
            hint,
            ", ".join(sorted(known - _FOREIGN_TOKENS)),
        )
    return modes


def opt_in_mode(domain: str, value: Optional[str] = None) -> SemconvMode:
    """The mode of one domain (``"http"``, ``"database"``, ``"rpc"``, ``"messaging"``)."""
    if domain not in DOMAINS:
        raise ValueError(
            f"unknown semantic-convention domain {domain!r}; expected one of {DOMAINS}"
        )
    return opt_in_modes(value)[domain]


def schema_url(domain: str, mode: SemconvMode) -> str:
    """The schema URL an instrumentation scope should declare for ``domain`` in ``mode``."""
    return _STABLE_SCHEMA[domain] if mode.new else _OLD_SCHEMA
