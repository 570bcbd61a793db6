"""A step of our own telemetry that raises is logged once and the request goes on (the guards)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import tornado.httpclient

from instrumentarium.tornado import _routes, _server
from instrumentarium.util.http import HttpClientCall, HttpServerMetrics, ServerCall

BROKEN_STEPS = [
    pytest.param(ServerCall, "start_span", id="server span start"),
    pytest.param(ServerCall, "propagate_response", id="traceresponse"),
    pytest.param(_server, "route_of", id="route"),
    pytest.param(ServerCall, "on_response", id="server response"),
    pytest.param(HttpServerMetrics, "record_duration", id="server span end"),
    pytest.param(HttpClientCall, "__init__", id="client span start"),
    pytest.param(HttpClientCall, "on_response", id="client response"),
]


@pytest.mark.parametrize(("owner", "method"), BROKEN_STEPS)
def test_requests_succeed_and_the_failure_is_logged_once(
    owner: object,
    method: str,
    broken_step: Callable[[object, str], Any],
    instrument: Callable[..., Any],
    serve: Callable[..., Any],
    metric_points: Any,
) -> None:
    """Two fetches of a handler whose telemetry step raises both get the handler's response;
    each guard that caught the failure logged it at WARNING the first time, DEBUG the second;
    no request is left counted as active."""
    logged = broken_step(owner, method)
    instrument()

    async def scenario(base: str, client: tornado.httpclient.AsyncHTTPClient) -> list[Any]:
        replies = []
        for _ in range(2):
            response = await client.fetch(base + "/users/1")
            replies.append((response.code, response.body))
        return replies

    assert serve(scenario) == [(200, b"user 1")] * 2
    assert logged.once_per_site(failures=2), logged.sites()
    active = metric_points().get("http.server.active_requests", [])
    assert [p.value for p in active if p.value != 0] == []


def test_routes_module_is_the_one_the_server_uses() -> None:
    """The route step broken above is the server's own reference."""
    assert _server.route_of is _routes.route_of
