"""Fixtures for the util-http tests: a clean environment and fresh once-only warnings."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from instrumentarium.util import instrumentation


@pytest.fixture(autouse=True)
def clean_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without OTEL_* variables, whatever the developer's shell exports."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    """``warn_once`` forgets what it has reported, so each test sees its first warning."""
    instrumentation._warned.clear()
    yield
    instrumentation._warned.clear()


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog`` capturing everything the ``instrumentarium`` logger says, DEBUG included."""
    caplog.set_level(logging.DEBUG, logger="instrumentarium")
    return caplog
