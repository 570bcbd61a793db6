"""Fixtures for the WSGI middleware tests: a clean environment, environ builders, and helpers
that drive a wrapped app the way a WSGI server does (call, iterate, close)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Callable, Optional

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.wsgi import OpenTelemetryMiddleware

Environ = dict[str, Any]
App = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


@pytest.fixture
def hook_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog`` capturing the ``instrumentarium`` logger at DEBUG and the SDK's warnings."""
    caplog.set_level(logging.DEBUG, logger="instrumentarium")
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    return caplog


@pytest.fixture(params=["default", "http", "http/dup"])
def semconv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each semconv mode in turn, set in ``OTEL_SEMCONV_STABILITY_OPT_IN``."""
    if request.param != "default":
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", request.param)
    return str(request.param)


def build_environ(**overrides: Any) -> Environ:
    """A complete, deterministic environ for ``GET /hello`` from 10.1.2.3 on host example.com."""
    environ: Environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/hello",
        "QUERY_STRING": "",
        "SERVER_NAME": "srv.local",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "example.com:8080",
        "REMOTE_ADDR": "10.1.2.3",
        "REMOTE_PORT": "50000",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.input": None,
        "wsgi.errors": None,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in overrides.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return environ


class StartResponse:
    """A server's ``start_response``: records what the app (and the middleware) sent."""

    def __init__(self) -> None:
        self.status: Optional[str] = None
        self.headers: list[tuple[str, str]] = []
        self.calls = 0

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.calls += 1
        self.status = status
        self.headers = list(headers)
        return lambda data: None

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def serve(app: App, environ: Environ) -> tuple[StartResponse, bytes]:
    """Drive ``app`` as a server does: call it, read the body, close it."""
    start_response = StartResponse()
    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return start_response, body


def hello_app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


@pytest.fixture
def environ() -> Callable[..., Environ]:
    """``environ(**overrides)``: a fresh environ; an override of None removes the key."""
    return build_environ


@pytest.fixture
def run() -> Callable[[App, Environ], tuple[StartResponse, bytes]]:
    """``run(app, environ)`` -> ``(start_response, body)``, as a server would drive it."""
    return serve


@pytest.fixture
def make_start_response() -> Callable[[], StartResponse]:
    """A recording ``start_response`` for tests that drive the body by hand."""
    return StartResponse


@pytest.fixture
def wrap(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Callable[..., OpenTelemetryMiddleware]:
    """``wrap(app=hello_app, **kwargs)``: the middleware with the test's SDK providers."""

    def make(app: App = hello_app, **kwargs: Any) -> OpenTelemetryMiddleware:
        return OpenTelemetryMiddleware(
            app, tracer_provider=tracer_provider, meter_provider=meter_provider, **kwargs
        )

    return make
