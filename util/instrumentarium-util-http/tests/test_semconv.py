"""``OTEL_SEMCONV_STABILITY_OPT_IN`` parsing, modes and schema URLs."""

from __future__ import annotations

import logging
import pickle

import pytest

from instrumentarium.util.semconv import (
    DEFAULT,
    DOMAINS,
    DUP,
    OPT_IN_ENV,
    STABLE,
    SemconvMode,
    opt_in_mode,
    opt_in_modes,
    schema_url,
)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "instrumentarium" and r.levelno == logging.WARNING
    ]


class TestModes:
    def test_flags(self) -> None:
        """DEFAULT emits old names, STABLE new ones, DUP both."""
        assert (DEFAULT.old, DEFAULT.new) == (True, False)
        assert (STABLE.old, STABLE.new) == (False, True)
        assert (DUP.old, DUP.new) == (True, True)

    def test_modes_are_immutable(self) -> None:
        """A mode cannot be changed after creation."""
        with pytest.raises(AttributeError):
            DEFAULT.old = False  # type: ignore[misc]

    def test_modes_pickle_to_the_same_object(self) -> None:
        """Pickling keeps identity, so ``is`` comparisons survive multiprocessing."""
        for mode in (DEFAULT, STABLE, DUP):
            assert pickle.loads(pickle.dumps(mode)) is mode

    def test_repr(self) -> None:
        """The repr names the mode."""
        assert repr(DUP) == "SemconvMode.DUP"
        assert isinstance(DUP, SemconvMode)


class TestOptInModes:
    def test_unset_is_default_everywhere(self) -> None:
        """With the variable unset, every domain emits the old names."""
        assert opt_in_modes() == dict.fromkeys(DOMAINS, DEFAULT)

    @pytest.mark.parametrize(("value", "expected"), [("http", STABLE), ("http/dup", DUP)])
    def test_http(self, monkeypatch: pytest.MonkeyPatch, value: str, expected: SemconvMode) -> None:
        """``http`` selects the stable names, ``http/dup`` both; other domains stay default."""
        monkeypatch.setenv(OPT_IN_ENV, value)
        modes = opt_in_modes()
        assert modes["http"] is expected
        assert modes["database"] is DEFAULT
        assert opt_in_mode("http") is expected

    @pytest.mark.parametrize("value", ["http,http/dup", "http/dup,http"])
    def test_dup_wins(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        """With both ``http`` and ``http/dup``, ``/dup`` wins whatever the order."""
        monkeypatch.setenv(OPT_IN_ENV, value)
        assert opt_in_mode("http") is DUP

    def test_whitespace_around_tokens(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Tokens are stripped; empty tokens are ignored."""
        monkeypatch.setenv(OPT_IN_ENV, "  http/dup ,, database ,")
        assert opt_in_mode("http") is DUP
        assert opt_in_mode("database") is STABLE

    @pytest.mark.parametrize("domain", ["database", "rpc", "messaging"])
    def test_other_domains(self, monkeypatch: pytest.MonkeyPatch, domain: str) -> None:
        """Each domain has its own token and ``/dup`` variant, independent of ``http``."""
        monkeypatch.setenv(OPT_IN_ENV, domain)
        assert opt_in_mode(domain) is STABLE
        assert opt_in_mode("http") is DEFAULT
        monkeypatch.setenv(OPT_IN_ENV, f"{domain}/dup")
        assert opt_in_mode(domain) is DUP

    def test_explicit_value_wins_over_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A value passed as argument is parsed instead of the environment."""
        monkeypatch.setenv(OPT_IN_ENV, "http")
        assert opt_in_mode("http", "") is DEFAULT
        assert opt_in_mode("http", "http/dup") is DUP

    def test_read_at_each_call(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Unlike upstream, the value is not cached for the life of the process."""
        assert opt_in_mode("http") is DEFAULT
        monkeypatch.setenv(OPT_IN_ENV, "http")
        assert opt_in_mode("http") is STABLE


class TestUnknownTokens:
    def test_unknown_token_warns_once(
        self, monkeypatch: pytest.MonkeyPatch, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """An unknown token is ignored and reported once, naming the variable."""
        monkeypatch.setenv(OPT_IN_ENV, "http,htp")
        assert opt_in_mode("http") is STABLE
        opt_in_mode("http")
        warnings = _warnings(warnings_log)
        assert len(warnings) == 1
        assert OPT_IN_ENV in warnings[0]
        assert "'htp'" in warnings[0]

    def test_upper_case_token_gets_a_hint(
        self, monkeypatch: pytest.MonkeyPatch, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """``HTTP`` is not ``http``: it is ignored, and the warning suggests the right token."""
        monkeypatch.setenv(OPT_IN_ENV, "HTTP")
        assert opt_in_mode("http") is DEFAULT
        (warning,) = _warnings(warnings_log)
        assert "case-sensitive" in warning
        assert "'http'" in warning

    def test_tokens_of_other_components_are_silent(
        self, monkeypatch: pytest.MonkeyPatch, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """Tokens other OpenTelemetry components use (``gen_ai_latest_experimental``) are
        accepted without a warning."""
        monkeypatch.setenv(OPT_IN_ENV, "gen_ai_latest_experimental,http")
        assert opt_in_mode("http") is STABLE
        assert _warnings(warnings_log) == []

    def test_unknown_domain_raises(self) -> None:
        """Asking for a domain that does not exist is a programming error."""
        with pytest.raises(ValueError, match="bogus"):
            opt_in_mode("bogus")


class TestSchemaUrl:
    def test_old_names_use_1_11(self) -> None:
        """The old names are schema 1.11.0 in every domain."""
        for domain in DOMAINS:
            assert schema_url(domain, DEFAULT) == "https://opentelemetry.io/schemas/1.11.0"

    @pytest.mark.parametrize("mode", [STABLE, DUP])
    def test_stable_http_uses_1_21(self, mode: SemconvMode) -> None:
        """Stable HTTP names (alone or duplicated) declare schema 1.21.0, as upstream."""
        assert schema_url("http", mode) == "https://opentelemetry.io/schemas/1.21.0"

    def test_database_uses_1_25(self) -> None:
        """Stable database names declare schema 1.25.0, as upstream."""
        assert schema_url("database", STABLE) == "https://opentelemetry.io/schemas/1.25.0"
