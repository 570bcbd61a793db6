"""Per-session instrumentation, hooks, exclusions and header capture, as requests has them
(the lifecycle and suppression: ``tests/test_contract.py`` and the shared HTTP client suite)."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest
import requests
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentarium.requests import RequestsInstrumentor, get_default_span_name

from .conftest import ORIGINAL_SEND


class TestDefaultSpanName:
    def test_default_span_name(self) -> None:
        """Upstream's helper: the method, or HTTP for an unknown one."""
        assert get_default_span_name("get") == "GET"
        assert get_default_span_name("PURGE") == "HTTP"


class TestSessions:
    """instrument_session / uninstrument_session, alone and with instrument()."""

    def test_instrument_session_traces_only_that_session(
        self,
        closing: Callable[[Any], Any],
        instrument_session: Callable[..., None],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """One instrumented session is traced; another session is not."""
        traced, untraced = closing(requests.Session()), closing(requests.Session())
        instrument_session(traced)
        traced.get(server.url("/ok"))
        untraced.get(server.url("/ok"))
        requests.get(server.url("/ok"))
        assert len(span_exporter.get_finished_spans()) == 1
        assert "traceparent" in server.seen[0].headers
        assert "traceparent" not in server.seen[1].headers

    def test_session_and_global_never_double(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        instrument_session: Callable[..., None],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A session instrumented on its own and globally gives one span, with its options."""
        session = closing(requests.Session())
        seen: list[str] = []
        instrument()
        instrument_session(session, request_hook=lambda span, req: seen.append(req.url))
        instrument_session(session)  # twice: a warning, nothing more
        session.get(server.url("/ok"))
        assert len(span_exporter.get_finished_spans()) == 1
        assert seen == [server.url("/ok")]

    def test_uninstrument_session_under_global(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        sessions: list[requests.Session],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """uninstrument_session switches one session off while instrument() covers the rest."""
        instrument()
        session = closing(requests.Session())
        sessions.append(session)
        RequestsInstrumentor.uninstrument_session(session)
        session.get(server.url("/ok"))
        assert span_exporter.get_finished_spans() == ()
        requests.get(server.url("/ok"))
        assert len(span_exporter.get_finished_spans()) == 1

    def test_uninstrument_last_session_removes_the_patch(
        self, closing: Callable[[Any], Any], instrument_session: Callable[..., None]
    ) -> None:
        """With no global and no instrumented session left, ``send`` is the original again."""
        session = closing(requests.Session())
        instrument_session(session)
        assert requests.Session.__dict__["send"] is not ORIGINAL_SEND
        RequestsInstrumentor.uninstrument_session(session)
        assert requests.Session.__dict__["send"] is ORIGINAL_SEND


class TestOptions:
    """Hooks and excluded URLs."""

    def test_hooks_receive_upstream_arguments(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """request_hook(span, prepared) runs before sending, response_hook(span, req, resp)
        after; a header the request hook adds is sent."""
        calls: list[Any] = []

        def request_hook(span: Any, request: Any) -> None:
            calls.append(("request", span.name, type(request).__name__))
            request.headers["X-Hooked"] = "yes"

        def response_hook(span: Any, request: Any, response: Any) -> None:
            calls.append(("response", type(request).__name__, response.status_code))
            span.set_attribute("custom", "value")

        instrument(request_hook=request_hook, response_hook=response_hook)
        requests.get(server.url("/ok"))
        assert calls == [
            ("request", "GET", "PreparedRequest"),
            ("response", "PreparedRequest", 200),
        ]
        assert server.seen[-1].headers["X-Hooked"] == "yes"
        assert span_exporter.get_finished_spans()[0].attributes["custom"] == "value"

    def test_raising_hooks_are_logged_and_the_request_goes_on(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A hook that raises is logged; the request, its response and its span are intact."""

        def broken(*args: Any) -> None:
            raise RuntimeError("hook bug")

        instrument(request_hook=broken, response_hook=broken)
        with caplog.at_level(logging.DEBUG, logger="instrumentarium"):
            assert requests.get(server.url("/ok")).text == "ok"
        assert len(span_exporter.get_finished_spans()) == 1
        assert any("request_hook" in r.getMessage() for r in caplog.records)
        assert any("response_hook" in r.getMessage() for r in caplog.records)

    def test_excluded_urls_kwarg(
        self, instrument: Callable[..., Any], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """An excluded URL is neither traced nor given a traceparent."""
        instrument(excluded_urls="/status/,healthz")
        requests.get(server.url("/status/200"))
        requests.get(server.url("/ok"))
        assert [s.attributes["http.url"] for s in span_exporter.get_finished_spans()] == [
            server.url("/ok")
        ]
        assert "traceparent" not in server.seen[0].headers

    def test_excluded_urls_env(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``OTEL_PYTHON_REQUESTS_EXCLUDED_URLS`` wins over ``OTEL_PYTHON_EXCLUDED_URLS``."""
        monkeypatch.setenv("OTEL_PYTHON_REQUESTS_EXCLUDED_URLS", "/echo")
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "/ok")
        instrument()
        requests.get(server.url("/ok"))
        requests.post(server.url("/echo"))
        assert [s.name for s in span_exporter.get_finished_spans()] == ["GET"]

    def test_captured_headers_from_env(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Client header capture reads the CLIENT variables and sanitises matching names."""
        monkeypatch.setenv(
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST", "x-token,x-a"
        )
        monkeypatch.setenv(
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE", "x-served-by"
        )
        monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "token")
        instrument()
        requests.get(server.url("/ok"), headers={"X-Token": "secret", "X-A": "1"})
        attributes = span_exporter.get_finished_spans()[0].attributes
        assert attributes["http.request.header.x_token"] == ("[REDACTED]",)
        assert attributes["http.request.header.x_a"] == ("1",)
        assert attributes["http.response.header.x_served_by"] == ("test-server",)

    def test_repeated_response_header_is_one_value(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A response header sent twice is one value, ``"a, b"`` as urllib3 merged it for
        requests (upstream's value)."""
        monkeypatch.setenv(
            "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE", "x-repeated"
        )
        instrument()
        requests.get(server.url("/repeated"))
        attributes = span_exporter.get_finished_spans()[0].attributes
        assert attributes["http.response.header.x_repeated"] == ("a, b",)
