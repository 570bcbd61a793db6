"""A failure in our own telemetry never breaks the request: it is logged once and the call
goes on (the guards at the span start and finish sites)."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest
import urllib3
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentarium.urllib3 import _urlopen
from instrumentarium.util.http import HttpClientCall, HttpClientTelemetry


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("telemetry bug")


def _warnings(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    messages = (r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    return [m for m in messages if what in m]


class TestGuards:
    """Each guarded step fails on purpose; the requests succeed, one WARNING is logged."""

    def test_span_start_failure_sends_the_request_untraced(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``start`` raising: the requests go out untraced, with the caller's headers, and
        the failure is logged once."""
        monkeypatch.setattr(HttpClientTelemetry, "start", _boom)
        monkeypatch.setattr(_urlopen._BEGIN, "failed", False)
        instrument()
        with caplog.at_level(logging.DEBUG, logger="instrumentarium"):
            for _ in range(2):
                assert http.request("GET", server.url("/"), headers={"X-A": "1"}).status == 200
        assert len(_warnings(caplog, "starting the urllib3 span")) == 1
        assert span_exporter.get_finished_spans() == ()
        assert server.seen[-1].headers.get("X-A") == "1"
        assert "traceparent" not in server.seen[-1].headers

    def test_finish_failure_keeps_the_response_and_ends_the_span(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``on_response`` raising: the caller gets its response, each span still ends once,
        and the failure is logged once."""
        monkeypatch.setattr(HttpClientCall, "on_response", _boom)
        monkeypatch.setattr(_urlopen._FINISH, "failed", False)
        instrument()
        with caplog.at_level(logging.DEBUG, logger="instrumentarium"):
            for _ in range(2):
                assert http.request("GET", server.url("/")).data == b"ok"
        assert len(_warnings(caplog, "ending the urllib3 span")) == 1
        assert len(span_exporter.get_finished_spans()) == 2

    def test_failure_path_keeps_the_users_exception(
        self,
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        closed_port: int,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A finish step that raises while the request failed: urllib3's exception propagates,
        not ours, and the span ends."""
        monkeypatch.setattr(_urlopen, "body_size", _boom)
        instrument()
        with pytest.raises(urllib3.exceptions.HTTPError):
            http.request("GET", f"http://127.0.0.1:{closed_port}/")
        assert len(span_exporter.get_finished_spans()) == 1
