"""Capture of HTTP headers as span attributes, with sanitisation.

Variables (comma-separated regular expressions, case-insensitive):

* ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_{SERVER,CLIENT}_{REQUEST,RESPONSE}``: a header is
  captured when a pattern matches its whole name;
* ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS``: a captured header whose name
  contains a match has its value replaced by ``[REDACTED]``.

Header names are compared lower-cased with ``_`` read as ``-`` on both sides, so the documented
``custom_header`` matches ``Custom-Header`` (upstream's WSGI layer never matches it). Attributes are
``http.request.header.<name>`` / ``http.response.header.<name>`` (lower case, ``-`` -> ``_``),
each a list of one value, as upstream records them. A header sent more than once is that one
value with the occurrences joined: by ``,`` on a server (upstream's WSGI layer), by ``", "`` on a
client (how urllib3 merges a repeated header, so what requests records; upstream's urllib3 keeps
only the last occurrence). Decisions are cached per header name: the regexes run once per name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Final, Literal, Optional

from instrumentarium.util.config import compile_patterns, split_comma_list

__all__ = [
    "CAPTURE_HEADERS_ENV",
    "SANITIZE_FIELDS_ENV",
    "SANITIZED_VALUE",
    "HeaderCapture",
    "HeaderPatterns",
]

CAPTURE_HEADERS_ENV: Final = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_{side}_{direction}"
SANITIZE_FIELDS_ENV: Final = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"
SANITIZED_VALUE: Final = "[REDACTED]"
_CACHE_LIMIT: Final = 512


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _normalize_pattern(pattern: str) -> str:
    # Not lower-cased: the regexes are compiled IGNORECASE, and lower-casing turns \S into \s.
    return pattern.strip().replace("_", "-")


class HeaderPatterns:
    """Which headers of one direction to capture, and how each becomes an attribute."""

    __slots__ = ("_cache", "_capture", "_prefix", "_sanitize", "_separator", "source")

    def __init__(
        self,
        patterns: Iterable[str],
        sanitize: Optional[re.Pattern[str]],
        *,
        prefix: str,
        source: str,
        separator: str = ",",
    ) -> None:
        compiled = compile_patterns(
            (_normalize_pattern(p) for p in patterns), source=source, flags=re.IGNORECASE
        )
        self._capture = compiled.fullmatch if compiled is not None else None
        self._sanitize = sanitize.search if sanitize is not None else None
        self._prefix = prefix
        self._separator = separator
        self._cache: dict[str, Optional[tuple[str, bool]]] = {}
        self.source = source

    def __bool__(self) -> bool:
        return self._capture is not None

    def _decide(self, name: str) -> Optional[tuple[str, bool]]:
        decision = self._cache.get(name, False)
        if decision is not False:
            return decision  # type: ignore[return-value]
        normalized = _normalize(name)
        result: Optional[tuple[str, bool]] = None
        if self._capture is not None and self._capture(normalized) is not None:
            sanitize = self._sanitize is not None and self._sanitize(normalized) is not None
            result = (self._prefix + normalized.replace("-", "_"), sanitize)
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[name] = result
        return result

    def attributes(self, headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
        """Attributes for the captured ``(name, value)`` pairs: one value per header, a repeated
        name's values joined in order (a sensitive one is a single ``[REDACTED]``)."""
        if self._capture is None:
            return {}
        out: dict[str, list[str]] = {}
        for name, value in headers:
            decision = self._decide(name)
            if decision is None:
                continue
            key, sanitize = decision
            if sanitize:
                out[key] = [SANITIZED_VALUE]
                continue
            values = out.get(key)
            if values is None:
                out[key] = [str(value)]
            else:
                values[0] = values[0] + self._separator + str(value)
        return out


class HeaderCapture:
    """Request and response header capture for one side (``SERVER`` or ``CLIENT``)."""

    __slots__ = ("request", "response")

    def __init__(self, request: HeaderPatterns, response: HeaderPatterns) -> None:
        self.request = request
        self.response = response

    def __bool__(self) -> bool:
        return bool(self.request) or bool(self.response)

    @classmethod
    def from_config(
        cls,
        side: Literal["SERVER", "CLIENT"],
        request: Optional[Sequence[str]] = None,
        response: Optional[Sequence[str]] = None,
        sensitive: Optional[Sequence[str]] = None,
    ) -> HeaderCapture:
        """Lists given as arguments win; otherwise the environment variables are read."""

        def resolve(given: Optional[Sequence[str]], env: str) -> tuple[list[str], str]:
            if given is not None:
                return [g.strip() for g in given if g and g.strip()], env.lower()
            return split_comma_list(os.environ.get(env, "")), env

        sanitize_list, sanitize_source = resolve(sensitive, SANITIZE_FIELDS_ENV)
        sanitize = compile_patterns(
            (_normalize_pattern(p) for p in sanitize_list),
            source=sanitize_source,
            flags=re.IGNORECASE,
        )
        req_env = CAPTURE_HEADERS_ENV.format(side=side, direction="REQUEST")
        resp_env = CAPTURE_HEADERS_ENV.format(side=side, direction="RESPONSE")
        req_list, req_source = resolve(request, req_env)
        resp_list, resp_source = resolve(response, resp_env)
        separator = "," if side == "SERVER" else ", "
        return cls(
            HeaderPatterns(
                req_list,
                sanitize,
                prefix="http.request.header.",
                source=req_source,
                separator=separator,
            ),
            HeaderPatterns(
                resp_list,
                sanitize,
                prefix="http.response.header.",
                source=resp_source,
                separator=separator,
            ),
        )
