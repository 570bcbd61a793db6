"""Fixtures for the instrumentarium-urllib3 tests.

``URLLib3Instrumentor`` is a process-wide singleton that patches
``urllib3.connectionpool.HTTPConnectionPool.urlopen``, so every test goes through
``instrumentor``: whatever a test instruments is undone when it ends. ``instrument`` passes the
test's SDK providers explicitly. ``server`` is a real threaded HTTP/1.1 server on loopback that
records what it received. ``client`` drives urllib3 for the HTTP client suite shared with
requests (``tests/support/http_client_suite.py``).

Two guards run around every test: the SDK never complains about a span ended twice, and no span
is left current once the test is over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import urllib3

from instrumentarium.urllib3 import URLLib3Instrumentor
from tests.support.http_client_suite import Call, HttpClient, Reply

ORIGINAL_URLOPEN = urllib3.connectionpool.HTTPConnectionPool.__dict__["urlopen"]


class Urllib3Client(HttpClient):
    """The suite's ``HttpClient``: a ``PoolManager`` without retries per call, closed after."""

    error = urllib3.exceptions.HTTPError
    ssl_error = urllib3.exceptions.SSLError
    records_user_agent = False
    reports_default_peer_port = True

    def send(self, call: Call) -> Reply:
        options: dict[str, Any] = {"chunked": isinstance(call.body, Iterator)}
        if call.timeout is not None:
            options["timeout"] = call.timeout
        with urllib3.PoolManager(retries=False, ca_certs=call.ca_bundle) as http:
            response = http.request(
                call.method, call.url, body=call.body, headers=call.headers, **options
            )
            return Reply(response.status, response.data)

    @contextmanager
    def stream(self, url: str) -> Iterator[Iterator[bytes]]:
        with urllib3.PoolManager(retries=False) as http:
            response = http.request("GET", url, preload_content=False)
            try:
                yield response.stream(4)
            finally:
                response.release_conn()


@pytest.fixture
def client() -> Urllib3Client:
    return Urllib3Client()


@pytest.fixture
def instrumentor() -> Iterator[URLLib3Instrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = URLLib3Instrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    pool = urllib3.connectionpool.HTTPConnectionPool
    if pool.__dict__["urlopen"] is not ORIGINAL_URLOPEN:
        pool.urlopen = ORIGINAL_URLOPEN  # type: ignore[method-assign]


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    """A pool manager without retries (a refused connection fails at once)."""
    manager = urllib3.PoolManager(retries=False)
    yield manager
    manager.clear()
