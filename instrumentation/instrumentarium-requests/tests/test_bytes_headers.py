"""requests accepts header values as bytes; so does its instrumentation (issue 14, item 1)."""

from __future__ import annotations

from typing import Any, Callable

import requests
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class TestBytesHeaders:
    """A bytes ``User-Agent`` is traced like a str one, as upstream traces it."""

    def test_bytes_user_agent_gets_its_span_and_traceparent(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``headers={"User-Agent": b"..."}``: one span with the decoded ``user_agent.original``
        and the request carries its ``traceparent``."""
        instrument()
        response = requests.get(server.url("/"), headers={"User-Agent": b"AlwaysOn-Monitor/1.0"})
        assert response.status_code == 200
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["user_agent.original"] == "AlwaysOn-Monitor/1.0"
        trace_id = format(span.context.trace_id, "032x")
        assert server.seen[-1].headers["traceparent"].split("-")[1] == trace_id

    def test_bytes_synthetic_user_agent_is_classified(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A bytes bot user agent gets ``user_agent.synthetic.type`` as its str twin does."""
        instrument()
        requests.get(server.url("/"), headers={"User-Agent": b"Googlebot/2.1"})
        requests.get(server.url("/"), headers={"User-Agent": "Googlebot/2.1"})
        first, second = span_exporter.get_finished_spans()
        assert first.attributes == second.attributes
        assert first.attributes["user_agent.synthetic.type"] == "bot"
