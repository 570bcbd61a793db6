"""Redaction of URL userinfo and sensitive query parameters (examples; properties elsewhere)."""

from __future__ import annotations

import pytest

from instrumentarium.util.http import (
    DEFAULT_SENSITIVE_QUERY_PARAMS,
    REDACTED,
    SENSITIVE_QUERY_PARAMS_ENV,
    UrlRedactor,
    redact_query,
    redact_url,
    redacted_exception,
    remove_url_credentials,
)

UPSTREAM_PARAMS = ("AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature")


class TestRemoveUrlCredentials:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("http://user@h/", "http://REDACTED:REDACTED@h/"),
            ("http://user:pass@h/p", "http://REDACTED:REDACTED@h/p"),
            ("http://:@h", "http://REDACTED:REDACTED@h"),
            ("https://user:pass@h:8443/p?q=1", "https://REDACTED:REDACTED@h:8443/p?q=1"),
            ("http://u:p@[::1]:8080/x", "http://REDACTED:REDACTED@[::1]:8080/x"),
            ("http://u:p@[2001:db8::1]/", "http://REDACTED:REDACTED@[2001:db8::1]/"),
            ("//user:pass@h/p", "//REDACTED:REDACTED@h/p"),
            ("http://a@b@h/", "http://REDACTED:REDACTED@h/"),
        ],
    )
    def test_userinfo_forms_are_replaced(self, url: str, expected: str) -> None:
        """Every userinfo form (``user@``, ``user:pass@``, ``:@``, IPv6 hosts) is redacted."""
        assert remove_url_credentials(url) == expected

    @pytest.mark.parametrize(
        "url",
        [
            "http://h/",
            "http://[::1]:8080/x",
            "http://h/users/@me",
            "http://h/p?email=a@b.example",
            "http://h/p#frag@x",
            "http://h?u=x@y",
            "/relative/@path?a=b@c",
            "mailto:someone@example.com",
            "",
        ],
    )
    def test_at_outside_the_authority_is_not_touched(self, url: str) -> None:
        """An ``@`` in the path, query or fragment, or in a URL without authority, is kept."""
        assert remove_url_credentials(url) == url

    @pytest.mark.parametrize(
        "url",
        [
            "/share?url=https://user@example.com/",
            "/login?next=http://u:p@h/",
            "?q=a://b@c",
        ],
    )
    def test_url_inside_a_relative_urls_query_is_not_touched(self, url: str) -> None:
        """A relative URL has no userinfo: a ``://`` inside its query does not start one."""
        assert remove_url_credentials(url) == url


class TestRedactQuery:
    @pytest.mark.parametrize("name", UPSTREAM_PARAMS)
    def test_upstream_params_are_redacted(self, name: str) -> None:
        """Upstream's four parameters keep their name and lose their value."""
        assert redact_query(f"a=1&{name}=secret&b=2") == f"a=1&{name}={REDACTED}&b=2"

    @pytest.mark.parametrize(
        "name", ["X-Amz-Signature", "access_token", "client_secret", "password", "api_key"]
    )
    def test_our_additional_params_are_redacted(self, name: str) -> None:
        """Cloud signatures, tokens, passwords and API keys are redacted too."""
        assert redact_query(f"{name}=s3cr3t") == f"{name}={REDACTED}"

    def test_default_list_contains_upstreams(self) -> None:
        """The default list is a superset of upstream's, stored lower-cased."""
        assert {p.lower() for p in UPSTREAM_PARAMS} <= DEFAULT_SENSITIVE_QUERY_PARAMS
        assert all(p == p.lower() for p in DEFAULT_SENSITIVE_QUERY_PARAMS)

    @pytest.mark.parametrize("name", ["SIG", "Sig", "signature", "ACCESS_TOKEN", "Password"])
    def test_names_are_case_insensitive(self, name: str) -> None:
        """``Sig`` is redacted (upstream compares case-sensitively and lets it through)."""
        assert redact_query(f"{name}=v") == f"{name}={REDACTED}"

    @pytest.mark.parametrize("name", ["%73ig", "%53IG", "api%5Fkey", "x%2Damz%2Dsignature"])
    def test_percent_encoded_names_are_redacted(self, name: str) -> None:
        """A name is compared after percent-decoding; the encoded name itself is kept."""
        assert redact_query(f"x=1&{name}=v") == f"x=1&{name}={REDACTED}"

    def test_plus_encoded_space_around_name_is_redacted(self) -> None:
        """A ``+`` decoded to a space around the name does not hide it."""
        assert redact_query("+sig+=v") == f"+sig+={REDACTED}"

    def test_rest_of_query_is_kept_byte_for_byte(self) -> None:
        """Blank params, ``%20``, order and duplicates survive (upstream rebuilds the query)."""
        query = "c&d=&e=a%20b&f=x+y&sig=one&g=1&sig=two&c&z=%zz"
        expected = f"c&d=&e=a%20b&f=x+y&sig={REDACTED}&g=1&sig={REDACTED}&c&z=%zz"
        assert redact_query(query) == expected

    def test_empty_and_valueless_sensitive_params_are_kept(self) -> None:
        """``sig`` and ``sig=`` carry no secret and are left as they are."""
        assert redact_query("sig&sig=&a=1") == "sig&sig=&a=1"

    def test_value_with_equals_sign_is_redacted_whole(self) -> None:
        """Everything after the first ``=`` is the value, and all of it is replaced."""
        assert redact_query("token=a=b=c") == f"token={REDACTED}"

    def test_similar_names_are_not_redacted(self) -> None:
        """Only whole names match: ``signal``, ``mysig`` and ``sig_x`` are not sensitive."""
        query = "signal=1&mysig=2&sig_x=3&tokens=4"
        assert redact_query(query) == query

    def test_empty_query(self) -> None:
        """An empty query stays empty."""
        assert redact_query("") == ""


class TestRedactUrl:
    def test_credentials_and_query_together(self) -> None:
        """Userinfo and sensitive values are both removed from one URL."""
        url = "https://u:p@h/p?Signature=abc&x=1"
        assert redact_url(url) == f"https://REDACTED:REDACTED@h/p?Signature={REDACTED}&x=1"

    def test_fragment_parameters_are_redacted(self) -> None:
        """Sensitive parameters in a fragment (OAuth implicit flow) are redacted too."""
        url = "https://h/cb#access_token=abc&state=xyz"
        assert redact_url(url) == f"https://h/cb#access_token={REDACTED}&state=xyz"

    def test_fragment_after_query_is_kept(self) -> None:
        """A plain fragment after a redacted query is kept as it was."""
        url = "https://h/p?sig=abc#section-2"
        assert redact_url(url) == f"https://h/p?sig={REDACTED}#section-2"

    def test_question_mark_inside_fragment_is_not_a_query(self) -> None:
        """A ``?`` after ``#`` belongs to the fragment and leaves the path alone."""
        url = "https://h/p#frag?x=1"
        assert redact_url(url) == url

    def test_hash_router_fragment_query_is_redacted(self) -> None:
        """A single-page app's ``#/route?access_token=...`` fragment loses the token too."""
        url = "https://app.example/#/callback?access_token=abc&state=xyz"
        assert redact_url(url) == (
            f"https://app.example/#/callback?access_token={REDACTED}&state=xyz"
        )

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("/p?Signature=1", f"/p?Signature={REDACTED}"),
            ("?sig=1", f"?sig={REDACTED}"),
            ("p?token=1&a=2", f"p?token={REDACTED}&a=2"),
        ],
    )
    def test_relative_urls_are_redacted(self, url: str, expected: str) -> None:
        """Relative URLs and bare queries get the same query redaction."""
        assert redact_url(url) == expected

    @pytest.mark.parametrize(
        "url",
        [
            "https://h/p?a=1&b=&c#frag",
            "https://h/p?q=a%20b+c&q=d",
            "https://h/p",
            "https://h/users/@me?x=@",
            "/p",
        ],
    )
    def test_urls_without_secrets_are_unchanged(self, url: str) -> None:
        """A URL with nothing to redact is returned exactly as given."""
        assert redact_url(url) == url

    def test_redaction_is_idempotent(self) -> None:
        """Redacting twice gives the same string as redacting once."""
        url = "https://u:p@h/p?sig=abc&c&d=&e=%20#access_token=t"
        once = redact_url(url)
        assert redact_url(once) == once


class TestUrlRedactor:
    def test_from_env_adds_names(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Names in ``OTEL_PYTHON_INSTRUMENTATION_HTTP_REDACT_QUERY_PARAMS`` are added to the
        defaults, case-insensitively and ignoring empty items."""
        monkeypatch.setenv(SENSITIVE_QUERY_PARAMS_ENV, " Session , otp,")
        redactor = UrlRedactor.from_env()
        assert redactor.redact_query("session=1&OTP=2&sig=3&a=4") == (
            f"session={REDACTED}&OTP={REDACTED}&sig={REDACTED}&a=4"
        )
        assert "" not in redactor.names

    def test_from_env_extra_argument(self) -> None:
        """``extra`` names are added to the defaults."""
        redactor = UrlRedactor.from_env(extra=["code"])
        assert redactor.redact_url("/cb?code=abc&sig=x") == f"/cb?code={REDACTED}&sig={REDACTED}"

    def test_names_with_regex_characters_are_literal(self) -> None:
        """A configured name is matched literally, not as a regular expression."""
        redactor = UrlRedactor(["a.b"])
        assert redactor.redact_query("a.b=1&axb=2") == f"a.b={REDACTED}&axb=2"

    def test_custom_list_replaces_defaults(self) -> None:
        """A redactor built with its own list redacts only those names."""
        redactor = UrlRedactor(["only"])
        assert redactor.redact_query("only=1&sig=2") == f"only={REDACTED}&sig=2"

    def test_empty_list_redacts_no_query(self) -> None:
        """With no sensitive names, queries pass through; userinfo is still removed."""
        redactor = UrlRedactor([])
        assert redactor.redact_url("http://u@h/?sig=1") == "http://REDACTED:REDACTED@h/?sig=1"

    def test_redact_target_keeps_the_path(self) -> None:
        """``redact_target`` redacts the query of ``/path?query`` and leaves the path alone."""
        redactor = UrlRedactor()
        assert redactor.redact_target("/a/sig=1?sig=2&b=3") == f"/a/sig=1?sig={REDACTED}&b=3"
        assert redactor.redact_target("/a/b") == "/a/b"
        assert redactor.redact_target("/a?") == "/a?"


class TestRedactText:
    def test_query_values_quoted_in_an_error_message_are_redacted(self) -> None:
        """A client error quoting ``url: /x?token=abc`` loses the token, keeps the rest."""
        text = "Max retries exceeded with url: /x?a=1&token=abc (Caused by Refused)"
        assert UrlRedactor().redact_text(text) == (
            "Max retries exceeded with url: /x?a=1&token=REDACTED (Caused by Refused)"
        )

    def test_userinfo_of_a_url_in_text_is_redacted(self) -> None:
        """``https://user:pw@host`` anywhere in a traceback becomes ``REDACTED:REDACTED@``."""
        text = "GET 'https://alice:s3cret@example.com/p?Signature=zz' failed"
        out = UrlRedactor().redact_text(text)
        assert "s3cret" not in out
        assert "zz" not in out
        assert "https://REDACTED:REDACTED@example.com/p?Signature=REDACTED" in out

    def test_text_without_secrets_is_unchanged_and_redaction_is_idempotent(self) -> None:
        """Plain text passes through; redacting twice changes nothing more."""
        redactor = UrlRedactor()
        assert redactor.redact_text("x=1 and y=2, nothing secret") == "x=1 and y=2, nothing secret"
        once = redactor.redact_text("see http://h/?api_key=k1&x=2")
        assert redactor.redact_text(once) == once


class TestRedactedException:
    def test_event_attributes_and_description_carry_no_secret(self) -> None:
        """The ``exception`` event's message and stacktrace and the status description are
        redacted, the exception itself is untouched."""
        try:
            raise ConnectionError("failed on http://u:pw@h/x?password=hunter2")
        except ConnectionError as exc:
            attributes, description = redacted_exception(exc, UrlRedactor())
            error = exc
        assert "hunter2" not in attributes["exception.message"]
        assert "hunter2" not in attributes["exception.stacktrace"]
        assert "Traceback" in attributes["exception.stacktrace"]
        assert description.startswith("ConnectionError: failed on http://REDACTED:REDACTED@h/")
        assert "hunter2" in str(error)
