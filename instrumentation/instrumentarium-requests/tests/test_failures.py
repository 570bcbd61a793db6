"""Failures particular to requests (a URL no adapter serves, an adapter that raises, requests'
error messages quoting the URL), beside the shared ones of ``tests/support/http_client_suite.py``:
each raises exactly what requests raises and still ends the span ERROR with a metric."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import requests
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.support.http_client_suite import check_failure


class TestFailures:
    """Invalid URLs, a raising adapter, secrets in requests' messages."""

    def test_a_url_no_adapter_serves(
        self,
        instrument: Callable[..., Any],
        span_exporter: InMemorySpanExporter,
        metric_points: Callable[[], dict[str, list[Any]]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A prepared request whose scheme no adapter serves: requests' ``InvalidSchema``,
        unchanged; the span is ERROR with one exception event; the duration is recorded."""
        traced = check_failure(
            lambda: _send_with_new_session(_bad_prepared()),
            "",
            instrument,
            span_exporter,
            metric_points,
            monkeypatch,
        )
        assert type(traced) is requests.exceptions.InvalidSchema

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
