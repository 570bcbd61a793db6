"""Failures raise exactly what requests raises, and still end the span ERROR with a metric."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.support.spans import raised


class TestFailures:
    """Connection refused, timeouts, invalid URLs and TLS errors, with and without us."""

    @pytest.mark.parametrize(
        "make_call",
        [
            pytest.param(lambda s, port: requests.get(f"http://127.0.0.1:{port}/"), id="refused"),
            pytest.param(
                lambda s, port: requests.get(s.url("/slow"), timeout=0.05), id="read-timeout"
            ),
            pytest.param(lambda s, port: _send_with_new_session(_bad_prepared()), id="no-adapter"),
        ],
    )
    def test_same_exception_type_and_message(
        self,
        make_call: Callable[[Any, int], object],
        instrument: Callable[..., Any],
        server: Any,
        closed_port: int,
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
    ) -> None:
        """The instrumented call raises the same type with the same message as the bare one,
        and the span is ERROR with one exception event; the duration is still recorded."""
        bare = raised(lambda: make_call(server, closed_port))
        instrument()
        traced = raised(lambda: make_call(server, closed_port))
        assert type(traced) is type(bare)
        assert str(traced).split(" object at ")[0] == str(bare).split(" object at ")[0]
        spans = span_exporter.get_finished_spans()
        assert len(spans) == 1
        span = spans[0]
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description.startswith(type(traced).__name__ + ": ")
        assert [event.name for event in span.events] == ["exception"]
        assert len(metric_points()["http.client.duration"]) == 1

    def test_exception_event_does_not_leak_the_urls_secrets(
        self, instrument: Callable[..., Any], closed_port: int, span_exporter: InMemorySpanExporter
    ) -> None:
        """requests quotes the failed URL in its error; the span's event and status do not
        carry its query secrets (upstream records them verbatim)."""
        instrument()
        with pytest.raises(requests.ConnectionError) as info:
            requests.get(f"http://127.0.0.1:{closed_port}/x?token=t0ps3cret")
        assert "t0ps3cret" in str(info.value)  # the application still sees the original
        (span,) = span_exporter.get_finished_spans()
        (event,) = span.events
        assert "t0ps3cret" not in str(event.attributes["exception.message"])
        assert "t0ps3cret" not in str(event.attributes["exception.stacktrace"])
        assert "t0ps3cret" not in str(span.status.description)
        assert "token=REDACTED" in str(event.attributes["exception.message"])

    def test_exception_is_the_same_object_with_its_traceback(
        self, instrument: Callable[..., Any], closed_port: int
    ) -> None:
        """The exception propagates unchanged: the adapter's frame is still in its traceback."""
        instrument()
        with pytest.raises(requests.ConnectionError) as info:
            requests.get(f"http://127.0.0.1:{closed_port}/")
        assert str(info.traceback[-1].path).endswith(
            ("requests/adapters.py", "requests\\adapters.py")
        )
        assert isinstance(info.value.__context__ or info.value.__cause__, BaseException)

    def test_error_type_is_the_exception_class_in_stable_mode(
        self,
        instrument: Callable[..., Any],
        closed_port: int,
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``error.type`` is the exception's qualified name on the span and the metric."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{closed_port}/")
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["error.type"] == "ConnectionError"
        (point,) = metric_points()["http.client.request.duration"]
        assert point.attributes == {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": closed_port,
            "error.type": "ConnectionError",
        }

    def test_tls_error_on_a_plain_http_server(
        self,
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """``https://`` to a plain HTTP server raises requests' SSLError, and the span is ERROR."""
        bare = raised(lambda: requests.get(f"https://127.0.0.1:{server.port}/", timeout=5))
        instrument()
        traced = raised(lambda: requests.get(f"https://127.0.0.1:{server.port}/", timeout=5))
        assert type(traced) is type(bare) is requests.exceptions.SSLError
        (span,) = span_exporter.get_finished_spans()
        assert span.status.status_code is StatusCode.ERROR

    def test_keyboard_interrupt_ends_the_span(
        self,
        closing: Callable[[Any], Any],
        instrument: Callable[..., Any],
        server: Any,
        span_exporter: InMemorySpanExporter,
    ) -> None:
        """A BaseException from inside send ends the span once and propagates."""

        class Adapter(requests.adapters.HTTPAdapter):
            def send(self, *args: Any, **kwargs: Any) -> Any:
                raise KeyboardInterrupt

        instrument()
        session = closing(requests.Session())
        session.mount("http://", Adapter())
        with pytest.raises(KeyboardInterrupt):
            session.get(server.url("/ok"))
        (span,) = span_exporter.get_finished_spans()
        assert span.status.status_code is StatusCode.ERROR


def _send_with_new_session(prepared: requests.PreparedRequest) -> object:
    with requests.Session() as session:
        return session.send(prepared)


def _bad_prepared() -> requests.PreparedRequest:
    """A prepared request whose URL has no adapter (requests raises InvalidSchema)."""
    prepared = requests.Request("GET", "http://x/").prepare()
    prepared.url = "gopher://127.0.0.1/"
    return prepared
