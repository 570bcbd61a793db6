"""The start-up summary's pieces: the patch-set registry it asks, its text, when it is made and
where it goes. The summary under the real agent is tested in tests/test_startup_summary.py."""

from __future__ import annotations

import inspect
import itertools
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.instrumentation.dependencies import DependencyConflict

from instrumentarium.util import startup
from instrumentarium.util.patching import Patch, PatchSet, active_patch_sets
from instrumentarium.util.startup import EntryPointStatus, format_summary, log_startup_summary

_counter = itertools.count()


def add_one(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs) + 1


@pytest.fixture
def module_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a not-yet-imported module file on ``sys.path``, never used before in this
    process (wrapt 1.x remembers fired hooks by module name)."""
    name = f"instrumentarium_startup_target_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text("def func():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


class TestPatchSetRegistry:
    def test_applied_sets_are_listed_until_removed(self, module_on_disk: str) -> None:
        """``active_patch_sets()`` holds a set from ``apply()`` to ``remove()``, no longer."""
        patches = PatchSet([Patch(module_on_disk, "func", add_one)])
        assert patches not in active_patch_sets()
        patches.apply()
        try:
            assert patches in active_patch_sets()
        finally:
            patches.remove()
        assert patches not in active_patch_sets()

    def test_waiting_for_names_modules_until_their_import(self, module_on_disk: str) -> None:
        """An applied set waits for its module until the module is imported, then for
        nothing, and its patch is in place."""
        patches = PatchSet([Patch(module_on_disk, "func", add_one)])
        assert patches.waiting_for == ()  # not applied: waits for nothing
        patches.apply()
        try:
            assert patches.waiting_for == (module_on_disk,)
            module = __import__(module_on_disk)
            assert patches.waiting_for == ()
            assert module.func() == 2
        finally:
            patches.remove()

    def test_removed_set_waits_for_nothing(self, module_on_disk: str) -> None:
        """After ``remove()`` the disarmed hook is not reported as waiting."""
        patches = PatchSet([Patch(module_on_disk, "func", add_one)])
        patches.apply()
        patches.remove()
        assert patches.waiting_for == ()


def _status(name: str, state: str, detail: str = "", *also_by: str) -> EntryPointStatus:
    return EntryPointStatus(name, f"instrumentarium.{name}:X", state, detail, also_by)


class TestFormatSummary:
    def test_header_counts_states_in_a_fixed_order(self) -> None:
        """The header counts each state present, in the order instrumented, deferred,
        disabled, skipped, failed; absent states are left out."""
        text = format_summary(
            [
                _status("a", "skipped", "not installed: a >=1"),
                _status("b", "instrumented"),
                _status("c", "deferred", "patched on first import of c"),
                _status("d", "deferred", "patched on first import of d"),
            ]
        )
        assert text.splitlines()[0] == (
            "instrumentarium start-up: 1 instrumented, 2 deferred, 1 skipped"
        )

    def test_one_aligned_line_per_entry_point(self) -> None:
        """Each entry point gets a line: name, state and detail in aligned columns."""
        lines = format_summary(
            [_status("redis", "deferred", "why"), _status("grpc_client", "disabled", "x")]
        ).splitlines()
        assert lines[1:] == [
            "  redis        deferred      why",
            "  grpc_client  disabled      x",
        ]

    def test_second_instrumentor_is_named_when_both_are_active(self) -> None:
        """A second active instrumentor for the same name is named with a 'traced twice'
        warning; on a disabled or skipped line it is not (nothing of ours runs)."""
        doubled = _status("requests", "instrumented", "requests 2.0", "other-dist 1.0 (m:C)")
        skipped = _status("flask", "skipped", "not installed: flask", "other 1.0 (m:C)")
        lines = format_summary([doubled, skipped]).splitlines()
        assert lines[1].endswith(
            "requests 2.0; also instrumented by other-dist 1.0 (m:C): each call is traced twice"
        )
        assert "twice" not in lines[2]
        assert doubled.doubled
        assert not skipped.doubled

    def test_empty(self) -> None:
        """With no entry point at all the summary says so."""
        assert format_summary([]) == "instrumentarium start-up: no entry points found"


class TestConflictReason:
    def test_version_outside_the_range(self) -> None:
        """A version conflict gives the installed version and the range, without the extra."""
        conflict = DependencyConflict('redis >= 2.6; extra == "instruments"', "redis 2.0")
        assert startup._conflict_reason(conflict) == (
            "redis 2.0 is outside the supported range redis >=2.6"
        )

    def test_not_installed(self) -> None:
        """A missing library is 'not installed', with the range it would need."""
        conflict = DependencyConflict('redis >= 2.6; extra == "instruments"')
        assert startup._conflict_reason(conflict) == "not installed: redis >=2.6"

    @pytest.mark.skipif(
        "required_any" not in inspect.signature(DependencyConflict).parameters,
        reason="this opentelemetry-instrumentation has no instruments-any conflicts",
    )
    def test_any_of(self) -> None:
        """``instruments-any``: every alternative is named, and the versions found."""
        missing = DependencyConflict(required_any=["a >= 1", "b >= 2"], found_any=[])
        outside = DependencyConflict(required_any=["a >= 1", "b >= 2"], found_any=["a 0.5"])
        assert startup._conflict_reason(missing) == "not installed: any of a >=1, b >=2"
        assert startup._conflict_reason(outside) == (
            "a 0.5 outside the supported ranges: any of a >=1, b >=2"
        )


class TestDisabledNames:
    def test_read_as_the_agent_reads_them(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Comma-separated, each item stripped, as the agent splits the variable."""
        monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", " redis , kafka,")
        assert {"redis", "kafka"} <= startup._disabled_names()

    def test_unset_disables_nothing(self) -> None:
        """Without the variable nothing is disabled."""
        assert startup._disabled_names() == frozenset()


class _Collect(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def no_metadata_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every entry-point read the summary makes."""
    reads: list[str] = []

    def entry_points(**params: Any) -> list[Any]:
        reads.append(str(params))
        return []

    monkeypatch.setattr(startup, "entry_points", entry_points)
    return reads


class TestLogStartupSummary:
    def test_below_debug_reads_nothing_and_logs_nothing(
        self, caplog: pytest.LogCaptureFixture, no_metadata_reads: list[str]
    ) -> None:
        """At INFO and without OTEL_LOG_LEVEL=debug: no entry point read, no record."""
        caplog.set_level(logging.INFO, logger="instrumentarium")
        log_startup_summary()
        assert no_metadata_reads == []
        assert caplog.records == []

    def test_debug_logger_gets_one_record(
        self, caplog: pytest.LogCaptureFixture, no_metadata_reads: list[str]
    ) -> None:
        """With the ``instrumentarium`` logger at DEBUG: one DEBUG record, the summary."""
        caplog.set_level(logging.DEBUG, logger="instrumentarium")
        log_startup_summary()
        assert no_metadata_reads != []
        [record] = caplog.records
        assert (record.name, record.levelno) == ("instrumentarium", logging.DEBUG)
        assert record.getMessage().startswith("instrumentarium start-up:")

    def test_otel_log_level_debug_reaches_the_handlers(
        self, monkeypatch: pytest.MonkeyPatch, no_metadata_reads: list[str]
    ) -> None:
        """``OTEL_LOG_LEVEL=debug`` makes the summary even with the logger at WARNING, and the
        configured handlers get it; a handler's own level still applies."""
        logger = logging.getLogger("instrumentarium")
        everything, warnings_only = _Collect(logging.NOTSET), _Collect(logging.WARNING)
        monkeypatch.setattr(logger, "level", logging.WARNING)
        monkeypatch.setattr(logger, "handlers", [everything, warnings_only])
        monkeypatch.setenv("OTEL_LOG_LEVEL", " DEBUG ")
        log_startup_summary()
        [record] = everything.records
        assert record.levelno == logging.DEBUG
        assert "instrumentarium start-up:" in record.getMessage()
        assert warnings_only.records == []

    def test_a_failure_is_reported_not_raised(
        self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the summary cannot be made, the entry point does not raise (the agent would
        abort the start-up): one DEBUG record says so, with the exception."""
        caplog.set_level(logging.DEBUG, logger="instrumentarium")

        def broken() -> tuple[EntryPointStatus, ...]:
            raise RuntimeError("metadata went away")

        monkeypatch.setattr(startup, "startup_summary", broken)
        log_startup_summary()
        [record] = caplog.records
        assert record.levelno == logging.DEBUG
        assert "could not be made" in record.getMessage()
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
