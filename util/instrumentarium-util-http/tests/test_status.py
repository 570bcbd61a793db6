"""Status rules, status lines, protocol versions, synthetic user agents, traced attributes."""

from __future__ import annotations

import pytest

from instrumentarium.util.http import (
    client_status_is_error,
    parse_status_line,
    protocol_version,
    server_status_is_error,
    synthetic_user_agent_type,
    traced_request_attrs,
    traced_request_attrs_env,
)


class TestStatusRules:
    @pytest.mark.parametrize(
        ("code", "server", "client"),
        [
            (99, True, True),
            (100, False, False),
            (200, False, False),
            (302, False, False),
            (404, False, True),
            (499, False, True),
            (500, True, True),
            (503, True, True),
            (600, True, True),
        ],
    )
    def test_error_rules(self, code: int, server: bool, client: bool) -> None:
        """Servers fail on 5xx (and < 100), clients on 4xx and 5xx (and < 100)."""
        assert server_status_is_error(code) is server
        assert client_status_is_error(code) is client


class TestParseStatusLine:
    @pytest.mark.parametrize(
        ("status", "code"),
        [("200 OK", 200), ("404 Not Found", 404), ("500", 500), ("abc", -1), ("", -1)],
    )
    def test_codes(self, status: str, code: int) -> None:
        """The integer before the first space, or -1 when there is none."""
        assert parse_status_line(status) == code


class TestProtocolVersion:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [("HTTP/1.1", "1.1"), ("HTTP/2", "2"), ("http/1.0", "1.0"), ("SPDY/3", "SPDY/3")],
    )
    def test_prefix_is_removed(self, value: str, expected: str) -> None:
        """``HTTP/`` is removed; other protocols are kept whole."""
        assert protocol_version(value) == expected

    @pytest.mark.parametrize("value", [None, ""])
    def test_absent(self, value: str | None) -> None:
        """No protocol gives None."""
        assert protocol_version(value) is None


class TestSyntheticUserAgent:
    @pytest.mark.parametrize(
        ("user_agent", "expected"),
        [
            ("AlwaysOn-Monitor/1.0", "test"),
            ("Mozilla/5.0 (compatible; Googlebot/2.1)", "bot"),
            ("Mozilla/5.0 (compatible; bingbot/2.0)", "bot"),
            ("googlebot alwayson", "test"),
            ("curl/8.0", None),
            ("", None),
            (None, None),
        ],
    )
    def test_classification(self, user_agent: str | None, expected: str | None) -> None:
        """``alwayson`` is a test, ``googlebot``/``bingbot`` a bot (test wins), case-insensitive."""
        assert synthetic_user_agent_type(user_agent) == expected


class TestTracedRequestAttrs:
    def test_env_name(self) -> None:
        """The variable is ``OTEL_PYTHON_<LIB>_TRACED_REQUEST_ATTRS``."""
        assert traced_request_attrs_env("django") == "OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS"

    def test_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The variable is a comma list; empty items are dropped."""
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS", "path_info, content_type,")
        assert traced_request_attrs("django") == ("path_info", "content_type")

    def test_argument_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A list given as argument is used instead of the variable."""
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS", "path_info")
        assert traced_request_attrs("django", [" method ", ""]) == ("method",)

    def test_unset(self) -> None:
        """Nothing configured gives an empty tuple."""
        assert traced_request_attrs("django") == ()
