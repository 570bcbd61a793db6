"""HTTP method normalisation: known methods, ``_OTHER`` and the two environment variables."""

from __future__ import annotations

import pytest

from instrumentarium.util.http import (
    CAPTURE_ALL_METHODS_ENV,
    DEFAULT_KNOWN_METHODS,
    KNOWN_METHODS_ENV,
    OTHER_METHOD,
    MethodNormalizer,
    sanitize_method,
)


class TestDefaults:
    def test_default_known_methods(self) -> None:
        """The default set is RFC 9110's methods plus PATCH and QUERY, as upstream."""
        assert (
            frozenset(
                {
                    "GET",
                    "HEAD",
                    "POST",
                    "PUT",
                    "DELETE",
                    "CONNECT",
                    "OPTIONS",
                    "TRACE",
                    "PATCH",
                    "QUERY",
                }
            )
            == DEFAULT_KNOWN_METHODS
        )

    @pytest.mark.parametrize("method", sorted(DEFAULT_KNOWN_METHODS))
    def test_known_method_passes_without_original(self, method: str) -> None:
        """A known method in upper case comes back as is, with no original."""
        assert MethodNormalizer().normalize(method) == (method, None)

    def test_lower_case_method_is_upper_cased_with_original(self) -> None:
        """``get`` gives ``("GET", "get")``: the original differs, so it is reported."""
        assert MethodNormalizer().normalize("get") == ("GET", "get")

    def test_unknown_method_is_other_with_original(self) -> None:
        """An unknown method becomes ``_OTHER`` and keeps the raw method as original."""
        assert MethodNormalizer().normalize("PURGE") == (OTHER_METHOD, "PURGE")
        assert OTHER_METHOD == "_OTHER"

    def test_whitespace_is_stripped(self) -> None:
        """Surrounding whitespace is not part of the method."""
        assert MethodNormalizer().normalize(" GET ") == ("GET", None)

    def test_empty_method_is_other_without_original(self) -> None:
        """An empty method is ``_OTHER`` and has nothing to report as original."""
        assert MethodNormalizer().normalize("") == (OTHER_METHOD, None)

    def test_repeated_calls_agree(self) -> None:
        """The per-method cache returns the same answer as the first computation."""
        normalizer = MethodNormalizer()
        assert normalizer.normalize("purge") == normalizer.normalize("purge")
        assert normalizer.normalize("purge") == (OTHER_METHOD, "purge")


class TestEnvironment:
    def test_known_methods_variable_replaces_the_set(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`` replaces the default set entirely."""
        monkeypatch.setenv(KNOWN_METHODS_ENV, "GET, purge ,")
        normalizer = MethodNormalizer.from_env()
        assert normalizer.known == frozenset({"GET", "PURGE"})
        assert normalizer.normalize("PURGE") == ("PURGE", None)
        assert normalizer.normalize("POST") == (OTHER_METHOD, "POST")

    def test_empty_known_methods_variable_keeps_defaults(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An empty known-methods variable is the same as unset."""
        monkeypatch.setenv(KNOWN_METHODS_ENV, "")
        assert MethodNormalizer.from_env().known == DEFAULT_KNOWN_METHODS

    @pytest.mark.parametrize("value", ["1", "true", "0"])
    def test_capture_all_methods(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        """Any non-empty ``OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS`` keeps every
        method (upper-cased), even ``0``, as upstream."""
        monkeypatch.setenv(CAPTURE_ALL_METHODS_ENV, value)
        normalizer = MethodNormalizer.from_env()
        assert normalizer.capture_all
        assert normalizer.normalize("purge") == ("PURGE", "purge")
        assert normalizer.normalize("NONSTANDARD") == ("NONSTANDARD", None)

    def test_capture_all_methods_empty_is_off(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An empty capture-all variable leaves folding to ``_OTHER`` on."""
        monkeypatch.setenv(CAPTURE_ALL_METHODS_ENV, "")
        assert MethodNormalizer.from_env().normalize("PURGE")[0] == OTHER_METHOD

    def test_from_env_reads_at_construction(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A normalizer built before the variable changes keeps its configuration."""
        normalizer = MethodNormalizer.from_env()
        monkeypatch.setenv(CAPTURE_ALL_METHODS_ENV, "1")
        assert normalizer.normalize("PURGE")[0] == OTHER_METHOD


class TestSanitizeMethod:
    def test_none(self) -> None:
        """``sanitize_method(None)`` is None, as upstream."""
        assert sanitize_method(None) is None

    def test_known_and_unknown(self) -> None:
        """Known methods are upper-cased, unknown ones become ``_OTHER``."""
        assert sanitize_method("get") == "GET"
        assert sanitize_method("QUERY") == "QUERY"
        assert sanitize_method("PURGE") == OTHER_METHOD

    def test_reads_environment_per_call(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Upstream's helper honours the capture-all variable at call time."""
        assert sanitize_method("purge") == OTHER_METHOD
        monkeypatch.setenv(CAPTURE_ALL_METHODS_ENV, "1")
        assert sanitize_method("purge") == "PURGE"
