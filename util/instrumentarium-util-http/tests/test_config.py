"""Configuration helpers, once-only warnings and safe user hooks."""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import Callable, Optional

import pytest

from instrumentarium.util.config import (
    OFF,
    ActiveConfig,
    Config,
    ProviderConfig,
    compile_patterns,
    env_flag,
    env_list,
    option,
    split_comma_list,
)
from instrumentarium.util.patching import Patch, PatchSet
from instrumentarium.util.safety import logger, safe_hook, warn_once

FLAG = "OTEL_PYTHON_TEST_FLAG"


def _records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "instrumentarium" and r.levelno == level]


class TestWarnOnce:
    def test_logger_name(self) -> None:
        """Everything is logged under ``instrumentarium``."""
        assert logger.name == "instrumentarium"

    def test_warning_first_then_debug(self, warnings_log: pytest.LogCaptureFixture) -> None:
        """The first message for a key is a WARNING, repeats are DEBUG."""
        warn_once("key-a", "problem %s", 1)
        warn_once("key-a", "problem %s", 2)
        warn_once("key-b", "other")
        assert [r.getMessage() for r in _records(warnings_log, logging.WARNING)] == [
            "problem 1",
            "other",
        ]
        assert [r.getMessage() for r in _records(warnings_log, logging.DEBUG)] == ["problem 2"]


class TestEnvFlag:
    @pytest.mark.parametrize("value", ["true", "TRUE", " True ", "1", "yes", "on"])
    def test_true_values(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        """``true``/``1``/``yes``/``on`` (any case, stripped) are True."""
        monkeypatch.setenv(FLAG, value)
        assert env_flag(FLAG, False) is True

    @pytest.mark.parametrize("value", ["false", "False", "0", "no", "off"])
    def test_false_values(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        """``false``/``0``/``no``/``off`` are False."""
        monkeypatch.setenv(FLAG, value)
        assert env_flag(FLAG, True) is False

    @pytest.mark.parametrize("default", [True, False])
    def test_unset_and_empty_give_default(
        self, monkeypatch: pytest.MonkeyPatch, default: bool
    ) -> None:
        """Unset or empty gives the default, silently."""
        assert env_flag(FLAG, default) is default
        monkeypatch.setenv(FLAG, " ")
        assert env_flag(FLAG, default) is default

    def test_invalid_value_warns_once_and_gives_default(
        self, monkeypatch: pytest.MonkeyPatch, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """A value that is not a boolean is reported once, naming the variable and value."""
        monkeypatch.setenv(FLAG, "maybe")
        assert env_flag(FLAG, True) is True
        assert env_flag(FLAG, True) is True
        (warning,) = _records(warnings_log, logging.WARNING)
        assert FLAG in warning.getMessage()
        assert "maybe" in warning.getMessage()


class TestLists:
    def test_env_list_unset_is_none(self) -> None:
        """An unset variable is None, so callers can tell it from an empty list."""
        assert env_list("OTEL_PYTHON_TEST_LIST") is None

    def test_env_list_set(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A set variable is split, stripped and cleared of empty items."""
        monkeypatch.setenv("OTEL_PYTHON_TEST_LIST", " a, b ,,c, ")
        assert env_list("OTEL_PYTHON_TEST_LIST") == ["a", "b", "c"]
        monkeypatch.setenv("OTEL_PYTHON_TEST_LIST", "")
        assert env_list("OTEL_PYTHON_TEST_LIST") == []

    def test_split_comma_list_drops_empty_items(self) -> None:
        """A trailing comma or doubled comma adds no empty item."""
        assert split_comma_list("a,,b,") == ["a", "b"]
        assert split_comma_list("") == []


class TestCompilePatterns:
    def test_alternation(self) -> None:
        """The patterns are joined so that each keeps its own alternatives."""
        compiled = compile_patterns(["a|b", "^c$"], source="S")
        assert compiled is not None
        assert compiled.search("xb")
        assert compiled.search("c")
        assert not compiled.search("xc")

    def test_none_when_empty(self) -> None:
        """No usable pattern gives None."""
        assert compile_patterns([], source="S") is None
        assert compile_patterns(["", ""], source="S") is None

    def test_flags_apply(self) -> None:
        """Flags given are applied to the joined regex."""
        import re

        compiled = compile_patterns(["abc"], source="S", flags=re.IGNORECASE)
        assert compiled is not None
        assert compiled.search("ABC")

    def test_invalid_pattern_skipped_with_one_warning(
        self, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """An invalid pattern is reported with its source and skipped; the rest compile."""
        compiled = compile_patterns(["ok", "(bad"], source="MY_VAR")
        compile_patterns(["ok", "(bad"], source="MY_VAR")
        assert compiled is not None
        assert compiled.search("ok")
        (warning,) = _records(warnings_log, logging.WARNING)
        assert "MY_VAR" in warning.getMessage()
        assert "(bad" in warning.getMessage()

    def test_duplicate_group_name_skips_the_later_pattern(
        self, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """Two patterns naming the same group are each valid alone but not together: the later
        one is reported with its source and skipped, the others are kept."""
        compiled = compile_patterns(["(?P<x>a)", "(?P<x>b)", "c"], source="DUP_VAR")
        assert compiled is not None
        assert compiled.search("a")
        assert compiled.search("c")
        assert not compiled.search("b")
        (warning,) = _records(warnings_log, logging.WARNING)
        assert "DUP_VAR" in warning.getMessage()
        assert "(?P<x>b)" in warning.getMessage()

    def test_many_patterns_compile_in_linear_work(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """1,000 patterns cost work linear in their total length: each is compiled once alone
        and the alternation once (not the growing alternation once per pattern, which made
        ``instrument()`` take seconds)."""
        import re

        compiled_text: list[int] = []
        real_compile = re.compile

        def counting_compile(pattern: str, flags: int = 0) -> re.Pattern[str]:
            compiled_text.append(len(pattern))
            return real_compile(pattern, flags)

        patterns = [f"/path/number/{i}/" for i in range(1000)]
        monkeypatch.setattr(re, "compile", counting_compile)
        compiled = compile_patterns(patterns, source="MANY_VAR")
        monkeypatch.undo()
        assert compiled is not None
        assert compiled.search("http://h/path/number/999/x")
        given = sum(len(p) for p in patterns)
        assert len(compiled_text) <= 2 * len(patterns) + 1
        assert sum(compiled_text) <= 3 * given  # each piece, wrapped, twice: alone and joined

    def test_failure_only_in_the_alternation_is_found_by_bisection(
        self, monkeypatch: pytest.MonkeyPatch, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """Should the joined alternation fail although every piece compiled alone, the piece
        that breaks it is found by bisection (a few compiles, not one per pattern), reported
        and skipped; the rest are kept."""
        import re

        real_compile = re.compile
        joined_compiles: list[str] = []

        def clashing_compile(pattern: str, flags: int = 0) -> re.Pattern[str]:
            if "|" in pattern:
                joined_compiles.append(pattern)
                if "AAA" in pattern and "BBB" in pattern:
                    raise re.error("AAA and BBB cannot be together")
            return real_compile(pattern, flags)

        patterns = ["AAA", *(f"p{i}" for i in range(60)), "BBB", "q"]
        monkeypatch.setattr(re, "compile", clashing_compile)
        compiled = compile_patterns(patterns, source="BISECT_VAR")
        monkeypatch.undo()
        assert compiled is not None
        assert compiled.search("AAA")
        assert compiled.search("p59")
        assert compiled.search("q")
        assert not compiled.search("BBB")
        assert len(joined_compiles) <= 2 + 2 * (len(patterns).bit_length())
        (warning,) = _records(warnings_log, logging.WARNING)
        assert "BISECT_VAR" in warning.getMessage()
        assert "BBB" in warning.getMessage()


class TestSafeHook:
    def test_none(self) -> None:
        """No hook gives None, so callers skip the call entirely."""
        assert safe_hook(None, "request_hook") is None

    def test_not_callable_is_reported_and_ignored(
        self, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """A value that is not callable is reported once, naming the option, and ignored."""
        assert safe_hook("not a function", "request_hook") is None
        (warning,) = _records(warnings_log, logging.WARNING)
        assert "request_hook" in warning.getMessage()

    def test_arguments_are_passed_and_return_value_ignored(self) -> None:
        """The hook gets the positional arguments; its return value is not passed on."""
        calls = []

        def hook(*args: object) -> str:
            calls.append(args)
            return "ignored"

        wrapped = safe_hook(hook, "request_hook")
        assert wrapped is not None
        assert wrapped(1, "two") is None
        assert calls == [(1, "two")]
        assert wrapped.__wrapped__ is hook  # type: ignore[attr-defined]

    def test_raising_hook_logged_once_at_warning_then_debug(
        self, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """A failing hook is swallowed: WARNING with traceback the first time, DEBUG after."""

        def hook(span: object) -> None:
            raise RuntimeError("hook failed")

        wrapped = safe_hook(hook, "response_hook")
        assert wrapped is not None
        wrapped("span")
        wrapped("span")
        (warning,) = _records(warnings_log, logging.WARNING)
        assert "response_hook" in warning.getMessage()
        assert warning.exc_info is not None
        assert isinstance(warning.exc_info[1], RuntimeError)
        (debug,) = _records(warnings_log, logging.DEBUG)
        assert "response_hook" in debug.getMessage()

    def test_each_hook_has_its_own_first_failure(
        self, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """Two different hooks each get their own WARNING for their first failure."""

        def hook() -> None:
            raise ValueError

        first, second = safe_hook(hook, "a"), safe_hook(hook, "b")
        assert first is not None
        assert second is not None
        first()
        second()
        assert len(_records(warnings_log, logging.WARNING)) == 2

    def test_base_exceptions_propagate(self) -> None:
        """``KeyboardInterrupt`` and ``SystemExit`` from a hook are not swallowed."""

        def hook() -> None:
            raise KeyboardInterrupt

        wrapped = safe_hook(hook, "request_hook")
        assert wrapped is not None
        with pytest.raises(KeyboardInterrupt):
            wrapped()


class TestDeclaredOptions:
    """``Config`` subclasses declare each option once; resolution and docs derive from it."""

    @staticmethod
    def _config() -> type[Config]:
        class DemoConfig(Config):
            request_hook: Optional[Callable[..., None]] = option(None, doc="called first")
            enabled: bool = option(
                True, env="OTEL_PYTHON_TEST_ENABLED", parse=_flag, doc="on or off"
            )
            excluded_urls: Optional[str] = option(
                None, env=("OTEL_PYTHON_TEST_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"), doc="x"
            )
            names: list[str] = option([], doc="a list")
            not_an_option: int = 3

        return DemoConfig

    def test_options_in_declaration_order(self) -> None:
        """Only ``option()`` fields are options, with their env names and docs."""
        options = self._config().options()
        assert [o.name for o in options] == ["request_hook", "enabled", "excluded_urls", "names"]
        assert options[1].env == ("OTEL_PYTHON_TEST_ENABLED",)
        assert options[2].env == ("OTEL_PYTHON_TEST_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS")
        assert options[0].doc == "called first"
        assert "bool" in options[1].type

    def test_kwarg_then_env_then_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A keyword wins, None counts as not given, then the variable, then the default."""
        config_type = self._config()
        assert config_type.resolve({}).enabled is True  # type: ignore[attr-defined]
        monkeypatch.setenv("OTEL_PYTHON_TEST_ENABLED", "false")
        assert config_type.resolve({}).enabled is False  # type: ignore[attr-defined]
        assert config_type.resolve({"enabled": None}).enabled is False  # type: ignore[attr-defined]
        assert config_type.resolve({"enabled": True}).enabled is True  # type: ignore[attr-defined]

    def test_unknown_keywords_ignored_and_frozen(self) -> None:
        """Keywords that are not options are ignored, as upstream does; the result is frozen."""
        config = self._config().resolve({"skip_dep_check": True})
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.enabled = False  # type: ignore[attr-defined,misc]

    def test_mutable_defaults_are_copied(self) -> None:
        """Two configurations never share a list default."""
        config_type = self._config()
        assert config_type.resolve({}).names is not config_type.resolve({}).names  # type: ignore[attr-defined]

    def test_behaves_like_a_frozen_keyword_only_dataclass(self) -> None:
        """The class builder gives what ``@dataclass(frozen=True, kw_only=True)`` would: every
        field on the instance (plain ones too), equality and hash by value, a readable repr,
        clear errors for unknown or positional arguments, no deleting."""
        config_type = self._config()
        first = config_type(enabled=False)
        assert first == config_type(enabled=False)
        assert first != config_type(enabled=True)
        assert first != object()
        assert first.not_an_option == 3  # type: ignore[attr-defined]
        assert "not_an_option" not in vars(config_type)  # the default lives on the instance
        assert repr(first) == (
            "TestDeclaredOptions._config.<locals>.DemoConfig(request_hook=None, enabled=False,"
            " excluded_urls=None, names=[], not_an_option=3)"
        )
        with pytest.raises(TypeError, match="unexpected keyword"):
            config_type(nope=1)
        with pytest.raises(TypeError):
            config_type(None)  # type: ignore[misc]  # keyword-only, as upstream's keywords
        with pytest.raises(dataclasses.FrozenInstanceError):
            del first.enabled  # type: ignore[attr-defined]
        hashable = _WithProviders()
        assert hash(hashable) == hash(_WithProviders())

    def test_a_subclass_redeclares_a_field_in_place(self) -> None:
        """A subclass may change an inherited field's default: it keeps its position."""

        class Narrower(_WithProviders):
            tracer_provider: Optional[object] = option("mine", doc="where spans go here")

        assert [opt.name for opt in Narrower.options()] == [
            "tracer_provider",
            "meter_provider",
            "hook",
        ]
        assert Narrower.options()[0].default == "mine"
        assert Narrower().tracer_provider == "mine"
        assert _WithProviders().tracer_provider is None

    def test_bad_env_value_warns_and_uses_default(
        self, monkeypatch: pytest.MonkeyPatch, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """A value the parser rejects is reported, naming the variable, and the default used."""
        monkeypatch.setenv("OTEL_PYTHON_TEST_ENABLED", "perhaps")
        assert self._config().resolve({}).enabled is True  # type: ignore[attr-defined]
        assert "OTEL_PYTHON_TEST_ENABLED" in warnings_log.text


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ValueError("not a boolean")
    return value == "true"


class _Target:
    pass


class _Slotted:
    __slots__ = ("__weakref__",)


class TestActiveConfig:
    """One holder: the global configuration, per-object overrides with OFF, the patch set."""

    def test_global_own_and_off(self) -> None:
        """An object's own configuration wins; OFF hides the global one; None follows it."""
        holder: ActiveConfig[str] = ActiveConfig("_test_config")
        app = _Target()
        assert holder.config_for(app) is None
        holder.set_global("global")
        assert holder.config_for(app) == "global"
        holder.set_own(app, "own")
        assert holder.config_for(app) == "own"
        assert holder.own(app) == "own"
        holder.set_own(app, OFF)
        assert holder.config_for(app) is None
        holder.set_own(app, None)
        assert holder.config_for(app) == "global"
        assert "_test_config" not in app.__dict__

    def test_objects_without_dict(self) -> None:
        """Objects with ``__slots__`` are held weakly beside the holder."""
        holder: ActiveConfig[str] = ActiveConfig("_test_config")
        obj = _Slotted()
        holder.set_own(obj, "own")
        assert holder.config_for(obj) == "own"
        holder.set_own(obj, None)
        assert holder.config_for(obj) is None

    def test_patch_set_follows_activity(self) -> None:
        """The patch set is applied while anything is instrumented, removed after."""
        import types

        module = types.ModuleType("_instrumentarium_active_config_target")
        module.f = lambda: 1  # type: ignore[attr-defined]
        sys.modules[module.__name__] = module
        try:
            patches = PatchSet([Patch(module.__name__, "f", lambda w, i, a, k: 2)])
            holder: ActiveConfig[str] = ActiveConfig("_test_config", patches)
            app = _Target()
            holder.set_own(app, "own")
            assert module.f() == 2  # type: ignore[attr-defined]
            holder.set_global("global")
            holder.set_own(app, None)
            assert module.f() == 2  # type: ignore[attr-defined]
            holder.set_global(None)
            assert module.f() == 1  # type: ignore[attr-defined]
            assert not holder.active
        finally:
            del sys.modules[module.__name__]


class _WithProviders(ProviderConfig):
    hook: Optional[Callable[[], None]] = option(None, doc="a hook")


def test_provider_config_declares_the_providers_first_once() -> None:
    names = [opt.name for opt in _WithProviders.options()]
    assert names == ["tracer_provider", "meter_provider", "hook"]
    provider = object()
    config = _WithProviders.resolve({"meter_provider": provider, "unknown": 1})
    assert config.meter_provider is provider
    assert config.tracer_provider is None


class _NoWeakref:
    __slots__ = ("x",)


def test_objects_that_cannot_have_their_own_follow_the_global() -> None:
    """None (a wrapped function's instance), ints and slotted objects: no own configuration,
    the global one applies, and asking never raises on the per-call path."""
    holder: ActiveConfig[str] = ActiveConfig("_own", PatchSet([]))
    holder.set_global("global")
    try:
        for obj in (None, 3, _NoWeakref()):
            assert holder.config_for(obj) == "global"
            assert holder.own(obj) is None
            holder.set_own(obj, None)  # forgetting nothing is fine
            with pytest.raises(TypeError, match="no configuration of its own"):
                holder.set_own(obj, "own")
    finally:
        holder.set_global(None)
