"""``net.peer.ip`` through upstream's peer-IP enrichment, for requests and urllib3 (issue 14,
item 5).

``opentelemetry-util-http``'s ``HttpClientInstrumentor`` patches ``http.client`` to write the
connected peer's IP (``net.peer.ip``) onto the spans a client instrumentation hands it with
``set_ip_on_next_http_connection(span)``, a context manager around the request. Upstream's
requests and urllib3 instrumentations hand theirs over; so do ours, when that module is
imported and its instrumentor is on.

``TestContract`` pins our side with a stand-in module (no extra dependency): the span is handed
over for the duration of the request only when the enrichment is on. ``TestWithUpstream`` runs
the real one when ``opentelemetry-util-http`` is installed.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import requests
import urllib3
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span

from instrumentarium.requests import RequestsInstrumentor
from instrumentarium.urllib3 import URLLib3Instrumentor

MODULE = "opentelemetry.util.http.httplib"


def _get_with_requests(url: str) -> int:
    return requests.get(url, timeout=5).status_code


def _get_with_urllib3(url: str) -> int:
    with urllib3.PoolManager(retries=False) as http:
        return http.request("GET", url).status


CLIENTS = [
    pytest.param((RequestsInstrumentor, _get_with_requests), id="requests"),
    pytest.param((URLLib3Instrumentor, _get_with_urllib3), id="urllib3"),
]


@pytest.fixture
def client(
    request: pytest.FixtureRequest, tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Iterator[Callable[[str], int]]:
    """The parametrized client library, instrumented with the test's providers."""
    instrumentor_type, get = request.param
    instrumentor = instrumentor_type()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield get
    instrumentor.uninstrument()


class _StandIn:
    """What our clients may rely on in upstream's module: an instrumentor singleton with
    ``is_instrumented_by_opentelemetry`` and the ``set_ip_on_next_http_connection`` manager."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.handed: list[tuple[Span, bool]] = []  # (span, recording while handed over)
        module = types.ModuleType(MODULE)
        stand_in = self

        class HttpClientInstrumentor:
            is_instrumented_by_opentelemetry = on

        @contextlib.contextmanager
        def set_ip_on_next_http_connection(span: Span) -> Iterator[None]:
            stand_in.handed.append((span, span.is_recording()))
            span.set_attribute("net.peer.ip", "192.0.2.1")  # what the patched connect would do
            yield

        module.HttpClientInstrumentor = HttpClientInstrumentor  # type: ignore[attr-defined]
        module.set_ip_on_next_http_connection = set_ip_on_next_http_connection  # type: ignore[attr-defined]
        self.module = module


class TestContract:
    """Our side of the enrichment, with a stand-in for upstream's module."""

    @pytest.mark.parametrize("client", CLIENTS, indirect=True)
    def test_span_is_handed_over_when_the_enrichment_is_on(
        self,
        client: Callable[[str], int],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Enrichment on: our CLIENT span is handed over while it records, and carries
        ``net.peer.ip``."""
        stand_in = _StandIn(on=True)
        monkeypatch.setitem(sys.modules, MODULE, stand_in.module)
        assert client(server.url("/")) == 200
        (span,) = span_exporter.get_finished_spans()
        assert [(s.get_span_context().span_id, rec) for s, rec in stand_in.handed] == [
            (span.context.span_id, True)
        ]
        assert span.attributes["net.peer.ip"] == "192.0.2.1"

    @pytest.mark.parametrize("client", CLIENTS, indirect=True)
    def test_nothing_is_handed_over_when_it_is_off(
        self,
        client: Callable[[str], int],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Module imported but its instrumentor off: nothing handed over, no ``net.peer.ip``."""
        stand_in = _StandIn(on=False)
        monkeypatch.setitem(sys.modules, MODULE, stand_in.module)
        assert client(server.url("/")) == 200
        (span,) = span_exporter.get_finished_spans()
        assert stand_in.handed == []
        assert "net.peer.ip" not in span.attributes

    @pytest.mark.parametrize("client", CLIENTS, indirect=True)
    def test_a_raising_enrichment_leaves_the_request_alone(
        self,
        client: Callable[[str], int],
        server: Any,
        span_exporter: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """An enrichment that raises is logged; the request and its span go on."""
        stand_in = _StandIn(on=True)

        def broken(span: Span) -> Any:
            raise RuntimeError("enrichment bug")

        stand_in.module.set_ip_on_next_http_connection = broken  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, MODULE, stand_in.module)
        assert client(server.url("/")) == 200
        assert len(span_exporter.get_finished_spans()) == 1


class TestWithUpstream:
    """The real ``HttpClientInstrumentor``, when ``opentelemetry-util-http`` is installed."""

    @pytest.mark.parametrize("client", CLIENTS, indirect=True)
    def test_net_peer_ip_is_set(
        self, client: Callable[[str], int], server: Any, span_exporter: InMemorySpanExporter
    ) -> None:
        """With upstream's enrichment instrumented, our span gets ``net.peer.ip``."""
        httplib = pytest.importorskip(MODULE)
        enrichment = httplib.HttpClientInstrumentor()
        enrichment.instrument()
        try:
            assert client(server.url("/")) == 200
        finally:
            enrichment.uninstrument()
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["net.peer.ip"] == "127.0.0.1"
