"""The HTTP client core reads header names and values given as str or as bytes, as requests,
urllib3 and ``http.client`` accept both (issue 14, item 1): the same text gives the same span,
whichever type carried it, and no input makes it raise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentarium.util.http import HttpClientTelemetry, header_items, header_text

PROPERTY = settings(max_examples=150, deadline=None, database=None)

# Header text as users write it: printable, any script (sent as UTF-8 bytes or as str).
header_value = st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)), max_size=30)
header_name = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1)


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def telemetry(exporter: InMemorySpanExporter) -> Iterator[HttpClientTelemetry]:
    """One telemetry for every example: user agent recorded, every request header captured."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    meters = MeterProvider()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST", ".*")
        patch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE", ".*")
        yield HttpClientTelemetry(
            library="testlib", tracer_provider=provider, meter_provider=meters, user_agent=True
        )
    provider.shutdown()
    meters.shutdown()


def _span_attributes(
    telemetry: HttpClientTelemetry,
    exporter: InMemorySpanExporter,
    user_agent: object,
    headers: list[tuple[object, object]],
) -> dict[str, object]:
    exporter.clear()
    call = telemetry.start(
        "GET",
        "http://example.com/",
        request_headers=headers,  # type: ignore[arg-type]
        user_agent=user_agent,  # type: ignore[arg-type]
    )
    call.on_response(200, 11, headers)  # type: ignore[arg-type]
    call.end()
    (span,) = exporter.get_finished_spans()
    return dict(span.attributes or {})


class TestStrOrBytes:
    """Property: a header as str and as its UTF-8 bytes give identical span attributes."""

    @PROPERTY
    @given(user_agent=header_value, name=header_name, value=header_value)
    def test_same_span_for_str_and_bytes(
        self,
        telemetry: HttpClientTelemetry,
        exporter: InMemorySpanExporter,
        user_agent: str,
        name: str,
        value: str,
    ) -> None:
        """User agent, request and response header capture: str and bytes agree."""
        as_text = _span_attributes(telemetry, exporter, user_agent, [(name, value)])
        as_bytes = _span_attributes(
            telemetry,
            exporter,
            user_agent.encode(),
            [(name.encode(), value.encode())],
        )
        assert as_text == as_bytes
        if user_agent:
            assert as_text["user_agent.original"] == user_agent

    @PROPERTY
    @given(user_agent=st.binary(max_size=30), value=st.binary(max_size=30))
    def test_any_bytes_never_raise(
        self,
        telemetry: HttpClientTelemetry,
        exporter: InMemorySpanExporter,
        user_agent: bytes,
        value: bytes,
    ) -> None:
        """Bytes that are not UTF-8 (Latin-1 on the wire) are recorded as text, never raise."""
        attributes = _span_attributes(telemetry, exporter, user_agent, [(b"x-any", value)])
        assert attributes["http.request.header.x_any"] == (header_text(value),)


class TestHeaderText:
    """``header_text`` and ``header_items``: the decoding rule itself."""

    def test_decoding(self) -> None:
        """UTF-8 first (as the SDK decodes a bytes attribute), else Latin-1; others str()."""
        assert header_text("é") == "é"
        assert header_text("é".encode()) == "é"
        assert header_text(b"\xe9") == "é"  # Latin-1: not valid UTF-8
        assert header_text(7) == "7"

    def test_header_items_decode_bytes(self) -> None:
        """Bytes names and values come out as text, not as ``"b'...'"``."""
        assert header_items({b"X-A": b"1", "X-B": "2"}) == [("X-A", "1"), ("X-B", "2")]
