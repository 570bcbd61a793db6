"""A step of our own telemetry that raises is logged once and the request goes on (the guards)."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from instrumentarium.util.http import HttpServerMetrics, ServerCall

BROKEN_STEPS = [
    pytest.param(ServerCall, "start_span", id="span start"),
    pytest.param(ServerCall, "set_route", id="route"),
    pytest.param(ServerCall, "on_response", id="response"),
    pytest.param(HttpServerMetrics, "record_duration", id="span end"),
]


@pytest.mark.parametrize(("owner", "method"), BROKEN_STEPS)
def test_request_succeeds_and_the_failure_is_logged_once(
    owner: object,
    method: str,
    broken_step: Callable[[object, str], Any],
    flavor: Any,
    instrument: Callable[..., Any],
) -> None:
    """Two requests to an app (WSGI or ASGI) whose telemetry step raises both get the view's
    response; each guard that caught the failure logged it at WARNING the first time, at
    DEBUG the second."""
    logged = broken_step(owner, method)
    app = flavor.app()
    instrument()

    responses = [flavor.client(app).simulate_get("/users/1") for _ in range(2)]

    assert [(r.status_code, r.text) for r in responses] == [(200, "user 1")] * 2
    assert logged.once_per_site(failures=2), logged.sites()
