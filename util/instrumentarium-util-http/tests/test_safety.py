"""``guard``: an error in a telemetry step is logged once and the call goes on."""

from __future__ import annotations

import logging

import pytest

from instrumentarium.util.safety import guard


def _records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "instrumentarium" and r.levelno == level]


class TestGuard:
    def test_block_swallows_and_logs_once(self, warnings_log: pytest.LogCaptureFixture) -> None:
        """The first failure is a WARNING with its traceback, later ones DEBUG."""
        site = guard("starting the span")
        for _ in range(3):
            with site:
                raise ValueError("boom")
        (warning,) = _records(warnings_log, logging.WARNING)
        assert "starting the span" in warning.getMessage()
        assert warning.exc_info is not None
        assert warning.exc_info[0] is ValueError
        assert len(_records(warnings_log, logging.DEBUG)) == 2

    def test_base_exceptions_pass(self) -> None:
        """KeyboardInterrupt and friends are never swallowed."""
        with pytest.raises(KeyboardInterrupt), guard("x"):
            raise KeyboardInterrupt

    def test_decorator_returns_none_on_failure(
        self, warnings_log: pytest.LogCaptureFixture
    ) -> None:
        """A guarded function returns its value, or None when it raised."""

        @guard("ending the span")
        def step(fail: bool) -> int:
            if fail:
                raise RuntimeError("bad")
            return 7

        assert step(False) == 7
        assert step(True) is None
        assert step.__name__ == "step"
        assert len(_records(warnings_log, logging.WARNING)) == 1
