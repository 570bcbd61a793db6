"""A step of our own telemetry that raises is logged once and the request goes on (the guards)."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from instrumentarium.util.http import HttpServerMetrics, ServerCall

BROKEN_STEPS = [
    pytest.param(ServerCall, "start_span", id="span start"),
    pytest.param(ServerCall, "on_response", id="response"),
    pytest.param(HttpServerMetrics, "record_duration", id="span end"),
]


@pytest.mark.parametrize(("owner", "method"), BROKEN_STEPS)
def test_request_succeeds_and_the_failure_is_logged_once(
    owner: object,
    method: str,
    broken_step: Callable[[object, str], Any],
    wrap: Callable[..., Any],
    run: Callable[..., Any],
    environ: Callable[..., Any],
) -> None:
    """Two requests through a middleware whose step raises both answer as the app did; the
    failure is logged with its traceback, at WARNING the first time, at DEBUG the second."""
    logged = broken_step(owner, method)
    app = wrap()

    for _ in range(2):
        start_response, body = run(app, environ())
        assert (start_response.status, body) == ("200 OK", b"hello")

    assert logged.once_per_site(failures=2), logged.sites()
