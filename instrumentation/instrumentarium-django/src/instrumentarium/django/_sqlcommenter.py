"""The SQL commenter: tags every query a request runs with where it came from.

While a request runs (``is_sql_commentor_enabled=True``), each Django database connection
carries an ``execute_wrapper`` that appends a comment in the sqlcommenter format::

    SELECT 1 /*controller='users',db_driver='django.db.backends.sqlite3',
               framework='django%3A5.2',route='users/%3Cint%3Auid%3E/',
               traceparent='00-...-...-01'*/

Keys are sorted and values URL-quoted; a trailing ``;`` stays last. Which keys appear is chosen
once, at ``instrument()``: ``commenter_options`` (``framework``, ``controller``, ``route``,
``app_name``, ``opentelemetry``, ``db_driver``) first, then Django's ``SQLCOMMENTER_WITH_*``
settings, as upstream reads them; each defaults to on.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Callable, Final, Optional
from urllib.parse import quote

from opentelemetry import propagate

if TYPE_CHECKING:
    from django.http import HttpRequest  # type: ignore[import-untyped, unused-ignore]

__all__ = ["COMMENTER_OPTIONS", "SqlCommenter"]

COMMENTER_OPTIONS: Final = (
    "app_name",
    "controller",
    "db_driver",
    "framework",
    "opentelemetry",
    "route",
)


class SqlCommenter:
    """Which tags to add, resolved once; ``enter(request)`` covers one request's queries until
    the stack it returns is closed."""

    __slots__ = ("enabled", "framework")

    def __init__(self, options: Optional[Mapping[str, object]], settings: Any) -> None:
        options = dict(options or {})
        self.enabled = frozenset(
            key
            for key in COMMENTER_OPTIONS
            if (
                options[key]
                if key in options
                else getattr(settings, f"SQLCOMMENTER_WITH_{key.upper()}", True)
            )
        )
        # Lazy: only instrument() builds a commenter, and Django is imported by then.
        import django  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

        self.framework = f"django:{django.get_version()}"

    def enter(self, request: HttpRequest) -> ExitStack:
        """Put the request's query wrapper on every database connection; closing the returned
        stack takes them off again."""
        from django.db import connections  # type: ignore[import-untyped, unused-ignore]  # noqa: PLC0415

        with ExitStack() as stack:
            wrapper = _QueryWrapper(self, request)
            for connection in connections.all():
                stack.enter_context(connection.execute_wrapper(wrapper))
            return stack.pop_all()


class _QueryWrapper:
    """A Django ``execute_wrapper``: appends the comment, then runs the query unchanged."""

    __slots__ = ("commenter", "request")

    def __init__(self, commenter: SqlCommenter, request: HttpRequest) -> None:
        self.commenter = commenter
        self.request = request

    def __call__(
        self,
        execute: Callable[..., Any],
        sql: Any,
        params: Any,
        many: bool,
        context: Mapping[str, Any],
    ) -> Any:
        if isinstance(sql, str):
            comment = self.comment(context)
            if comment:
                # With parameters the driver %-formats the statement: keep our % literal.
                if params is not None:
                    comment = comment.replace("%", "%%")
                sql = _append(sql, comment)
        return execute(sql, params, many, context)

    def comment(self, context: Mapping[str, Any]) -> str:
        enabled = self.commenter.enabled
        tags: dict[str, Optional[str]] = {}
        match = getattr(self.request, "resolver_match", None)
        if "framework" in enabled:
            tags["framework"] = self.commenter.framework
        if match is not None:
            if "controller" in enabled:
                tags["controller"] = match.view_name
            if "route" in enabled:
                tags["route"] = match.route
            if "app_name" in enabled:
                tags["app_name"] = match.app_name or None
        if "db_driver" in enabled:
            connection = context.get("connection")
            settings_dict = getattr(connection, "settings_dict", None) or {}
            tags["db_driver"] = settings_dict.get("ENGINE")
        if "opentelemetry" in enabled:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            tags["traceparent"] = carrier.get("traceparent")
            tags["tracestate"] = carrier.get("tracestate")
        pairs = [
            f"{quote(key, safe='')}='{quote(value, safe='')}'"
            for key, value in sorted(tags.items())
            if value
        ]
        return f"/*{','.join(pairs)}*/" if pairs else ""


def _append(sql: str, comment: str) -> str:
    """``sql`` with ``comment`` at the end, before a trailing semicolon."""
    stripped = sql.rstrip()
    if stripped.endswith(";"):
        return f"{stripped[:-1]} {comment};"
    return f"{stripped} {comment}"
