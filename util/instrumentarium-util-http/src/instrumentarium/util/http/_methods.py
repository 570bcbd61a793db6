"""HTTP method normalisation: known methods pass, anything else becomes ``_OTHER``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Final, Optional, Union

from instrumentarium.util.config import split_comma_list

__all__ = [
    "KNOWN_METHODS_ENV",
    "CAPTURE_ALL_METHODS_ENV",
    "DEFAULT_KNOWN_METHODS",
    "OTHER_METHOD",
    "MethodNormalizer",
    "sanitize_method",
]

KNOWN_METHODS_ENV: Final = "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS"
CAPTURE_ALL_METHODS_ENV: Final = "OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS"
OTHER_METHOD: Final = "_OTHER"
DEFAULT_KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)
_CACHE_LIMIT: Final = 64


class MethodNormalizer:
    """Maps a raw request method to ``(method, original)``.

    ``method`` is the upper-cased method when it is known (or when every method is captured),
    else ``_OTHER``; ``original`` is the raw method when it differs from ``method`` (it becomes
    ``http.request.method_original``), else None. ``get`` gives ``("GET", "get")``, as upstream.

    * ``OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS``: comma list that replaces the default known set
      (the specification's variable; upstream does not read it);
    * ``OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS``: any non-empty value keeps every
      method as sent (upper-cased), as upstream.
    """

    __slots__ = ("_cache", "capture_all", "known")

    def __init__(self, known: Iterable[str] = DEFAULT_KNOWN_METHODS, capture_all: bool = False):
        self.known = frozenset(m.strip().upper() for m in known if m.strip())
        self.capture_all = capture_all
        self._cache: dict[Union[str, bytes], tuple[str, Optional[str]]] = {}

    @classmethod
    def from_env(cls) -> MethodNormalizer:
        known: Iterable[str] = split_comma_list(os.environ.get(KNOWN_METHODS_ENV, ""))
        if not known:  # unset, empty or only commas: an empty set would fold every method
            known = DEFAULT_KNOWN_METHODS
        return cls(known, capture_all=bool(os.environ.get(CAPTURE_ALL_METHODS_ENV)))

    def normalize(self, raw: Union[str, bytes]) -> tuple[str, Optional[str]]:
        hit = self._cache.get(raw)
        if hit is not None:
            return hit
        text = raw.decode("latin-1") if isinstance(raw, bytes) else raw  # a server's bytes
        stripped = text.strip()
        upper = stripped.upper()
        if upper and (self.capture_all or upper in self.known):
            result = (upper, stripped if stripped != upper else None)
        else:
            result = (OTHER_METHOD, stripped if stripped and stripped != OTHER_METHOD else None)
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[raw] = result
        return result


def sanitize_method(method: Optional[str]) -> Optional[str]:
    """Upstream's helper: the upper-cased method if known (env read per call), else ``_OTHER``."""
    if method is None:
        return None
    return MethodNormalizer.from_env().normalize(method)[0]
