"""A failure in our own telemetry never breaks the request: it is logged once and the call
goes on (the guards at the span start and finish sites)."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest
import requests
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentarium.requests import _send
from instrumentarium.util.http import HttpClientCall, HttpClientTelemetry, _client


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("telemetry bug")


def _warnings_about(caplog: pytest.LogCaptureFixture, what: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and what in r.getMessage()]


class _RaisingCheck(type):
    def __instancecheck__(cls, instance: object) -> bool:
        raise RuntimeError("telemetry bug")


class _UnrecognisableResponse(metaclass=_RaisingCheck):
    """A response type whose ``isinstance`` check raises: a bug in our finish step."""


class TestGuards:
    """Each guarded step fails on purpose; two requests both succeed, one WARNING is logged."""

    def test_span_start_failure_sends_the_request_untraced(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``start`` raising: the requests go out untraced and the failure is logged once."""
        monkeypatch.setattr(HttpClientTelemetry, "start", _boom)
        monkeypatch.setattr(_send._BEGIN, "failed", False)
        instrument()
        with caplog.at_level(logging.DEBUG, logger="instrumentarium"):
            for _ in range(2):
                assert requests.get(server.url("/")).status_code == 200
        assert len(_warnings_about(caplog, "starting the requests span")) == 1
        assert span_exporter.get_finished_spans() == ()
        assert "traceparent" not in server.seen[-1].headers

    def test_finish_failure_keeps_the_response_and_ends_the_span(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``on_response`` raising: the caller gets its response, each span still ends once,
        and the failure is logged once."""
        monkeypatch.setattr(HttpClientCall, "on_response", _boom)
        monkeypatch.setattr(_send._FINISH, "failed", False)
        instrument()
        with caplog.at_level(logging.DEBUG, logger="instrumentarium"):
            for _ in range(2):
                assert requests.get(server.url("/")).text == "ok"
        assert len(_warnings_about(caplog, "ending the requests span")) == 1
        assert len(span_exporter.get_finished_spans()) == 2

    def test_failure_path_keeps_the_users_exception(
        self,
        instrument: Callable[..., Any],
        closed_port: int,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A finish step that raises while the request failed: the user's exception propagates,
        not ours, and the span ends."""
        monkeypatch.setattr(_send._Requests, "response_type", _UnrecognisableResponse)
        instrument()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{closed_port}/")
        assert len(span_exporter.get_finished_spans()) == 1

    def test_propagator_failure_keeps_the_request_traced(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A propagator that raises costs the trace context, not the request or its span."""
        monkeypatch.setattr(_client, "_inject", _boom)
        monkeypatch.setattr(_client._INJECT, "failed", False)
        instrument()
        with caplog.at_level(logging.DEBUG, logger="instrumentarium"):
            for _ in range(2):
                assert requests.get(server.url("/")).status_code == 200
        assert len(_warnings_about(caplog, "injecting the trace context")) == 1
        assert len(span_exporter.get_finished_spans()) == 2
