"""Excluded URLs: where the list comes from and what it matches."""

from __future__ import annotations

import logging

import pytest

from instrumentarium.util.http import (
    EXCLUDED_URLS_ENV,
    ExcludedUrls,
    excluded_urls_env,
    get_excluded_urls,
)

FLASK_ENV = "OTEL_PYTHON_FLASK_EXCLUDED_URLS"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "instrumentarium" and r.levelno == logging.WARNING
    ]


class TestSources:
    def test_variable_names(self) -> None:
        """The library variable is ``OTEL_PYTHON_<LIB>_EXCLUDED_URLS``, upper-cased."""
        assert excluded_urls_env("flask") == FLASK_ENV
        assert EXCLUDED_URLS_ENV == "OTEL_PYTHON_EXCLUDED_URLS"

    def test_kwarg_string_is_a_comma_list(self) -> None:
        """A string keyword argument is split on commas and each item is stripped."""
        excluded = ExcludedUrls.from_config("flask", " /health , /ready ")
        assert excluded.patterns == ("/health", "/ready")
        assert excluded.matches("http://h/ready")
        assert not excluded.matches("http://h/users")

    def test_kwarg_list(self) -> None:
        """A list keyword argument is used item by item."""
        excluded = ExcludedUrls.from_config("flask", ["/health", "/metrics"])
        assert excluded.matches("http://h/metrics")
        assert not excluded.matches("http://h/api")

    def test_kwarg_wins_over_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A keyword argument, even an empty one, means the environment is not read."""
        monkeypatch.setenv(FLASK_ENV, "/api")
        monkeypatch.setenv(EXCLUDED_URLS_ENV, "/api")
        assert not ExcludedUrls.from_config("flask", "/health").matches("http://h/api")
        assert not ExcludedUrls.from_config("flask", "").matches("http://h/api")

    def test_kwarg_with_non_strings_is_ignored_with_a_warning(
        self, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """A list holding something other than strings is reported and excludes nothing."""
        excluded = ExcludedUrls.from_config("flask", ["/health", 3])  # type: ignore[list-item]
        assert not excluded
        assert len(_warnings(warnings_log)) == 1

    def test_library_variable_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``OTEL_PYTHON_<LIB>_EXCLUDED_URLS`` is used instead of the generic variable."""
        monkeypatch.setenv(FLASK_ENV, "/specific")
        monkeypatch.setenv(EXCLUDED_URLS_ENV, "/generic")
        excluded = ExcludedUrls.from_config("flask")
        assert excluded.matches("http://h/specific")
        assert not excluded.matches("http://h/generic")
        assert excluded.source == FLASK_ENV

    def test_generic_variable_is_the_fallback(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the library variable unset, ``OTEL_PYTHON_EXCLUDED_URLS`` applies."""
        monkeypatch.setenv(EXCLUDED_URLS_ENV, "/generic")
        excluded = ExcludedUrls.from_config("flask")
        assert excluded.matches("http://h/generic")
        assert excluded.source == EXCLUDED_URLS_ENV

    def test_empty_library_variable_means_no_exclusions(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A library variable set to an empty string does not fall back to the generic one."""
        monkeypatch.setenv(FLASK_ENV, "")
        monkeypatch.setenv(EXCLUDED_URLS_ENV, "/generic")
        excluded = ExcludedUrls.from_config("flask")
        assert not excluded
        assert not excluded.matches("http://h/generic")

    def test_nothing_configured_excludes_nothing(self) -> None:
        """With no kwarg and no variable, no URL is excluded."""
        excluded = ExcludedUrls.from_config("flask")
        assert not excluded
        assert not excluded.matches("")
        assert not excluded.matches("http://h/")

    def test_get_excluded_urls_reads_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Upstream's ``get_excluded_urls(name)`` reads the same variables."""
        monkeypatch.setenv("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "admin")
        assert get_excluded_urls("DJANGO").matches("http://h/admin/login")


class TestMatching:
    def test_search_semantics_as_documented(self) -> None:
        """``client/.*/info,healthcheck`` (the OpenTelemetry docs' example) excludes by search."""
        excluded = ExcludedUrls.from_config("flask", "client/.*/info,healthcheck")
        assert excluded.matches("https://site/client/123/info")
        assert excluded.matches("https://site/xyz/healthcheck")
        assert excluded.matches("http://h/healthcheck?verbose=1")
        assert not excluded.matches("https://site/client/123")
        assert not excluded.matches("https://site/info")

    def test_matching_is_case_sensitive(self) -> None:
        """Patterns are case-sensitive, as upstream's."""
        excluded = ExcludedUrls.from_config("flask", "/health")
        assert not excluded.matches("http://h/HEALTH")

    def test_anchored_pattern_matches_only_whole_url(self) -> None:
        """An anchored pattern excludes the exact URL and nothing longer."""
        excluded = ExcludedUrls.from_config("flask", r"^https?://[^/]+/$")
        assert excluded.matches("http://h/")
        assert not excluded.matches("http://h/a")

    @pytest.mark.parametrize("value", ["health,", ",health", "health,,", " , health , "])
    def test_empty_items_do_not_exclude_everything(
        self, monkeypatch: pytest.MonkeyPatch, value: str
    ) -> None:
        """A trailing comma or an empty item is dropped (upstream's empty alternative matches
        every URL)."""
        monkeypatch.setenv(FLASK_ENV, value)
        excluded = ExcludedUrls.from_config("flask")
        assert excluded.patterns == ("health",)
        assert excluded.matches("http://h/health")
        assert not excluded.matches("http://h/users")

    def test_only_commas_exclude_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A value made only of separators excludes nothing."""
        monkeypatch.setenv(FLASK_ENV, " , ,")
        assert not ExcludedUrls.from_config("flask").matches("http://h/anything")

    def test_invalid_regex_warns_once_naming_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """An invalid pattern is reported once, naming the variable; the others still work."""
        monkeypatch.setenv(FLASK_ENV, "/health,([unclosed,/ready")
        excluded = ExcludedUrls.from_config("flask")
        ExcludedUrls.from_config("flask")
        warnings = _warnings(warnings_log)
        assert len(warnings) == 1
        assert FLASK_ENV in warnings[0].getMessage()
        assert "([unclosed" in warnings[0].getMessage()
        assert excluded.matches("http://h/health")
        assert excluded.matches("http://h/ready")
        assert not excluded.matches("http://h/([unclosed")
        assert excluded.patterns == ("/health", "/ready")

    def test_only_invalid_regexes_exclude_nothing(
        self, monkeypatch: pytest.MonkeyPatch, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """A list of invalid patterns excludes nothing instead of raising."""
        monkeypatch.setenv(EXCLUDED_URLS_ENV, "*oops")
        excluded = ExcludedUrls.from_config("flask")
        assert not excluded
        assert EXCLUDED_URLS_ENV in _warnings(warnings_log)[0].getMessage()

    @pytest.mark.parametrize("value", ["(?i)/health", "/ready,(?i)/health"])
    def test_inline_global_flag_does_not_crash(
        self, monkeypatch: pytest.MonkeyPatch, value: str
    ) -> None:
        """A pattern with a leading inline flag (``(?i)``), valid on its own, never makes
        configuration raise (Python 3.11 rejects global flags inside the joined alternation)."""
        monkeypatch.setenv(FLASK_ENV, value)
        excluded = ExcludedUrls.from_config("flask")
        assert not excluded.matches("http://h/users")
        assert excluded.matches("http://h/ready") is ("/ready" in value)


class TestIntrospection:
    def test_explain_names_the_matching_pattern(self) -> None:
        """``explain(url)`` returns the first pattern that excludes the URL, or None."""
        excluded = ExcludedUrls.from_config("flask", "/health,/ready,ready")
        assert excluded.explain("http://h/ready") == "/ready"
        assert excluded.explain("http://h/health") == "/health"
        assert excluded.explain("http://h/users") is None

    def test_url_disabled_is_upstreams_name_for_matches(self) -> None:
        """``url_disabled`` gives the same answers as ``matches``."""
        excluded = ExcludedUrls.from_config("flask", "/health")
        for url in ("http://h/health", "http://h/", ""):
            assert excluded.url_disabled(url) is excluded.matches(url)
        assert excluded.url_disabled("http://h/health") is True

    def test_bool_tells_whether_anything_is_excluded(self) -> None:
        """``bool()`` is True with at least one valid pattern, False otherwise."""
        assert ExcludedUrls(["x"])
        assert not ExcludedUrls([])
        assert not ExcludedUrls(["", ""])

    def test_any_iterable_of_patterns(self) -> None:
        """A generator of patterns works like a list, for matching and for ``explain``."""
        excluded = ExcludedUrls(p for p in ["/health"])
        assert excluded.matches("http://h/health")
        assert excluded.patterns == ("/health",)
        assert excluded.explain("http://h/health") == "/health"

    def test_repr_shows_patterns_and_source(self) -> None:
        """The repr names the patterns and where they came from, for debugging."""
        text = repr(ExcludedUrls.from_config("flask", "/a"))
        assert "/a" in text
        assert "excluded_urls" in text
