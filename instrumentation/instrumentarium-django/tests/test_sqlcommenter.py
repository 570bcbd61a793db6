"""The SQL commenter: queries run by a view carry where they came from."""

from __future__ import annotations

import re

import pytest
from django.db import connection


@pytest.fixture
def executed():
    """The statements SQLite itself ran (after every execute wrapper), as a list."""
    statements: list[str] = []
    connection.ensure_connection()  # in-memory SQLite: Django keeps it open across requests
    connection.connection.set_trace_callback(statements.append)
    yield statements
    connection.connection.set_trace_callback(None)


class TestSqlCommenter:
    def test_queries_are_commented(self, instrument, client, finished, executed):
        """Each query gets framework, controller, route, db_driver and the span's traceparent;
        a trailing semicolon stays last and ``%`` is literal whatever the parameters."""
        instrument(is_sql_commentor_enabled=True)
        assert client().get("/query/").content == b"queried"
        [span] = finished()
        context = span.context
        traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
        first, second = executed
        expected = (
            "/*controller='django_testproject.views.query',"
            "db_driver='django.db.backends.sqlite3',"
            f"framework='django%3A{__import__('django').get_version()}',"
            "route='query%2F',"
            f"traceparent='{traceparent}'*/"
        )
        assert first == f"SELECT 1 {expected}"  # with parameters: the %% went back to %
        assert second == f"SELECT 2 {expected};"

    def test_options_drop_tags(self, instrument, client, executed):
        """``commenter_options={"opentelemetry": False, ...}`` leaves those keys out."""
        instrument(
            is_sql_commentor_enabled=True,
            commenter_options={"opentelemetry": False, "db_driver": False, "framework": False},
        )
        client().get("/query/")
        sql = executed[1]
        assert re.fullmatch(r"SELECT 2 /\*controller='[^']+',route='query%2F'\*/;", sql)

    def test_off_by_default(self, instrument, client, executed):
        """Without ``is_sql_commentor_enabled`` queries are untouched."""
        instrument()
        client().get("/query/")
        assert executed[1] == "SELECT 2;"

    def test_removed_after_the_request(self, instrument, client, executed):
        """Queries outside a request are untouched: the wrapper lives for one request."""
        instrument(is_sql_commentor_enabled=True)
        client().get("/query/")
        with connection.cursor() as cursor:
            cursor.execute("SELECT 3")
        assert executed[-1] == "SELECT 3"
