"""What only requests' spans show: redirects followed inside one ``send``, raw non-ASCII paths,
the span current inside an adapter, a non-canonical method, userinfo turned into a Basic
``Authorization`` header. The rest is the shared suite (``tests/support/http_client_suite.py``)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.http_client_suite import only_span
from tests.support.spans import traceparent


class TestSpanBasics:
    """One CLIENT span per request, named by the method, with the status rules of clients."""

    def test_redirects_are_one_span(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """The hops requests follows inside one ``send`` are one span with the final status,
        and every hop carries that span's traceparent."""
        instrument()
        assert requests.get(server.url("/redirect")).text == "ok"
        span = only_span(span_exporter)
        assert span.attributes["http.status_code"] == 200
        assert span.attributes["http.url"] == server.url("/redirect")
        assert [seen.path for seen in server.seen] == ["/redirect", "/ok"]
        parents = {seen.headers["traceparent"] for seen in server.seen}
        assert parents == {traceparent(span)}

    def test_non_ascii_path(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A non-ASCII path is sent percent-encoded and recorded as requests sent it."""
        instrument()
        requests.get(server.url("/café/ü"))
        span = only_span(span_exporter)
        assert span.attributes["http.url"] == server.url("/caf%C3%A9/%C3%BC")
        assert server.seen[-1].path == "/caf%C3%A9/%C3%BC"


class TestPropagation:
    """The server sees a traceparent carrying the client span's ids."""

    def test_span_is_current_inside_send(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """Code running inside ``send`` (a transport adapter) sees the CLIENT span as current."""
        from opentelemetry import trace

        seen: list[int] = []

        class Adapter(requests.adapters.HTTPAdapter):
            def send(self, *args: Any, **kwargs: Any) -> Any:
                seen.append(trace.get_current_span().get_span_context().span_id)
                return super().send(*args, **kwargs)

        instrument()
        session = closing(requests.Session())
        session.mount("http://", Adapter())
        session.get(server.url("/ok"))
        assert seen == [only_span(span_exporter).get_span_context().span_id]


class TestSemconvModes:
    """``OTEL_SEMCONV_STABILITY_OPT_IN`` switches the attribute names."""

    def test_lowercase_method_keeps_original_in_stable_mode(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A non-canonical method records ``http.request.method_original``."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        session = closing(requests.Session())
        prepared = requests.Request("get", server.url("/ok")).prepare()
        prepared.method = "get"
        session.send(prepared)
        span = only_span(span_exporter)
        assert span.attributes["http.request.method"] == "GET"
        assert span.attributes["http.request.method_original"] == "get"


class TestRedaction:
    """Every URL written is redacted: userinfo and sensitive query values."""

    def test_credentials_and_signature_are_redacted(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``user:pw@`` and ``Signature=`` never reach the span; the server still gets them."""
        instrument()
        url = (
            f"http://user:secret@127.0.0.1:{server.port}/ok?Signature=abc&keep=1&X-Amz-Credential=k"
        )
        requests.get(url)
        span = only_span(span_exporter)
        assert span.attributes["http.url"] == (
            f"http://REDACTED:REDACTED@127.0.0.1:{server.port}/ok"
            "?Signature=REDACTED&keep=1&X-Amz-Credential=REDACTED"
        )
        assert server.seen[-1].path == "/ok?Signature=abc&keep=1&X-Amz-Credential=k"
        assert server.seen[-1].headers["Authorization"].startswith("Basic ")
