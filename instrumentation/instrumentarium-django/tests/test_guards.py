"""A step of our own telemetry that raises is logged once and the request goes on (the guards)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

from instrumentarium.util.http import HttpServerMetrics, ServerCall

BROKEN_STEPS = [
    pytest.param(ServerCall, "start_span", id="span start"),
    pytest.param(ServerCall, "on_response", id="response"),
    pytest.param(HttpServerMetrics, "record_duration", id="span end"),
    pytest.param(ServerCall, "record_exception_event", id="exception"),
]


@pytest.mark.parametrize("handler", ["wsgi", "asgi"])
@pytest.mark.parametrize(("owner", "method"), BROKEN_STEPS)
def test_request_succeeds_and_the_failure_is_logged_once(
    owner: object,
    method: str,
    handler: str,
    broken_step: Callable[[object, str], Any],
    instrument: Callable[..., Any],
    client: Callable[..., Any],
    async_client: Callable[..., Any],
) -> None:
    """Requests through a middleware whose telemetry step raises (twice a view Django answers,
    twice one that raises and becomes a 500) all get Django's response; each guard that caught
    the failure logged it at WARNING the first time, at DEBUG after that."""
    logged = broken_step(owner, method)
    instrument()

    def get(path: str) -> Any:
        if handler == "asgi":
            return asyncio.run(async_client(raise_request_exception=False).get(path))
        return client(raise_request_exception=False).get(path)

    responses = [get(path) for _ in range(2) for path in ("/user/1/", "/boom/")]

    assert [r.status_code for r in responses] == [200, 500, 200, 500]
    assert responses[0].content == responses[2].content == b"user 1"
    # each request fails once; the view's exception is recorded twice (process_exception and
    # Django's signal) when the first attempt failed
    assert logged.once_per_site(failures=4), logged.sites()
