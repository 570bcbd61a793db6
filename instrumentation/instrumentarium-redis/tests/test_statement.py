"""The statement policy: sanitized by default, raw on request, secrets never, lengths capped,
binary arguments safe."""

from __future__ import annotations

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from instrumentarium.redis._statement import STATEMENT_LIMIT, statement


def _statement(exporter):
    return exporter.get_finished_spans()[-1].attributes["db.statement"]


class TestPolicy:
    def test_sanitized_by_default(self, instrument, client, span_exporter, key):
        """By default each argument is a ``?``."""
        instrument()
        client.set(key, "secret", ex=5)

        assert _statement(span_exporter) == "SET ? ? ? ?"

    def test_env_false_keeps_arguments(self, instrument, client, span_exporter, key, monkeypatch):
        """``OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS=false`` records the arguments."""
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS", "false")
        instrument()
        client.set(key, "value")

        assert _statement(span_exporter) == f"SET {key} value"

    def test_kwarg_wins_over_env(self, instrument, client, span_exporter, key, monkeypatch):
        """``sanitize_query=True`` sanitizes even when the variable says false."""
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS", "false")
        instrument(sanitize_query=True)
        client.get(key)

        assert _statement(span_exporter) == "GET ?"

    def test_auth_arguments_are_never_recorded(
        self, instrument, client, span_exporter, monkeypatch
    ):
        """``AUTH`` arguments stay ``?`` even when arguments are recorded."""
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS", "false")
        instrument()
        with pytest.raises(redis.RedisError):
            client.execute_command("AUTH", "user", "hunter2")

        assert _statement(span_exporter) == "AUTH ? ?"

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (("HELLO", 3, "AUTH", "u", "pw"), "HELLO ? ? ? ?"),
            (("MIGRATE", "h", 1, "", 0, 5, "AUTH", "pw", "KEYS", "k"), "MIGRATE" + " ?" * 9),
            (("CONFIG SET", "requirepass", "pw"), "CONFIG SET ? ?"),
            (("config", "set", "masterauth", "pw"), "config ? ? ?"),
            (("ACL SETUSER", "u", ">pw"), "ACL SETUSER ? ?"),
        ],
    )
    def test_secret_commands(self, args, expected):
        """Commands that can carry a password keep only ``?`` for their arguments."""
        assert statement(args[0], args, sanitize=False) == expected

    def test_binary_arguments(self, instrument, client, span_exporter, key, monkeypatch):
        """Non-UTF-8 bytes never raise; they become U+FFFD in the statement."""
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS", "false")
        instrument()
        client.set(key, b"\xff\xfeok")

        assert _statement(span_exporter) == f"SET {key} \ufffd\ufffdok"

    def test_lengths_are_capped(self, instrument, client, span_exporter, key, monkeypatch):
        """Each argument is cut to 100 characters and the statement to 1000."""
        monkeypatch.setenv("OTEL_PYTHON_INSTRUMENTATION_SANITIZE_REDIS", "false")
        instrument()
        client.set(key, "x" * 500)
        assert _statement(span_exporter).endswith(" " + "x" * 100 + "...")

        client.mget([key] * 200)
        text = _statement(span_exporter)
        assert len(text) == STATEMENT_LIMIT
        assert text.endswith("...")

    def test_long_sanitized_statement_is_capped(self, instrument, client, span_exporter, key):
        """A sanitized statement is capped at 1000 characters too."""
        instrument()
        client.mget([key] * 600)

        assert len(_statement(span_exporter)) == STATEMENT_LIMIT


class TestProperties:
    @settings(deadline=None)
    @given(
        st.lists(
            st.one_of(st.binary(), st.text(), st.integers(), st.floats()), min_size=1, max_size=30
        ),
        st.booleans(),
    )
    def test_any_arguments_give_a_bounded_string(self, args, sanitize):
        """Whatever the arguments, the statement is a str of at most 1000 characters."""
        text = statement("SET", ["SET", *args], sanitize)
        assert isinstance(text, str)
        assert len(text) <= STATEMENT_LIMIT
