"""The HTTP client suite: what instrumentarium-requests, -urllib3 and -urllib all promise,
written once and run against each library.

Each package's ``tests/test_client_suite.py`` imports the test classes below; its
``conftest.py`` gives the fixture ``client``, an ``HttpClient`` whose ``send`` makes one call the
way an application would with that library (``requests.request``, a ``urllib3.PoolManager``
without retries closed after the call, ``urllib.request.urlopen``), and the usual
``instrumentor``. The rest is the shared
fixtures: ``instrument`` (the root conftest), ``server``, ``closed_port``, ``tls_server`` and
``tls_ca_bundle`` (``tests/support/http_server.py``, ``tests/support/tls.py``).

What only one library has (requests' sessions and adapters, urllib3's pools, retries and body
sizes, their hooks' signatures) stays in that package's own test modules; ``check_failure``
serves their extra failure cases.

    TestSpans         one CLIENT span per call: name, attributes, status, bodies, streaming
    TestPropagation   the traceparent the server sees; nothing when not instrumented
    TestSemconvModes  the stable names and ``http/dup``
    TestRedaction     sensitive query values and userinfo never reach an attribute
    TestFailures      the library's own exception, unchanged; the span ERROR; the metrics
    TestHttps         verified TLS, and a certificate that fails verification
    TestMetrics       the duration histograms' attributes in each mode
    TestLifecycle     instrumenting again, suppression
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Callable, Optional

import pytest
from opentelemetry.instrumentation.utils import (
    suppress_http_instrumentation,
    suppress_instrumentation,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.spans import raised, traceparent

__all__ = [
    "TestFailures",
    "TestHttps",
    "TestLifecycle",
    "TestMetrics",
    "TestPropagation",
    "TestRedaction",
    "TestSemconvModes",
    "TestSpans",
]

Points = Callable[[], dict[str, list[Any]]]


class Reply:
    """What a call returned: the status and the whole body."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Call:
    """One call as the tests describe it; ``body`` may be an iterator of chunks (sent
    chunked); ``ca_bundle`` is the CA file to verify TLS with."""

    method: str
    url: str
    body: Any = None
    headers: Optional[dict[str, str]] = None
    ca_bundle: Optional[str] = None
    timeout: Optional[float] = None


class HttpClient:
    """One library, driven as an application drives it: a package's conftest subclasses it."""

    # the library's base error (requests.RequestException, urllib3.exceptions.HTTPError)
    error: type[BaseException]
    # its own error for a TLS failure (requests.exceptions.SSLError, ...)
    ssl_error: type[BaseException]
    # whether its spans carry ``user_agent.original`` (requests' do, as upstream's)
    records_user_agent: bool
    # whether its old metrics carry ``net.peer.port`` for the scheme's default port too
    # (urllib3's do, as upstream's: the pool's port; requests' only for an explicit one)
    reports_default_peer_port: bool
    # whether it sends a URL's ``user:password@`` as credentials (urllib.request does not: it
    # takes the userinfo for part of the host name, and the call fails to resolve it)
    accepts_userinfo: bool = True

    def send(self, call: Call) -> Reply:
        raise NotImplementedError

    def stream(self, url: str) -> AbstractContextManager[Iterator[bytes]]:
        """A GET whose body is read after the call returns, in small pieces."""
        raise NotImplementedError

    def request(self, method: str, url: str, **options: Any) -> Reply:
        """``send(Call(method, url, **options))``."""
        return self.send(Call(method, url, **options))


def old_duration_attributes(port: int, method: str = "GET", status: int = 200) -> dict[str, Any]:
    """The old histograms' attributes for a call to ``http://127.0.0.1:<port>``: upstream's
    bounded set (no path, no query)."""
    return {
        "http.method": method,
        "http.scheme": "http",
        "http.host": "127.0.0.1",
        "net.peer.name": "127.0.0.1",
        "net.peer.port": port,
        "http.status_code": status,
        "http.flavor": "1.1",
    }


def only_span(exporter: InMemorySpanExporter) -> Any:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def same_message(traced: BaseException, bare: BaseException) -> bool:
    """The same message, but for object addresses (requests quotes a connection object)."""

    def text(exc: BaseException) -> str:
        return re.sub(r" object at 0x[0-9a-fA-F]+", " object at 0x", str(exc))

    return text(traced) == text(bare)


def check_failure(
    call: Callable[[], object],
    opt_in: str,
    instrument: Callable[..., Any],
    span_exporter: InMemorySpanExporter,
    metric_points: Points,
    monkeypatch: pytest.MonkeyPatch,
) -> BaseException:
    """``call()`` fails the same way without and with instrumentation (same type, same
    message); the one span is ERROR with ``"<Type>: ..."`` and one exception event, and the
    duration is recorded; with ``http/dup``, ``error.type`` is the exception's class on the span
    and on the stable histogram. Returns the traced exception."""
    bare = raised(call)
    if opt_in:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
    instrument()
    traced = raised(call)
    assert type(traced) is type(bare)
    assert same_message(traced, bare), (str(traced), str(bare))
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description.startswith(type(traced).__name__ + ": ")
    assert [event.name for event in span.events] == ["exception"]
    points = metric_points()
    assert len(points["http.client.duration"]) == 1
    if opt_in == "http/dup":
        assert span.attributes["error.type"] == type(traced).__qualname__
        (new,) = points["http.client.request.duration"]
        assert new.attributes["error.type"] == type(traced).__qualname__
    return traced


class TestSpans:
    """One CLIENT span per call, named by the method, with the status rules of clients."""

    def test_get_is_one_client_span_named_get(
        self, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """A GET gives one CLIENT span named ``GET`` with upstream's old attributes by default
        (``user_agent.original`` where upstream records it)."""
        instrument()
        reply = client.request("GET", server.url("/ok?a=1"), headers={"User-Agent": "ua/1"})
        assert reply.body == b"ok"
        span = only_span(span_exporter)
        assert span.name == "GET"
        assert span.kind is SpanKind.CLIENT
        expected = {
            "http.method": "GET",
            "http.url": server.url("/ok?a=1"),
            "http.status_code": 200,
        }
        if client.records_user_agent:
            expected["user_agent.original"] = "ua/1"
        assert dict(span.attributes) == expected
        assert span.status.status_code is StatusCode.UNSET

    @pytest.mark.parametrize("method", ["POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"])
    def test_each_known_method_names_its_span(
        self, method: str, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """Each known method names its span and is recorded as ``http.method``."""
        instrument()
        client.request(method, server.url("/ok"), body=b"x" if method != "HEAD" else None)
        span = only_span(span_exporter)
        assert (span.name, span.attributes["http.method"]) == (method, method)

    def test_unknown_method_is_http_and_other(
        self, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """A method outside the known list names the span ``HTTP`` and records ``_OTHER``."""
        instrument()
        client.request("PURGE", server.url("/ok"))
        span = only_span(span_exporter)
        assert (span.name, span.attributes["http.method"]) == ("HTTP", "_OTHER")

    @pytest.mark.parametrize("code", [400, 404, 500, 503])
    def test_4xx_and_5xx_are_errors(
        self, code: int, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """A client span is ERROR for 4xx and 5xx, without a description; the response is the
        application's as usual."""
        instrument()
        assert client.request("GET", server.url(f"/status/{code}")).status == code
        span = only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None
        assert span.attributes["http.status_code"] == code

    def test_chunked_request_and_response(
        self, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """A generator body is sent chunked and a chunked response is read whole; a span each."""
        instrument()
        assert client.request("POST", server.url("/echo"), body=iter([b"ab", b"cd"])).body == (
            b"abcd"
        )
        assert client.request("GET", server.url("/chunked")).body == b"hello chunked world"
        assert [s.name for s in span_exporter.get_finished_spans()] == ["POST", "GET"]

    def test_streamed_response_ends_the_span_when_the_call_returns(
        self, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """A streamed response ends the span when the call returns; the body is read after."""
        instrument()
        with client.stream(server.url("/chunked")) as pieces:
            assert len(span_exporter.get_finished_spans()) == 1
            assert b"".join(pieces) == b"hello chunked world"

    def test_percent_encoded_path_is_recorded_as_sent(
        self, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """A percent-encoded non-ASCII path is recorded as it was sent."""
        instrument()
        client.request("GET", server.url("/caf%C3%A9/%C3%BC"))
        assert only_span(span_exporter).attributes["http.url"] == server.url("/caf%C3%A9/%C3%BC")
        assert server.seen[-1].path == "/caf%C3%A9/%C3%BC"


class TestPropagation:
    """The server sees the client span's traceparent; the caller's headers are untouched."""

    def test_traceparent_names_the_client_span_and_the_callers_headers_stay(
        self, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """The injected traceparent names the CLIENT span as the parent; the caller's own
        header is sent too, and the caller's dict is not changed."""
        instrument()
        headers = {"X-Mine": "1"}
        client.request("GET", server.url("/ok"), headers=headers)
        assert headers == {"X-Mine": "1"}
        seen = server.seen[-1].headers
        assert seen["X-Mine"] == "1"
        assert seen["traceparent"] == traceparent(only_span(span_exporter))

    def test_uninstrumented_sends_no_traceparent(
        self, client: HttpClient, instrumentor: Any, server: Any
    ) -> None:
        """Without instrumentation nothing is injected."""
        client.request("GET", server.url("/ok"))
        assert "traceparent" not in server.seen[-1].headers


class TestSemconvModes:
    """``OTEL_SEMCONV_STABILITY_OPT_IN`` switches the attribute names."""

    @pytest.mark.parametrize("code", [404, 503])
    def test_stable_mode(
        self,
        code: int,
        client: HttpClient,
        instrument: Any,
        server: Any,
        span_exporter: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``http`` gives the stable names, with server.address/port, the peer and the
        protocol, and ``error.type`` for an error status."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        client.request("GET", server.url(f"/status/{code}"), headers={"User-Agent": "ua/1"})
        expected = {
            "http.request.method": "GET",
            "url.full": server.url(f"/status/{code}"),
            "server.address": "127.0.0.1",
            "server.port": server.port,
            "network.peer.address": "127.0.0.1",
            "network.peer.port": server.port,
            "http.response.status_code": code,
            "network.protocol.version": "1.1",
            "error.type": str(code),
        }
        if client.records_user_agent:
            expected["user_agent.original"] = "ua/1"
        assert dict(only_span(span_exporter).attributes) == expected

    def test_dup_mode_is_the_union(
        self,
        client: HttpClient,
        instrument: Any,
        server: Any,
        span_exporter: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``http/dup`` carries both names of each attribute and nothing else."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        client.request("GET", server.url("/ok"))
        attributes = dict(only_span(span_exporter).attributes)
        assert attributes["http.method"] == attributes["http.request.method"] == "GET"
        assert attributes["http.url"] == attributes["url.full"]
        assert attributes["http.status_code"] == attributes["http.response.status_code"] == 200
        assert "http.host" not in attributes


class TestRedaction:
    """Every URL written is redacted (upstream's urllib3 leaks these)."""

    def test_sensitive_query_values_are_redacted(
        self, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """``Signature=``, ``sig=`` and ``X-Amz-Credential=`` never reach ``http.url``; other
        values stay; the server still gets them all."""
        instrument()
        client.request("GET", server.url("/ok?Signature=abc&sig=x&keep=1&X-Amz-Credential=k"))
        assert only_span(span_exporter).attributes["http.url"] == server.url(
            "/ok?Signature=REDACTED&sig=REDACTED&keep=1&X-Amz-Credential=REDACTED"
        )
        assert server.seen[-1].path == "/ok?Signature=abc&sig=x&keep=1&X-Amz-Credential=k"

    def test_userinfo_reaches_no_attribute(
        self,
        client: HttpClient,
        instrument: Any,
        server: Any,
        span_exporter: Any,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``user:secret@`` in the URL reaches no span or metric attribute, in either
        convention (``http/dup``): the URL attributes say ``REDACTED`` (or, where the library
        drops the userinfo itself, nothing), the host attributes name the host alone (issue 14,
        item 12, client side)."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        url = f"http://user:secret@127.0.0.1:{server.port}/ok"
        if client.accepts_userinfo:
            client.request("GET", url)
        else:
            with pytest.raises(client.error):
                client.request("GET", url)
        span = only_span(span_exporter)
        written = [dict(span.attributes)] + [
            dict(point.attributes) for points in metric_points().values() for point in points
        ]
        leaked = [
            (key, value)
            for attributes in written
            for key, value in attributes.items()
            if "secret" in str(value) or "user" in str(value)
        ]
        assert leaked == []
        assert span.attributes["server.address"] == "127.0.0.1"


FAILURES = {
    "refused": lambda client, server, port: client.request("GET", f"http://127.0.0.1:{port}/"),
    "read-timeout": lambda client, server, port: client.request(
        "GET", server.url("/slow"), timeout=0.05
    ),
    "tls-to-a-plain-server": lambda client, server, port: client.request(
        "GET", f"https://127.0.0.1:{server.port}/", timeout=5
    ),
}


class TestFailures:
    """The library's own exception, unchanged; the span ERROR; the duration still recorded."""

    @pytest.mark.parametrize("opt_in", ["", "http/dup"], ids=["default", "dup"])
    @pytest.mark.parametrize("failure", sorted(FAILURES))
    def test_same_exception_and_an_error_span(
        self,
        failure: str,
        opt_in: str,
        client: HttpClient,
        instrument: Any,
        server: Any,
        closed_port: int,
        span_exporter: Any,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Refused, timed out, TLS to a plain server: see ``check_failure``; the TLS failure
        is the library's own SSLError."""
        traced = check_failure(
            lambda: FAILURES[failure](client, server, closed_port),
            opt_in,
            instrument,
            span_exporter,
            metric_points,
            monkeypatch,
        )
        if failure == "tls-to-a-plain-server":
            assert type(traced) is client.ssl_error

    def test_error_type_is_the_exception_class_in_stable_mode(
        self,
        client: HttpClient,
        instrument: Any,
        closed_port: int,
        span_exporter: Any,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``error.type`` is the exception's qualified name on the span and the metric, whose
        attributes are the bounded set and nothing else."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        instrument()
        error = raised(lambda: client.request("GET", f"http://127.0.0.1:{closed_port}/"))
        assert only_span(span_exporter).attributes["error.type"] == type(error).__qualname__
        (point,) = metric_points()["http.client.request.duration"]
        assert point.attributes == {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": closed_port,
            "error.type": type(error).__qualname__,
        }


class TestHttps:
    """HTTPS against a real TLS server on loopback (``tests/support/tls.py``, a local CA)."""

    def test_verified_https_request_succeeds_with_https_attributes(
        self,
        client: HttpClient,
        instrument: Any,
        tls_server: Any,
        tls_ca_bundle: str,
        span_exporter: Any,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A POST over verified TLS returns the echoed body; one CLIENT span whose URL is
        ``https://`` with the server's port (old and stable names); the traceparent and the
        body reach the server; the metrics carry ``https`` and the port."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        reply = client.request(
            "POST", tls_server.url("/echo?a=1"), body=b"sealed", ca_bundle=tls_ca_bundle
        )
        assert (reply.status, reply.body) == (200, b"sealed")
        span = only_span(span_exporter)
        assert (span.name, span.kind) == ("POST", SpanKind.CLIENT)
        assert span.status.status_code is StatusCode.UNSET
        url = f"https://127.0.0.1:{tls_server.port}/echo?a=1"
        assert span.attributes["http.url"] == span.attributes["url.full"] == url
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] == tls_server.port
        assert span.attributes["http.status_code"] == 200
        assert span.attributes["http.response.status_code"] == 200
        [seen] = tls_server.seen
        assert seen.headers["traceparent"] == traceparent(span)
        assert seen.body == b"sealed"
        points = metric_points()
        (old,) = points["http.client.duration"]
        assert old.attributes["http.scheme"] == "https"
        assert old.attributes["net.peer.port"] == tls_server.port
        (new,) = points["http.client.request.duration"]
        assert new.attributes["server.port"] == tls_server.port

    def test_untrusted_certificate_raises_the_same_error_and_ends_the_span_error(
        self,
        client: HttpClient,
        instrument: Any,
        untrusted_tls_server: Any,
        tls_ca_bundle: str,
        span_exporter: Any,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A certificate signed by a CA the client does not trust: the library's SSLError,
        the same type and message as without instrumentation; one ERROR span with the
        exception event and ``error.type``, no status code, and the duration still recorded."""
        url = untrusted_tls_server.url("/ok")

        def call() -> Reply:
            return client.request("GET", url, ca_bundle=tls_ca_bundle, timeout=5)

        bare = raised(call)
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        traced = raised(call)
        assert type(traced) is type(bare) is client.ssl_error
        assert "CERTIFICATE_VERIFY_FAILED" in str(traced)
        assert same_message(traced, bare), (str(traced), str(bare))
        span = only_span(span_exporter)
        assert span.status.status_code is StatusCode.ERROR
        # "SSLError" for requests and urllib3; urllib wraps it in its URLError
        assert span.attributes["error.type"] == client.ssl_error.__qualname__
        assert [event.name for event in span.events] == ["exception"]
        assert "http.status_code" not in span.attributes
        (point,) = metric_points()["http.client.request.duration"]
        assert point.attributes["error.type"] == client.ssl_error.__qualname__
        assert untrusted_tls_server.seen == []


class TestMetrics:
    """``http.client.duration`` (ms, old names) and ``http.client.request.duration`` (s)."""

    def test_old_mode_attributes(
        self, client: HttpClient, instrument: Any, server: Any, metric_points: Points
    ) -> None:
        """The old histogram carries upstream's bounded attribute set (no path, no query)."""
        instrument()
        client.request("GET", server.url("/ok?id=12345"))
        (point,) = metric_points()["http.client.duration"]
        assert point.count == 1
        assert point.attributes == old_duration_attributes(server.port)

    @pytest.mark.parametrize(("opt_in", "code"), [("http", 404), ("http/dup", 500)])
    def test_stable_mode_attributes(
        self,
        opt_in: str,
        code: int,
        client: HttpClient,
        instrument: Any,
        server: Any,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The stable histogram has its own bounded names; ``http/dup`` records the old one
        too, with the old names."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
        instrument()
        client.request("GET", server.url(f"/status/{code}"))
        points = metric_points()
        (new,) = points["http.client.request.duration"]
        assert new.attributes == {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": server.port,
            "http.response.status_code": code,
            "network.protocol.version": "1.1",
            "error.type": str(code),
        }
        if opt_in == "http/dup":
            (old,) = points["http.client.duration"]
            assert old.attributes["http.status_code"] == code
        else:
            assert "http.client.duration" not in points

    def test_default_port_is_filled_in_stable_mode_only(
        self,
        client: HttpClient,
        instrument: Any,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Without an explicit port, ``server.port`` is the scheme's default (80); the old
        ``net.peer.port`` is 80 for urllib3 and absent for requests, as upstream."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        error = raised(lambda: client.request("GET", "http://localhost.invalid/", timeout=2))
        assert isinstance(error, client.error)
        points = metric_points()
        old = points["http.client.duration"][0].attributes
        if client.reports_default_peer_port:
            assert old["net.peer.port"] == 80
        else:
            assert "net.peer.port" not in old
        assert points["http.client.request.duration"][0].attributes["server.port"] == 80


class TestLifecycle:
    """Instrumenting again; suppressed contexts."""

    def test_instrument_uninstrument_instrument_gives_one_span(
        self, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """instrument, uninstrument, instrument, instrument (a warning, no second layer): one
        span per call."""
        instrument().uninstrument()
        instrument()
        instrument()
        client.request("GET", server.url("/ok"))
        assert len(span_exporter.get_finished_spans()) == 1

    def test_uninstrumented_makes_no_spans(
        self, client: HttpClient, instrument: Any, server: Any, span_exporter: Any
    ) -> None:
        """After uninstrument() calls are not traced."""
        instrument().uninstrument()
        client.request("GET", server.url("/ok"))
        assert span_exporter.get_finished_spans() == ()

    @pytest.mark.parametrize("suppress", [suppress_instrumentation, suppress_http_instrumentation])
    def test_suppressed(
        self,
        suppress: Any,
        client: HttpClient,
        instrument: Any,
        server: Any,
        span_exporter: Any,
        metric_points: Points,
    ) -> None:
        """Inside either suppression context: no span, no metric, no injected header."""
        instrument()
        with suppress():
            client.request("GET", server.url("/ok"))
        assert span_exporter.get_finished_spans() == ()
        assert metric_points() == {}
        assert "traceparent" not in server.seen[-1].headers
