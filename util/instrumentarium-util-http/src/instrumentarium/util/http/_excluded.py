"""Excluded URLs: ``OTEL_PYTHON_<LIB>_EXCLUDED_URLS`` / ``OTEL_PYTHON_EXCLUDED_URLS``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Final, Optional, Union

from instrumentarium.util.config import compile_patterns, split_comma_list
from instrumentarium.util.safety import warn_once

__all__ = ["EXCLUDED_SUPPRESS_ENV", "EXCLUDED_URLS_ENV", "ExcludedUrls", "excluded_urls_env"]

EXCLUDED_URLS_ENV: Final = "OTEL_PYTHON_EXCLUDED_URLS"
# Whether an excluded request also runs with instrumentation suppressed below it (default true:
# a health check's database call makes no orphan root span); false: upstream's behaviour.
EXCLUDED_SUPPRESS_ENV: Final = "OTEL_PYTHON_EXCLUDED_URLS_SUPPRESS"


def excluded_urls_env(library: str) -> str:
    """The library-specific variable, e.g. ``OTEL_PYTHON_FLASK_EXCLUDED_URLS``."""
    return f"OTEL_PYTHON_{library.upper()}_EXCLUDED_URLS"


class ExcludedUrls:
    """A list of regular expressions, compiled once into one alternation.

    ``matches(url)`` uses ``re.search`` semantics, as upstream documents: ``healthcheck`` excludes
    ``http://host/healthcheck?x=1`` and ``client/.*/info`` excludes ``http://h/client/7/info``.
    Anchor a pattern (``^https?://[^/]+/$``) to match a whole URL.
    """

    __slots__ = ("_search", "patterns", "source")

    def __init__(self, patterns: Iterable[str], *, source: str = "excluded_urls") -> None:
        patterns = list(patterns)  # iterated twice below: a generator would be used up
        compiled = compile_patterns(patterns, source=source)
        self.patterns: tuple[str, ...] = (
            tuple(p for p in patterns if p and compile_patterns([p], source=source))
            if compiled is not None
            else ()
        )
        self.source = source
        self._search = compiled.search if compiled is not None else None

    def __bool__(self) -> bool:
        return self._search is not None

    def __repr__(self) -> str:
        return f"ExcludedUrls({list(self.patterns)!r}, source={self.source!r})"

    def matches(self, url: str) -> bool:
        """True when some pattern is found anywhere in ``url``."""
        search = self._search
        return search is not None and search(url) is not None

    # Upstream's name, so code written against ``opentelemetry.util.http`` keeps working.
    url_disabled = matches

    def explain(self, url: str) -> Optional[str]:
        """The first pattern that excludes ``url``, or None: for debugging a configuration."""
        for pattern in self.patterns:
            compiled = compile_patterns([pattern], source=self.source)
            if compiled is not None and compiled.search(url):
                return pattern
        return None

    @classmethod
    def from_config(
        cls, library: str, excluded_urls: Union[str, Iterable[str], None] = None
    ) -> ExcludedUrls:
        """The keyword argument if given, else the library's variable, else the generic one.

        A library variable that is set, even to an empty string, wins over the generic one
        (an empty value means "exclude nothing"), as upstream does.
        """
        if excluded_urls is not None:
            if isinstance(excluded_urls, str):
                return cls(split_comma_list(excluded_urls), source="excluded_urls")
            items = list(excluded_urls)
            if not all(isinstance(item, str) for item in items):
                warn_once(
                    ("excluded-type", library),
                    "excluded_urls must be a comma-separated string or a list of strings, got %r;"
                    " ignoring it",
                    excluded_urls,
                )
                items = []
            return cls([item.strip() for item in items], source="excluded_urls")
        name = excluded_urls_env(library)
        value = os.environ.get(name)
        if value is None:
            name = EXCLUDED_URLS_ENV
            value = os.environ.get(name, "")
        return cls(split_comma_list(value), source=name)
