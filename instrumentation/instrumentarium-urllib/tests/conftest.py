"""Fixtures for the instrumentarium-urllib tests.

``URLLibInstrumentor`` is a process-wide singleton that patches
``urllib.request.OpenerDirector.open``, so every test goes through ``instrumentor``: whatever a
test instruments is undone when it ends. ``instrument`` passes the test's SDK providers
explicitly. ``server`` and ``tls_server`` are real threaded HTTP/1.1 servers on loopback that
record what they received. ``client`` drives ``urllib.request.urlopen`` for the HTTP client
suite shared with requests and urllib3 (``tests/support/http_client_suite.py``).
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from instrumentarium.urllib import URLLibInstrumentor
from tests.support.http_client_suite import Call, HttpClient, Reply

ORIGINAL_OPEN = urllib.request.OpenerDirector.__dict__["open"]


def urlopen(call: Call) -> Any:
    """``urlopen`` as an application calls it: a ``Request`` with the method, body and headers
    (the caller's dict is copied by ``Request``), a TLS context when a CA bundle is given."""
    request = urllib.request.Request(
        call.url, data=call.body, headers=call.headers or {}, method=call.method
    )
    options: dict[str, Any] = {}
    if call.timeout is not None:
        options["timeout"] = call.timeout
    if call.ca_bundle is not None:
        options["context"] = ssl.create_default_context(cafile=call.ca_bundle)
    return urllib.request.urlopen(request, **options)


class UrllibClient(HttpClient):
    """The suite's ``HttpClient``: ``urlopen``; an ``HTTPError`` is the reply it carries."""

    error = urllib.error.URLError
    ssl_error = urllib.error.URLError  # urllib wraps the ssl module's error in its own
    records_user_agent = False
    reports_default_peer_port = False
    accepts_userinfo = False  # "user:secret@127.0.0.1" is looked up as a host name, and fails

    def send(self, call: Call) -> Reply:
        try:
            with urlopen(call) as response:
                return Reply(response.status, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.read())

    @contextmanager
    def stream(self, url: str) -> Iterator[Iterator[bytes]]:
        with urllib.request.urlopen(url) as response:
            yield iter(lambda: response.read(4), b"")


@pytest.fixture
def client() -> UrllibClient:
    return UrllibClient()


@pytest.fixture
def instrumentor() -> Iterator[URLLibInstrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = URLLibInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    director = urllib.request.OpenerDirector
    if director.__dict__["open"] is not ORIGINAL_OPEN:
        director.open = ORIGINAL_OPEN  # type: ignore[method-assign]
