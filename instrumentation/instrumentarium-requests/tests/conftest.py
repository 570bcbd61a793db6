"""Fixtures for the instrumentarium-requests tests.

``RequestsInstrumentor`` is a process-wide singleton that patches ``requests.Session.send``, so
every test goes through ``instrumentor``: what a test instruments (globally or per session) is
undone when it ends. ``instrument`` passes the test's SDK providers explicitly. ``server`` is a
real threaded HTTP/1.1 server on loopback that records what it received. ``client`` drives
requests for the HTTP client suite shared with urllib3 (``tests/support/http_client_suite.py``).

Two guards run around every test: the SDK never complains about a span ended twice, and no span
is left current once the test is over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import pytest
import requests
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.requests import RequestsInstrumentor, _send
from tests.support.http_client_suite import Call, HttpClient, Reply

ORIGINAL_SEND = requests.Session.__dict__["send"]


class RequestsClient(HttpClient):
    """The suite's ``HttpClient``: ``requests.request`` (a new session per call, closed)."""

    error = requests.RequestException
    ssl_error = requests.exceptions.SSLError
    records_user_agent = True
    reports_default_peer_port = False

    def send(self, call: Call) -> Reply:
        response = requests.request(
            call.method,
            call.url,
            data=call.body,
            headers=call.headers,
            verify=call.ca_bundle or True,
            timeout=call.timeout,
        )
        return Reply(response.status_code, response.content)

    @contextmanager
    def stream(self, url: str) -> Iterator[Iterator[bytes]]:
        with requests.get(url, stream=True) as response:
            yield response.iter_content(4)


@pytest.fixture
def client() -> RequestsClient:
    return RequestsClient()


@pytest.fixture
def sessions() -> list[requests.Session]:
    """Sessions a test instruments one by one; forgotten when it ends."""
    return []


@pytest.fixture
def instrumentor(sessions: list[requests.Session]) -> Iterator[RequestsInstrumentor]:
    """The singleton, left uninstrumented (globally and per session) when the test ends."""
    instance = RequestsInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    for session in sessions:
        _send.forget_session(session)
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    if requests.Session.__dict__["send"] is not ORIGINAL_SEND:
        requests.Session.send = ORIGINAL_SEND  # type: ignore[method-assign]


@pytest.fixture
def instrument_session(
    instrumentor: RequestsInstrumentor,
    sessions: list[requests.Session],
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
) -> Callable[..., None]:
    """``instrument_session(session, **kwargs)`` with the test's providers."""

    def run(session: requests.Session, **kwargs: Any) -> None:
        kwargs.setdefault("tracer_provider", tracer_provider)
        kwargs.setdefault("meter_provider", meter_provider)
        sessions.append(session)
        RequestsInstrumentor.instrument_session(session, **kwargs)

    return run
