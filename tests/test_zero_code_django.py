"""Zero-code Django: the test project under ``opentelemetry-instrument`` with console exporters.

Two servers, one process each (module-scoped), driven over HTTP and stopped with SIGINT so the
SDK flushes; stdout is parsed with the dice example's ``console_telemetry.py``:

* ``python manage.py runserver --noreload`` (WSGI), with no ``DJANGO_SETTINGS_MODULE`` in the
  environment: ``manage.py`` sets it only after the agent has instrumented Django;
* ``uvicorn django_testproject.plain_asgi:application`` (ASGI, async views).

The project (``instrumentation/instrumentarium-django/tests/django_testproject``) has no
OpenTelemetry code: everything comes from the ``django`` entry point.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
from console_telemetry import ConsoleTelemetry, Metric, Span
from drive import DiceServer

pytestmark = pytest.mark.subprocess

BIN_DIR = Path(sys.executable).parent
PROJECT = (
    Path(__file__).resolve().parents[1] / "instrumentation" / "instrumentarium-django" / "tests"
)
MANAGE_PY = PROJECT / "manage.py"

CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"


class DjangoServer(DiceServer):
    """``DiceServer``'s lifecycle (free port, readiness by connect, SIGINT, output files) with a
    Django command instead of ``flask run``."""

    def __init__(self, argv: Sequence[str], extra_env: Optional[Mapping[str, str]] = None) -> None:
        self.argv = list(argv)
        super().__init__(BIN_DIR, extra_env, app=MANAGE_PY, service_name="django-server")
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.env["PYTHONPATH"] = str(PROJECT)

    def _use_port(self, port: int) -> None:
        super()._use_port(port)
        agent = self.command[: self.command.index("flask")]
        self.command = agent + [arg.format(port=port) for arg in self.argv]


RUNSERVER = [str(BIN_DIR / "python"), "manage.py", "runserver", "--noreload", "127.0.0.1:{port}"]
UVICORN = [
    str(BIN_DIR / "uvicorn"),
    "--host=127.0.0.1",
    "--port={port}",
    "--lifespan=off",
    "django_testproject.plain_asgi:application",
]


@dataclass(frozen=True)
class Run:
    telemetry: ConsoleTelemetry
    stderr: str
    returncode: int
    responses: Mapping[str, int]

    def server_span(self, route_name: str) -> Span:
        spans = [s for s in self.telemetry.spans_of_kind("SERVER") if s.name == route_name]
        assert len(spans) == 1, (route_name, [s.name for s in self.telemetry.spans])
        return spans[0]

    def metric(self, name: str) -> Metric:
        metric = self.telemetry.metric(name)
        assert metric is not None, f"{name} not exported; got {self.telemetry.metric_names()}"
        return metric


def run(
    argv: Sequence[str],
    paths: Sequence[str],
    extra_env: Optional[Mapping[str, str]] = None,
    headers: Optional[Mapping[str, Mapping[str, str]]] = None,
) -> Run:
    with DjangoServer(argv, extra_env) as server:
        responses = {path: server.get(path, (headers or {}).get(path))[0] for path in paths}
        finished = server.stop()
    return Run(
        ConsoleTelemetry.parse(finished.stdout), finished.stderr, finished.returncode, responses
    )


@pytest.fixture(scope="module")
def runserver() -> Run:
    return run(
        RUNSERVER,
        ["/user/7/", "/boom/", "/nowhere/", "/current/"],
        headers={"/current/": {"traceparent": TRACEPARENT}},
    )


@pytest.fixture(scope="module")
def runserver_disabled() -> Run:
    return run(RUNSERVER, ["/user/7/"], {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "django"})


@pytest.fixture(scope="module")
def uvicorn() -> Run:
    return run(
        UVICORN,
        ["/async/5/", "/async-boom/"],
        headers={"/async/5/": {"traceparent": TRACEPARENT}},
    )


def _error_events(span: Span) -> list[Mapping[str, Any]]:
    return [event for event in span.raw["events"] if event["name"] == "exception"]


class TestRunserver:
    def test_project_settings_are_kept(self, runserver: Run) -> None:
        """The agent instruments before ``manage.py`` sets ``DJANGO_SETTINGS_MODULE``; the
        project's own settings still apply (its URL patterns answer) and the server stops
        cleanly on SIGINT."""
        assert runserver.responses == {"/user/7/": 200, "/boom/": 500, "/nowhere/": 404,
                                       "/current/": 200}  # fmt: skip
        assert runserver.returncode == 0, runserver.stderr
        assert "ALLOWED_HOSTS" not in runserver.stderr

    def test_one_server_span_per_request_named_by_route(self, runserver: Run) -> None:
        """Each request gets exactly one SERVER span, named ``"{METHOD} {route}"``, with
        ``http.route`` and the status; an unmatched path is named by the method alone."""
        names = sorted(s.name for s in runserver.telemetry.spans_of_kind("SERVER"))
        assert names == ["GET", "GET boom/", "GET current/", "GET user/<int:uid>/"]
        assert len(runserver.telemetry.spans) == 4
        span = runserver.server_span("GET user/<int:uid>/")
        assert span.attributes["http.route"] == "user/<int:uid>/"
        assert span.attributes["http.status_code"] == 200
        assert span.attributes["http.method"] == "GET"
        assert span.status_code == "UNSET"
        assert span.raw["resource"]["attributes"]["service.name"] == "django-server"
        unmatched = runserver.server_span("GET")
        assert unmatched.attributes["http.status_code"] == 404
        assert "http.route" not in unmatched.attributes

    def test_view_exception_is_error_with_one_event(self, runserver: Run) -> None:
        """The view that raises: a 500 answer, the span ERROR ``"ValueError: boom"`` with one
        ``exception`` event."""
        span = runserver.server_span("GET boom/")
        assert span.status_code == "ERROR"
        assert span.raw["status"]["description"] == "ValueError: boom"
        [event] = _error_events(span)
        assert event["attributes"]["exception.type"] == "ValueError"

    def test_caller_traceparent_is_continued(self, runserver: Run) -> None:
        """A request with a ``traceparent`` continues the caller's trace; the others start
        their own."""
        span = runserver.server_span("GET current/")
        assert (span.trace_id, span.parent_id) == (f"0x{CALLER_TRACE_ID}", f"0x{CALLER_SPAN_ID}")
        other = runserver.server_span("GET user/<int:uid>/")
        assert other.parent_id is None
        assert other.trace_id != span.trace_id

    def test_duration_metric_has_the_route(self, runserver: Run) -> None:
        """``http.server.duration`` from scope ``instrumentarium.django``, one point per route,
        the route template in ``http.target`` (old conventions), never the raw path."""
        metric = runserver.metric("http.server.duration")
        assert metric.scope == "instrumentarium.django"
        targets = sorted(str(p["attributes"].get("http.target")) for p in metric.data_points)
        assert targets == ["None", "boom/", "current/", "user/<int:uid>/"]
        assert sum(p["count"] for p in metric.data_points) == 4
        active = runserver.metric("http.server.active_requests")
        assert [p["value"] for p in active.data_points] == [0]

    def test_disabled_by_the_agent_variable(self, runserver_disabled: Run) -> None:
        """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=django``: the app answers, nothing is traced
        or measured."""
        assert runserver_disabled.responses == {"/user/7/": 200}
        assert runserver_disabled.telemetry.spans == []
        names = runserver_disabled.telemetry.metric_names()
        assert not [name for name in names if name.startswith("http.server")], names


class TestUvicorn:
    def test_async_view_gets_one_server_span_continuing_the_caller(self, uvicorn: Run) -> None:
        """Under the ASGI handler, with no extra package: the async view's request is one
        SERVER span named by the route, continuing the caller's trace."""
        assert uvicorn.responses == {"/async/5/": 200, "/async-boom/": 500}
        span = uvicorn.server_span("GET async/<int:uid>/")
        assert (span.trace_id, span.parent_id) == (f"0x{CALLER_TRACE_ID}", f"0x{CALLER_SPAN_ID}")
        assert span.attributes["http.status_code"] == 200
        assert span.attributes["http.scheme"] == "http"
        assert len(uvicorn.telemetry.spans_of_kind("SERVER")) == 2

    def test_async_view_exception_is_error_with_one_event(self, uvicorn: Run) -> None:
        """The async view that raises: ERROR ``"ValueError: async boom"``, one event."""
        span = uvicorn.server_span("GET async-boom/")
        assert span.status_code == "ERROR"
        assert span.raw["status"]["description"] == "ValueError: async boom"
        assert len(_error_events(span)) == 1
        assert uvicorn.returncode == 0, uvicorn.stderr
