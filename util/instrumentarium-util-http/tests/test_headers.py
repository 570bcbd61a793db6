"""Header capture: which headers become attributes, under which names, and sanitisation."""

from __future__ import annotations

import logging

import pytest

from instrumentarium.util.http import CAPTURE_HEADERS_ENV, SANITIZE_FIELDS_ENV, HeaderCapture

SERVER_REQUEST = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"
SERVER_RESPONSE = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE"
CLIENT_REQUEST = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST"
CLIENT_RESPONSE = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE"
SANITIZE = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"


class TestEnvironment:
    def test_variable_names(self) -> None:
        """The variable names are the ones upstream and the specification use."""
        assert CAPTURE_HEADERS_ENV.format(side="SERVER", direction="REQUEST") == SERVER_REQUEST
        assert SANITIZE_FIELDS_ENV == SANITIZE

    @pytest.mark.parametrize(
        ("side", "request_env", "response_env"),
        [("SERVER", SERVER_REQUEST, SERVER_RESPONSE), ("CLIENT", CLIENT_REQUEST, CLIENT_RESPONSE)],
    )
    def test_each_side_reads_its_own_variables(
        self, monkeypatch: pytest.MonkeyPatch, side: str, request_env: str, response_env: str
    ) -> None:
        """SERVER and CLIENT each read their request and response variables, and only those."""
        monkeypatch.setenv(request_env, "x-req")
        monkeypatch.setenv(response_env, "x-resp")
        capture = HeaderCapture.from_config(side)  # type: ignore[arg-type]
        other = HeaderCapture.from_config("CLIENT" if side == "SERVER" else "SERVER")
        assert capture.request.attributes([("X-Req", "1"), ("X-Resp", "2")]) == {
            "http.request.header.x_req": ["1"]
        }
        assert capture.response.attributes([("X-Req", "1"), ("X-Resp", "2")]) == {
            "http.response.header.x_resp": ["2"]
        }
        assert not other

    def test_nothing_configured_captures_nothing(self) -> None:
        """Without variables or arguments nothing is captured and the capture is falsy."""
        capture = HeaderCapture.from_config("SERVER")
        assert not capture
        assert not capture.request
        assert capture.request.attributes([("Content-Type", "text/plain")]) == {}

    def test_kwargs_win_over_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Lists given as arguments replace the variables, the sanitize list included."""
        monkeypatch.setenv(SERVER_REQUEST, "x-env")
        monkeypatch.setenv(SANITIZE, "x-arg")
        capture = HeaderCapture.from_config("SERVER", request=["x-arg"], sensitive=["nothing"])
        assert capture.request.attributes([("X-Env", "1"), ("X-Arg", "2")]) == {
            "http.request.header.x_arg": ["2"]
        }

    def test_empty_kwarg_list_captures_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An empty list argument means "capture nothing", not "read the environment"."""
        monkeypatch.setenv(SERVER_REQUEST, ".*")
        assert not HeaderCapture.from_config("SERVER", request=[]).request

    def test_invalid_pattern_is_reported_and_skipped(
        self, monkeypatch: pytest.MonkeyPatch, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """An invalid pattern logs one warning naming the variable; the other patterns work."""
        monkeypatch.setenv(SERVER_REQUEST, "x-a,[oops")
        capture = HeaderCapture.from_config("SERVER")
        assert capture.request.attributes([("X-A", "1")]) == {"http.request.header.x_a": ["1"]}
        warnings = [r for r in warnings_log.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert SERVER_REQUEST in warnings[0].getMessage()


class TestMatching:
    def test_fullmatch_not_search(self) -> None:
        """A pattern must match the whole header name: ``x-a`` does not capture ``x-ab``."""
        patterns = HeaderCapture.from_config("SERVER", request=["x-a"]).request
        assert patterns.attributes([("x-ab", "1"), ("xx-a", "2")]) == {}

    def test_case_insensitive(self) -> None:
        """Pattern and name are compared case-insensitively; the attribute name is lower case,
        and names differing only in case are one header."""
        patterns = HeaderCapture.from_config("SERVER", request=["Content-TYPE"]).request
        assert patterns.attributes([("content-type", "a"), ("CONTENT-TYPE", "b")]) == {
            "http.request.header.content_type": ["a,b"]
        }

    def test_regex_pattern(self) -> None:
        """Patterns are regular expressions: ``x-.*`` captures every ``X-`` header."""
        patterns = HeaderCapture.from_config("SERVER", request=["x-.*"]).request
        assert set(patterns.attributes([("X-One", "1"), ("X-Two", "2"), ("Y", "3")])) == {
            "http.request.header.x_one",
            "http.request.header.x_two",
        }

    def test_escape_classes_keep_their_meaning(self) -> None:
        """A pattern using ``\\S`` or ``\\D`` keeps its meaning (it is not lower-cased into
        ``\\s`` / ``\\d``)."""
        patterns = HeaderCapture.from_config("SERVER", request=[r"x-custom-\S+", r"x-\D"]).request
        assert patterns.attributes([("X-Custom-Foo", "1"), ("X-Y", "2")]) == {
            "http.request.header.x_custom_foo": ["1"],
            "http.request.header.x_y": ["2"],
        }

    def test_underscore_pattern_matches_dashed_header(self) -> None:
        """The documented ``custom_header`` pattern captures ``Custom-Header``."""
        patterns = HeaderCapture.from_config("SERVER", request=["custom_header"]).request
        assert patterns.attributes([("Custom-Header", "v")]) == {
            "http.request.header.custom_header": ["v"]
        }

    @pytest.mark.parametrize("direction", ["request", "response"])
    def test_server_repeated_header_is_one_value_joined_with_comma(self, direction: str) -> None:
        """A header sent twice to or by a server is one value, the occurrences joined with
        ``,`` in order, as upstream's WSGI layer records it (``("a,b",)``)."""
        capture = HeaderCapture.from_config("SERVER", request=["my-header"], response=["my-header"])
        patterns = getattr(capture, direction)
        assert patterns.attributes([("my-header", "a"), ("X", "x"), ("My-Header", "b")]) == {
            f"http.{direction}.header.my_header": ["a,b"]
        }

    @pytest.mark.parametrize("direction", ["request", "response"])
    def test_client_repeated_header_is_one_value_joined_like_the_library(
        self, direction: str
    ) -> None:
        """A header sent twice by or to a client is one value joined with ``", "``: what
        urllib3 merges it into (``response.headers[name]``) and so what requests records."""
        capture = HeaderCapture.from_config("CLIENT", request=["my-header"], response=["my-header"])
        patterns = getattr(capture, direction)
        assert patterns.attributes([("my-header", "a"), ("my-header", "b")]) == {
            f"http.{direction}.header.my_header": ["a, b"]
        }

    def test_trailing_comma_does_not_capture_everything(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An empty item in the capture list matches no header."""
        monkeypatch.setenv(SERVER_REQUEST, "x-a,")
        patterns = HeaderCapture.from_config("SERVER").request
        assert patterns.attributes([("X-A", "1"), ("X-B", "2")]) == {
            "http.request.header.x_a": ["1"]
        }

    def test_decision_is_stable_across_calls(self) -> None:
        """The per-name cache gives the same answer the second time."""
        patterns = HeaderCapture.from_config("SERVER", request=["x-a"]).request
        first = patterns.attributes([("X-A", "1"), ("X-B", "2")])
        assert patterns.attributes([("X-A", "1"), ("X-B", "2")]) == first


class TestSanitize:
    def test_sanitized_value_is_redacted_marker(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A captured header matching the sanitize list has the value ``[REDACTED]``."""
        monkeypatch.setenv(SERVER_REQUEST, "authorization,x-a")
        monkeypatch.setenv(SANITIZE, "authorization")
        patterns = HeaderCapture.from_config("SERVER").request
        assert patterns.attributes([("Authorization", "Bearer t"), ("X-A", "1")]) == {
            "http.request.header.authorization": ["[REDACTED]"],
            "http.request.header.x_a": ["1"],
        }

    def test_sanitize_uses_search_and_ignores_case(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``secret`` sanitises ``X-My-SECRET-Value``: a match anywhere in the name counts."""
        monkeypatch.setenv(SERVER_RESPONSE, ".*")
        monkeypatch.setenv(SANITIZE, "secret")
        patterns = HeaderCapture.from_config("SERVER").response
        assert patterns.attributes([("X-My-SECRET-Value", "s")]) == {
            "http.response.header.x_my_secret_value": ["[REDACTED]"]
        }

    @pytest.mark.parametrize("side", ["SERVER", "CLIENT"])
    def test_sanitize_redacts_a_repeated_header_once(self, side: str) -> None:
        """A repeated sensitive header is one ``[REDACTED]`` (no value of it leaks)."""
        patterns = HeaderCapture.from_config(
            side,  # type: ignore[arg-type]
            response=["set-cookie"],
            sensitive=["set-cookie"],
        ).response
        assert patterns.attributes([("Set-Cookie", "a"), ("Set-Cookie", "b")]) == {
            "http.response.header.set_cookie": ["[REDACTED]"]
        }

    def test_trailing_comma_does_not_redact_everything(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An empty item in the sanitize list redacts nothing (upstream redacts every header)."""
        monkeypatch.setenv(SERVER_REQUEST, ".*")
        monkeypatch.setenv(SANITIZE, "authorization,")
        patterns = HeaderCapture.from_config("SERVER").request
        assert patterns.attributes([("X-A", "1"), ("Authorization", "t")]) == {
            "http.request.header.x_a": ["1"],
            "http.request.header.authorization": ["[REDACTED]"],
        }

    def test_sanitize_underscore_pattern_matches_dashed_header(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A sanitize pattern written with ``_`` redacts the header spelt with ``-``."""
        monkeypatch.setenv(SERVER_REQUEST, ".*")
        monkeypatch.setenv(SANITIZE, "api_key")
        patterns = HeaderCapture.from_config("SERVER").request
        assert patterns.attributes([("X-Api-Key", "k")]) == {
            "http.request.header.x_api_key": ["[REDACTED]"]
        }

    def test_values_are_strings(self) -> None:
        """Non-string values (a server's int) are recorded as strings."""
        patterns = HeaderCapture.from_config("SERVER", request=["content-length"]).request
        assert patterns.attributes([("Content-Length", 12)]) == {  # type: ignore[list-item]
            "http.request.header.content_length": ["12"]
        }
