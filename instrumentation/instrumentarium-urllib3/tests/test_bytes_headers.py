"""urllib3 accepts header names and values as bytes; so does its instrumentation (issue 14,
item 1)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import urllib3
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class TestBytesHeaders:
    """Captured headers given as bytes are recorded as the same text as str ones."""

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({"X-Token": b"abc"}, id="bytes-value"),
            pytest.param({b"X-Token": b"abc"}, id="bytes-name-and-value"),
            pytest.param({"X-Token": "abc"}, id="str"),
        ],
    )
    def test_captured_bytes_header(
        self,
        headers: dict[Any, Any],
        instrument: Callable[..., Any],
        http: urllib3.PoolManager,
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """The span exists, carries ``http.request.header.x_token == ("abc",)`` and the request
        its ``traceparent``."""
        instrument(captured_request_headers=["x-token"])
        assert http.request("GET", server.url("/"), headers=headers).status == 200
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["http.request.header.x_token"] == ("abc",)
        assert "traceparent" in server.seen[-1].headers
