"""A server (or a test client) may hand the environ ``bytes`` where PEP 3333 wants text: the
middleware reads them as Latin-1 text and records the request, never raises (issue 14, item 1)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

FIELDS = (
    "REQUEST_METHOD",
    "HTTP_USER_AGENT",
    "HTTP_HOST",
    "HTTP_TRACEPARENT",
    "HTTP_X_CUSTOM",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "RAW_URI",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REMOTE_HOST",
    "CONTENT_TYPE",
)
TEXT_OR_BYTES = st.one_of(st.text(max_size=30), st.binary(max_size=30))


def test_bytes_user_agent_is_recorded_as_text(
    wrap: Callable[..., Any],
    run: Callable[..., Any],
    environ: Callable[..., Any],
    span_exporter: InMemorySpanExporter,
) -> None:
    """``HTTP_USER_AGENT`` as bytes gives the span its text, as upstream records it."""
    start_response, body = run(wrap(), environ(HTTP_USER_AGENT=b"AlwaysOn-Monitor/1.0"))
    assert (start_response.status, body) == ("200 OK", b"hello")
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["http.user_agent"] == "AlwaysOn-Monitor/1.0"
    assert span.attributes["user_agent.synthetic.type"] == "test"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(values=st.dictionaries(st.sampled_from(FIELDS), TEXT_OR_BYTES))
def test_any_mix_of_text_and_bytes_is_one_span(
    semconv: str,
    monkeypatch: pytest.MonkeyPatch,
    wrap: Callable[..., Any],
    run: Callable[..., Any],
    environ: Callable[..., Any],
    span_exporter: InMemorySpanExporter,
    values: dict[str, Any],
) -> None:
    """Whatever fields are text or bytes, with header capture and an excluded-URL list on (so
    every reader runs), the app answers and exactly one span ends."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", ".*")
    span_exporter.clear()
    start_response, body = run(wrap(excluded_urls="no-such-path-xyz"), environ(**values))
    assert (start_response.status, body) == ("200 OK", b"hello")
    assert len(span_exporter.get_finished_spans()) == 1
