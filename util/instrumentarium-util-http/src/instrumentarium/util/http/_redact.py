"""Redaction of what URLs carry that must never reach telemetry.

* userinfo: ``https://user:secret@host/`` becomes ``https://REDACTED:REDACTED@host/`` (upstream's
  form, so existing dashboards and tests keep matching);
* sensitive query (and fragment) parameters: their value becomes ``REDACTED``. The rest of the
  string is kept byte for byte: no re-encoding, no reordering, blank parameters kept (upstream
  rebuilds the query with ``urlencode`` and so drops ``c`` and ``d=`` and turns ``%20`` into ``+``).

Parameter names are compared case-insensitively after percent-decoding, so ``SIG=``,
``x-amz-signature=`` and ``%73ig=`` are all caught. Redaction is idempotent.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Iterable
from typing import Final, Optional
from urllib.parse import unquote_plus

from instrumentarium.util.config import split_comma_list

__all__ = [
    "REDACTED",
    "DEFAULT_SENSITIVE_QUERY_PARAMS",
    "SENSITIVE_QUERY_PARAMS_ENV",
    "UrlRedactor",
    "redact_url",
    "redact_query",
    "remove_url_credentials",
    "redacted_exception",
]

REDACTED: Final = "REDACTED"
_CREDENTIALS: Final = "REDACTED:REDACTED"

SENSITIVE_QUERY_PARAMS_ENV: Final = "OTEL_PYTHON_INSTRUMENTATION_HTTP_REDACT_QUERY_PARAMS"

DEFAULT_SENSITIVE_QUERY_PARAMS: Final = frozenset(
    name.lower()
    for name in (
        # upstream's list
        "AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature",
        # signed cloud URLs
        "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "X-Goog-Credential",
        # tokens and passwords
        "access_token", "refresh_token", "id_token", "auth_token", "token", "jwt",
        "client_secret", "secret", "password", "passwd", "pwd",
        "api_key", "apikey", "api-key", "x-api-key",
    )
)  # fmt: skip


_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_USERINFO_IN_TEXT: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@'\"]+@")


def _end_of_authority(url: str, start: int) -> int:
    end = len(url)
    for stop in "/?#":
        index = url.find(stop, start)
        if index != -1 and index < end:
            end = index
    return end


def remove_url_credentials(url: str) -> str:
    """``url`` with any userinfo (``user:password@``) replaced by ``REDACTED:REDACTED@``."""
    scheme = _SCHEME.match(url)
    if scheme is not None:
        start = scheme.end()
    elif url.startswith("//"):
        start = 2
    else:
        return url
    end = _end_of_authority(url, start)
    at = url.rfind("@", start, end)
    if at == -1:
        return url
    return url[:start] + _CREDENTIALS + url[at:]


class UrlRedactor:
    """Removes userinfo and the values of sensitive query parameters. Built once, cheap per call."""

    __slots__ = ("_candidate", "_in_text", "names")

    def __init__(self, sensitive_params: Iterable[str] = DEFAULT_SENSITIVE_QUERY_PARAMS) -> None:
        self.names = frozenset(name.strip().lower() for name in sensitive_params if name.strip())
        alternatives = "|".join(re.escape(name) for name in sorted(self.names))
        self._candidate = (
            re.compile(rf"(?:^|&)\s*(?:{alternatives})\s*=", re.IGNORECASE).search
            if alternatives
            else None
        )
        # A sensitive parameter anywhere in free text: after ?, &, ; or #, up to a delimiter.
        self._in_text = (
            re.compile(
                rf"((?:[?&;#])\s*(?:{alternatives})\s*=)(?!{REDACTED}\b)[^&#\s'\"()\[\]<>,]+",
                re.IGNORECASE,
            ).sub
            if alternatives
            else None
        )

    @classmethod
    def from_env(cls, extra: Optional[Iterable[str]] = None) -> UrlRedactor:
        """The default list, plus ``extra`` and the names in
        ``OTEL_PYTHON_INSTRUMENTATION_HTTP_REDACT_QUERY_PARAMS`` (comma-separated)."""
        names = set(DEFAULT_SENSITIVE_QUERY_PARAMS)
        names.update(split_comma_list(os.environ.get(SENSITIVE_QUERY_PARAMS_ENV, "")))
        if extra is not None:
            names.update(extra)
        return cls(names)

    def redact_query(self, query: str) -> str:
        """A query string (without ``?``) with the values of sensitive parameters redacted."""
        candidate = self._candidate
        if not query or candidate is None:
            return query
        if "%" not in query and "+" not in query and candidate(query) is None:
            return query
        parts = query.split("&")
        changed = False
        names = self.names
        for index, part in enumerate(parts):
            key, sep, value = part.partition("=")
            if not sep or not value or value == REDACTED:
                continue
            if unquote_plus(key).strip().lower() in names:
                parts[index] = key + "=" + REDACTED
                changed = True
        return "&".join(parts) if changed else query

    def redact_url(self, url: str) -> str:
        """``url`` without credentials and with sensitive query and fragment values redacted."""
        if "@" in url:
            url = remove_url_credentials(url)
        question = url.find("?")
        hash_ = url.find("#")
        if hash_ != -1 and (question == -1 or hash_ < question):
            question = -1  # a '?' after '#' belongs to the fragment
        if question == -1 and hash_ == -1:
            return url
        fragment = ""
        if hash_ != -1:
            fragment = url[hash_ + 1 :]
            url = url[:hash_]
        if question != -1:
            url = url[: question + 1] + self.redact_query(url[question + 1 :])
        if hash_ == -1:
            return url
        if "=" in fragment:
            # A hash router's "#/route?token=..." carries its parameters after a '?'.
            start = fragment.find("?") + 1
            fragment = fragment[:start] + self.redact_query(fragment[start:])
        return url + "#" + fragment

    def redact_text(self, text: str) -> str:
        """Free text (an exception message, a traceback, a status description) with the userinfo
        of every URL in it and the value of every sensitive query parameter redacted: clients'
        exceptions quote the URL they failed on, and must not carry its secrets to telemetry."""
        if "@" in text:
            text = _USERINFO_IN_TEXT.sub(rf"\1{_CREDENTIALS}@", text)
        if "=" in text and self._in_text is not None:
            text = self._in_text(rf"\1{REDACTED}", text)
        return text

    def redact_target(self, target: str) -> str:
        """A request target (``/path?query``) with the query redacted; the path is kept. An
        absolute-form target (``http://user:pw@host/x``, sent to proxies) is redacted as a URL."""
        if not target.startswith("/"):
            return self.redact_url(target)
        question = target.find("?")
        if question == -1:
            return target
        return target[: question + 1] + self.redact_query(target[question + 1 :])


def redacted_exception(exc: BaseException, redactor: UrlRedactor) -> tuple[dict[str, str], str]:
    """What to record for ``exc`` without the secrets its text may quote: the ``exception``
    event's message and stacktrace attributes (they override the SDK's own in
    ``span.record_exception(exc, attributes=...)``) and the status description."""
    message = redactor.redact_text(str(exc))
    stacktrace = redactor.redact_text(
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    attributes = {"exception.message": message, "exception.stacktrace": stacktrace}
    return attributes, f"{type(exc).__name__}: {message}"


_DEFAULT: Final = UrlRedactor()


def redact_url(url: str) -> str:
    """Redact ``url`` with the default list of sensitive parameters (no environment read)."""
    return _DEFAULT.redact_url(url)


def redact_query(query: str) -> str:
    """Redact a query string with the default list of sensitive parameters."""
    return _DEFAULT.redact_query(query)
