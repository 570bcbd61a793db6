"""Zero-code start-up is lazy: ``opentelemetry-instrument`` instruments every installed library
without importing it, and the patches land when the application imports the library.

Runs in the dev venv, where every instrumentarium distribution and every library is installed.
The time and memory this saves are measured by ``benchmarks/startup.py`` (no thresholds here).
"""

from __future__ import annotations

import json

import pytest

from tests.support.agent import run_under_agent

pytestmark = pytest.mark.subprocess

LAZY_LIBRARIES = (
    "flask",
    "werkzeug",
    "django",
    "redis",
    "requests",
    "urllib3",
    "grpc",
    "kafka",
    "pyramid",
    "webob",
    "falcon",
    "urllib.request",
    "jinja2",
    "starlette",
    "fastapi",
    "tornado",
    "celery",
)


_REPORT = f"""\
import json, sys
from opentelemetry.util._importlib_metadata import entry_points  # group= on Python 3.9 too
loaded = {{}}
for ep in entry_points(group="opentelemetry_instrumentor"):
    if ep.value.startswith("instrumentarium."):
        module, _, name = ep.value.partition(":")
        cls = getattr(sys.modules.get(module), name, None)
        instance = getattr(cls, "_instance", None)
        loaded[ep.name] = bool(getattr(instance, "is_instrumented_by_opentelemetry", False))
print(json.dumps({{
    "imported": sorted(n for n in {LAZY_LIBRARIES!r} if n in sys.modules),
    "instrumented": loaded,
}}))
"""


def _report() -> dict[str, object]:
    result = run_under_agent(_REPORT)
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_startup_instruments_every_entry_point_without_importing_its_library() -> None:
    """Every instrumentarium entry point is instrumented at start-up, and none of the
    libraries (flask, redis, requests, urllib3, grpc, kafka, pyramid, falcon) is imported by it."""
    report = _report()
    instrumented = report["instrumented"]
    assert isinstance(instrumented, dict)
    assert {"flask", "redis", "requests", "urllib3", "pyramid", "falcon"} <= set(instrumented)
    assert all(instrumented.values()), instrumented
    assert report["imported"] == []


def test_startup_is_silent() -> None:
    """Instrumenting everything at start-up writes nothing to stderr: no warning, no
    traceback."""
    result = run_under_agent("pass")
    assert result.returncode == 0
    assert result.stderr == ""


def test_deferred_patches_land_on_first_import() -> None:
    """After start-up, importing requests and redis applies their patches (wrapt wrappers on
    ``Session.send`` and ``Redis.execute_command``)."""
    code = (
        "import wrapt, requests, redis.client\n"
        "print(isinstance(requests.sessions.Session.__dict__['send'], wrapt.FunctionWrapper),"
        " isinstance(redis.client.Redis.__dict__['execute_command'], wrapt.FunctionWrapper))\n"
    )
    result = run_under_agent(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
