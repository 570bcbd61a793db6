"""What urllib has beyond the shared client suite: redirects inside one call, ``HTTPError`` as
a response, string URLs and openers, schemes that are not HTTP, the layer underneath."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import Any, Callable

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentarium.urllib import URLLibInstrumentor
from instrumentarium.util.http import http_instrumentation_suppressed
from tests.support.spans import raised, traceparent

Points = Callable[[], dict[str, list[Any]]]


def only_span(exporter: InMemorySpanExporter) -> Any:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


class TestRedirects:
    """The redirects urllib follows inside one ``urlopen`` belong to its one span."""

    def test_redirect_is_one_span_with_the_final_status_and_both_hops_propagated(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A 302 to ``/ok``: one CLIENT span with the requested URL and the final 200; both
        hops carry its traceparent."""
        instrument()
        with urllib.request.urlopen(server.url("/redirect?a=1")) as response:
            assert response.read() == b"ok"
        span = only_span(span_exporter)
        assert (span.name, span.kind) == ("GET", SpanKind.CLIENT)
        assert span.attributes["http.url"] == server.url("/redirect?a=1")
        assert span.attributes["http.status_code"] == 200
        assert span.status.status_code is StatusCode.UNSET
        assert [seen.path for seen in server.seen] == ["/redirect?a=1", "/ok"]
        assert {seen.headers["traceparent"] for seen in server.seen} == {traceparent(span)}


class TestHttpError:
    """urllib raises ``HTTPError`` for 4xx and 5xx: the span and the metrics have the status."""

    @pytest.mark.parametrize("code", [404, 500])
    def test_http_error_is_measured_with_its_status(
        self,
        code: int,
        instrument: Any,
        server: Any,
        span_exporter: InMemorySpanExporter,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The same ``HTTPError`` reaches the caller; the span is ERROR with the status code,
        ``error.type`` is the code (upstream overwrites it with ``HTTPError``), the exception
        is one event, and both histograms carry the status."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        error = raised(lambda: urllib.request.urlopen(server.url(f"/status/{code}")))
        assert isinstance(error, urllib.error.HTTPError)
        assert error.code == code
        with error:
            assert error.read() == b"status"
        span = only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["http.status_code"] == code
        assert span.attributes["http.response.status_code"] == code
        assert span.attributes["error.type"] == str(code)
        assert span.attributes["network.protocol.version"] == "1.1"
        assert [event.name for event in span.events] == ["exception"]
        points = metric_points()
        (old,) = points["http.client.duration"]
        assert old.attributes["http.status_code"] == code
        (new,) = points["http.client.request.duration"]
        assert new.attributes["http.response.status_code"] == code
        assert new.attributes["error.type"] == str(code)
        (size,) = points["http.client.response.body.size"]
        assert size.sum == len(b"status")

    def test_response_hook_gets_the_http_error(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``response_hook(span, request, response)`` runs for an ``HTTPError`` too, with the
        error as the response (upstream's behaviour); the caller can still read the body."""
        seen: list[Any] = []
        instrument(response_hook=lambda span, request, response: seen.append(response))
        error = raised(lambda: urllib.request.urlopen(server.url("/status/503")))
        assert seen == [error]
        with error:  # type: ignore[attr-defined]
            assert error.read() == b"status"  # type: ignore[attr-defined]


class TestCalls:
    """The ways into ``OpenerDirector.open``."""

    def test_string_url_with_data_is_a_post(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``urlopen(url, data)`` is a POST (as urllib decides); the body reaches the server."""
        instrument()
        with urllib.request.urlopen(server.url("/echo"), b"payload") as response:
            assert response.read() == b"payload"
        span = only_span(span_exporter)
        assert (span.name, span.attributes["http.method"]) == ("POST", "POST")
        assert server.seen[-1].headers["traceparent"] == traceparent(span)

    def test_custom_opener_is_traced_and_its_headers_are_sent(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """An opener from ``build_opener`` created before ``instrument()`` is traced, and its
        ``addheaders`` are still sent."""
        opener = urllib.request.build_opener()
        opener.addheaders = [("X-Opener", "yes")]
        instrument()
        with opener.open(server.url("/ok")) as response:
            assert response.status == 200
        assert only_span(span_exporter).name == "GET"
        assert server.seen[-1].headers["X-Opener"] == "yes"

    def test_uninstrument_opener_leaves_that_opener_untraced(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``uninstrument_opener(opener)``: that opener is not traced under ``instrument()``,
        ``urlopen`` still is."""
        opener = urllib.request.build_opener()
        instrumentor = instrument()
        instrumentor.uninstrument_opener(opener)
        opener.open(server.url("/ok")).close()
        assert "traceparent" not in server.seen[-1].headers
        urllib.request.urlopen(server.url("/ok")).close()
        assert len(span_exporter.get_finished_spans()) == 1

    def test_a_request_object_keeps_its_method_headers_and_gets_the_traceparent(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A ``Request`` with an explicit method: the span is named by it, the caller's header
        and the traceparent are sent."""
        instrument()
        request = urllib.request.Request(
            server.url("/ok"), method="DELETE", headers={"X-Mine": "1"}
        )
        urllib.request.urlopen(request).close()
        span = only_span(span_exporter)
        assert span.name == "DELETE"
        assert server.seen[-1].method == "DELETE"
        assert server.seen[-1].headers["X-Mine"] == "1"
        assert server.seen[-1].headers["traceparent"] == traceparent(span)

    def test_non_http_schemes_are_not_traced(
        self, instrument: Any, tmp_path: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``file:`` and ``data:`` URLs are no HTTP requests: no span, the result unchanged."""
        path = tmp_path / "a.txt"
        path.write_bytes(b"local")
        instrument()
        with urllib.request.urlopen(path.as_uri()) as response:
            assert response.read() == b"local"
        with urllib.request.urlopen("data:,hello") as response:
            assert response.read() == b"hello"
        assert span_exporter.get_finished_spans() == ()

    def test_invalid_url_raises_urllibs_error_untraced(
        self, instrument: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """A URL without a scheme: urllib's own ``ValueError``, as without instrumentation."""
        bare = raised(lambda: urllib.request.Request("no-scheme"))
        instrument()
        traced = raised(lambda: urllib.request.urlopen("no-scheme"))
        assert (type(traced), str(traced)) == (type(bare), str(bare))
        assert span_exporter.get_finished_spans() == ()


class TestLayerBelow:
    """``http.client`` underneath runs with HTTP instrumentation suppressed and the span
    current: an instrumentation of it makes no second span."""

    def test_http_client_sees_the_span_and_the_suppression(
        self,
        instrument: Any,
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """While ``http.client`` sends, the urllib span is current and
        ``suppress_http_instrumentation`` is set; afterwards neither."""
        observed: list[tuple[bool, Any]] = []
        original = http.client.HTTPConnection.putrequest

        def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
            observed.append((http_instrumentation_suppressed(), trace.get_current_span()))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(http.client.HTTPConnection, "putrequest", spy)
        instrument()
        urllib.request.urlopen(server.url("/redirect")).close()
        span = only_span(span_exporter)
        assert len(observed) == 2  # both hops
        for suppressed, current in observed:
            assert suppressed
            assert current.get_span_context() == span.get_span_context()
        assert not http_instrumentation_suppressed()


class TestOptions:
    """Hooks, exclusions, header capture."""

    def test_request_hook_gets_the_request_and_its_headers_are_sent(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``request_hook(span, request)`` with the ``Request``, before sending: a header it
        adds is sent, an attribute it sets is on the span."""

        def hook(span: Any, request: urllib.request.Request) -> None:
            span.set_attribute("hooked.url", request.full_url)
            request.add_header("X-Hooked", "yes")

        instrument(request_hook=hook)
        urllib.request.urlopen(server.url("/ok")).close()
        assert only_span(span_exporter).attributes["hooked.url"] == server.url("/ok")
        assert server.seen[-1].headers["X-Hooked"] == "yes"

    def test_response_hook_gets_the_response(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """``response_hook(span, request, response)`` with the ``http.client`` response."""
        seen: list[Any] = []
        instrument(response_hook=lambda span, request, response: seen.append((request, response)))
        with urllib.request.urlopen(server.url("/ok")) as response:
            pass
        assert len(seen) == 1
        assert seen[0][0].full_url == server.url("/ok")
        assert seen[0][1] is response

    def test_response_hook_gets_none_on_a_failure_without_response(
        self, instrument: Any, closed_port: int, span_exporter: InMemorySpanExporter
    ) -> None:
        """A refused connection: the hook runs with None, the ``URLError`` propagates."""
        seen: list[Any] = []
        instrument(response_hook=lambda span, request, response: seen.append(response))
        error = raised(lambda: urllib.request.urlopen(f"http://127.0.0.1:{closed_port}/"))
        assert isinstance(error, urllib.error.URLError)
        assert seen == [None]
        assert only_span(span_exporter).status.status_code is StatusCode.ERROR

    def test_raising_hooks_are_logged_and_the_call_goes_on(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """Hooks that raise: the response is the caller's, the span ends."""

        def boom(*args: Any) -> None:
            raise RuntimeError("hook bug")

        instrument(request_hook=boom, response_hook=boom)
        with urllib.request.urlopen(server.url("/ok")) as response:
            assert response.read() == b"ok"
        assert len(span_exporter.get_finished_spans()) == 1

    def test_excluded_urls_from_the_environment(
        self,
        instrument: Any,
        server: Any,
        span_exporter: InMemorySpanExporter,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``OTEL_PYTHON_URLLIB_EXCLUDED_URLS`` matches the full URL: no span, no metric, no
        traceparent; other URLs are traced."""
        monkeypatch.setenv("OTEL_PYTHON_URLLIB_EXCLUDED_URLS", r"healthz,\?skip=1")
        instrument()
        urllib.request.urlopen(server.url("/healthz")).close()
        urllib.request.urlopen(server.url("/ok?skip=1")).close()
        assert [seen.headers.get("traceparent") for seen in server.seen] == [None, None]
        assert span_exporter.get_finished_spans() == ()
        assert metric_points() == {}
        urllib.request.urlopen(server.url("/ok")).close()
        assert len(span_exporter.get_finished_spans()) == 1

    def test_excluded_urls_keyword_wins_over_the_environment(
        self,
        instrument: Any,
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The ``excluded_urls`` keyword replaces the variables."""
        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "ok")
        instrument(excluded_urls="other")
        urllib.request.urlopen(server.url("/ok")).close()
        urllib.request.urlopen(server.url("/other")).close()
        assert [s.attributes["http.url"] for s in span_exporter.get_finished_spans()] == [
            server.url("/ok")
        ]

    def test_headers_are_captured_and_sanitized(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """Captured request and response headers, a sensitive one as ``[REDACTED]``."""
        instrument(
            captured_request_headers=["x-mine", "x-secret"],
            captured_response_headers=["x-served-by"],
            sensitive_headers=["x-secret"],
        )
        request = urllib.request.Request(
            server.url("/ok"), headers={"X-Mine": "1", "X-Secret": "s3"}
        )
        urllib.request.urlopen(request).close()
        attributes = only_span(span_exporter).attributes
        assert attributes["http.request.header.x_mine"] == ("1",)
        assert attributes["http.request.header.x_secret"] == ("[REDACTED]",)
        assert attributes["http.response.header.x_served_by"] == ("test-server",)

    def test_userinfo_is_redacted(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """Credentials in the URL never reach the span (urllib itself rejects them in the
        authority, so the call fails; the span's URL and its exception are redacted)."""
        instrument()
        url = f"http://user:secret@127.0.0.1:{server.port}/ok"
        raised(lambda: urllib.request.urlopen(url, timeout=5))
        span = only_span(span_exporter)
        assert "secret" not in span.attributes["http.url"]
        assert "secret" not in (span.status.description or "")


class TestLifecycle:
    def test_instrument_twice_and_again_after_uninstrument(
        self, instrument: Any, server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """One span per call whatever the cycles; none after ``uninstrument()``."""
        instrumentor: URLLibInstrumentor = instrument()
        instrument()
        urllib.request.urlopen(server.url("/ok")).close()
        instrumentor.uninstrument()
        urllib.request.urlopen(server.url("/ok")).close()
        instrument()
        urllib.request.urlopen(server.url("/ok")).close()
        assert len(span_exporter.get_finished_spans()) == 2
