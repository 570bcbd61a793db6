"""A failure in our own telemetry never breaks the request: it is logged once and the call
goes on (the guards at the span start and finish sites)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentarium.urllib import _open
from instrumentarium.util.http import HttpClientCall, HttpClientTelemetry


class TestGuards:
    def test_span_start_failure_sends_the_request_untraced(
        self,
        instrument: Any,
        server: Any,
        span_exporter: InMemorySpanExporter,
        broken_step: Any,
    ) -> None:
        """``start`` raising: the requests go out untraced, with the caller's headers; one
        WARNING then DEBUG."""
        log = broken_step(HttpClientTelemetry, "start")
        instrument()
        for _ in range(2):
            request = urllib.request.Request(server.url("/ok"), headers={"X-A": "1"})
            with urllib.request.urlopen(request) as response:
                assert response.read() == b"ok"
        assert log.once_per_site(2)
        assert span_exporter.get_finished_spans() == ()
        assert server.seen[-1].headers["X-A"] == "1"
        assert "traceparent" not in server.seen[-1].headers

    def test_finish_failure_keeps_the_response_and_ends_the_span(
        self,
        instrument: Any,
        server: Any,
        span_exporter: InMemorySpanExporter,
        broken_step: Any,
    ) -> None:
        """``on_response`` raising: the caller gets its response, each span ends once."""
        log = broken_step(HttpClientCall, "on_response")
        instrument()
        for _ in range(2):
            with urllib.request.urlopen(server.url("/ok")) as response:
                assert response.read() == b"ok"
        assert log.once_per_site(2)
        assert len(span_exporter.get_finished_spans()) == 2

    def test_failure_path_keeps_the_users_exception(
        self,
        instrument: Any,
        closed_port: int,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A finish step that raises while the request failed: urllib's ``URLError``
        propagates, not ours, and the span ends."""

        def boom(*args: object) -> None:
            raise RuntimeError("telemetry bug")

        monkeypatch.setattr(_open, "body_size", boom)
        instrument()
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://127.0.0.1:{closed_port}/")
        assert len(span_exporter.get_finished_spans()) == 1
