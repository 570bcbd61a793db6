"""Instrumentation never breaks the application: a failure in our own start or finish step is
logged once (WARNING, then DEBUG) and the command goes on with its own result."""

from __future__ import annotations

import logging

import pytest
import redis

from instrumentarium.redis import _telemetry
from instrumentarium.redis._patches import ACTIVE


class _Broken:
    """Stands for the tracer or the duration histograms: every use raises."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"broken {name}")


def _ours(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "instrumentarium"]


@pytest.fixture
def broken(instrument, monkeypatch, caplog):
    """``broken(step)``: instrument(), then make the tracer ("begin") or the histograms
    ("finish") of the telemetry in force raise."""

    def make(step: str) -> None:
        instrument()
        telemetry = ACTIVE.global_
        assert telemetry is not None
        monkeypatch.setattr(telemetry, "tracer" if step == "begin" else "duration", _Broken())
        for site in (_telemetry._BEGIN, _telemetry._FINISH):
            monkeypatch.setattr(site, "failed", False)
        caplog.set_level(logging.DEBUG, logger="instrumentarium")

    return make


class TestGuards:
    def test_failing_start_runs_the_command_plain(self, broken, client, key, caplog):
        """A span that cannot start: the command runs untraced and returns its result; the
        failure is logged at WARNING once, then at DEBUG."""
        broken("begin")
        assert client.set(key, "v") is True
        assert client.get(key) == b"v"

        assert [level for level, _ in _ours(caplog)] == [logging.WARNING, logging.DEBUG]
        assert "starting the redis span" in _ours(caplog)[0][1]

    def test_failing_finish_keeps_the_result_and_ends_the_span(
        self, broken, client, key, span_exporter, caplog
    ):
        """A finish step that raises: the caller gets the command's result, the span still
        ends, and the failure is logged once at WARNING."""
        broken("finish")
        assert client.set(key, "v") is True
        assert client.pipeline().get(key).execute() == [b"v"]

        assert [s.name for s in span_exporter.get_finished_spans()] == ["SET", "GET"]
        assert [level for level, _ in _ours(caplog)] == [logging.WARNING, logging.DEBUG]
        assert "ending the redis span" in _ours(caplog)[0][1]

    def test_errors_of_the_command_still_propagate(self, broken, client, key):
        """With our steps failing, the command's own exception reaches the caller unchanged."""
        broken("finish")
        client.set(key, "v")
        with pytest.raises(redis.ResponseError):
            client.lpush(key, "x")
