"""Fixtures for the util-http tests: a clean environment and fresh once-only warnings."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog`` capturing everything the ``instrumentarium`` logger says, DEBUG included."""
    caplog.set_level(logging.DEBUG, logger="instrumentarium")
    return caplog
