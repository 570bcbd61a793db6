"""The client metrics as urllib has them: durations in every mode, body sizes, the protocol
version as the server answered it."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest

Points = Callable[[], dict[str, list[Any]]]


class _Http10(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"10")


@pytest.fixture
def http10_url() -> Iterator[str]:
    """A server that answers HTTP/1.0."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Http10)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class TestSizes:
    """``http.client.request.size`` / ``response.size`` (old) and the ``body.size`` pair (new)."""

    @pytest.mark.parametrize("opt_in", ["", "http"], ids=["default", "stable"])
    def test_request_and_response_body_sizes(
        self,
        opt_in: str,
        instrument: Any,
        server: Any,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A 7-byte POST echoed back: 7 bytes each way, in the mode's instruments only."""
        if opt_in:
            monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
        instrument()
        urllib.request.urlopen(server.url("/echo"), b"payload").close()
        points = metric_points()
        if opt_in:
            request, response = "http.client.request.body.size", "http.client.response.body.size"
            assert "http.client.request.size" not in points
        else:
            request, response = "http.client.request.size", "http.client.response.size"
            assert "http.client.request.body.size" not in points
        assert [p.sum for p in points[request]] == [7]
        assert [p.sum for p in points[response]] == [7]

    def test_head_has_an_empty_response_and_a_stream_body_no_request_size(
        self, instrument: Any, server: Any, metric_points: Points
    ) -> None:
        """A HEAD's response body is 0 bytes whatever Content-Length says; a body of unknown
        length (an iterator, sent chunked) has no request size recorded (upstream raises
        ``TypeError`` before sending it)."""
        instrument()
        urllib.request.urlopen(urllib.request.Request(server.url("/ok"), method="HEAD")).close()
        urllib.request.urlopen(
            urllib.request.Request(server.url("/echo"), data=iter([b"ab", b"cd"]))
        ).close()
        points = metric_points()
        assert [p.count for p in points["http.client.request.size"]] == [1]  # the HEAD's 0
        assert sorted(p.sum for p in points["http.client.response.size"]) == [0, 4]


class TestDurations:
    def test_old_attributes_are_bounded(
        self, instrument: Any, server: Any, metric_points: Points
    ) -> None:
        """The old histogram has no URL (upstream adds the full URL: unbounded cardinality)."""
        instrument()
        urllib.request.urlopen(server.url("/ok?id=12345")).close()
        (point,) = metric_points()["http.client.duration"]
        assert point.attributes == {
            "http.method": "GET",
            "http.scheme": "http",
            "http.host": "127.0.0.1",
            "net.peer.name": "127.0.0.1",
            "net.peer.port": server.port,
            "http.status_code": 200,
            "http.flavor": "1.1",
        }

    def test_http_1_0_is_reported_as_1_0(
        self,
        instrument: Any,
        http10_url: str,
        span_exporter: Any,
        metric_points: Points,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """An HTTP/1.0 answer is ``1.0`` on the span and the metrics (upstream says 1.1)."""
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http/dup")
        instrument()
        with urllib.request.urlopen(http10_url) as response:
            assert response.read() == b"10"
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["network.protocol.version"] == "1.0"
        points = metric_points()
        assert points["http.client.duration"][0].attributes["http.flavor"] == "1.0"
        (new,) = points["http.client.request.duration"]
        assert new.attributes["network.protocol.version"] == "1.0"
