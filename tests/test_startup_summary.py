"""The start-up summary under ``opentelemetry-instrument``: one DEBUG record listing every
instrumentarium entry point as instrumented, deferred, disabled, skipped (and why) or failed, and
no traceback at the default level for the expected conditions.

Runs the real agent in the dev venv (every instrumentarium distribution and library installed).
The conditions the dev venv does not have are made with installed-distribution metadata in a
directory on ``PYTHONPATH``, which is where the agent and ``importlib.metadata`` look:

* ``redis 1.0``: a version outside instrumentarium-redis's range;
* an instrumentarium entry point whose library is not installed (``nosuchlib``);
* an instrumentarium entry point whose module cannot be imported (``brokenlib``, in its own
  directory: agents before 0.5x log that one with a traceback, so the quiet run leaves it out);
* a second instrumentor under the ``requests`` name (as upstream's package would be);
* an ``opentelemetry_pre_instrument`` entry point that imports requests (and so urllib3) before
  the instrumentors run, as an exporter or an early import in a real start-up would.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from instrumentarium.util import startup
from tests.support.agent import run_under_agent

pytestmark = pytest.mark.subprocess

HEADER = "instrumentarium start-up:"
LINE = re.compile(r"^  (\S+)\s+(instrumented|deferred|disabled|skipped|failed)\s+(.*)$")


def _dist_info(site: Path, name: str, *, requires: str = "", eps: str = "") -> None:
    folder = site / f"{name.replace('-', '_')}-1.0.dist-info"
    folder.mkdir()
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    if requires:
        metadata += f"Provides-Extra: instruments\nRequires-Dist: {requires}\n"
    (folder / "METADATA").write_text(metadata)
    if eps:
        (folder / "entry_points.txt").write_text(eps)


# Every instrumentor distribution declares its library; agents before 0.5x fail on one that
# declares none. requests is installed wherever these tests run.
_SATISFIED = 'requests >= 2.0; extra == "instruments"'

_UPSTREAM_LIKE = """\
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

class RequestsInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self):
        return []

    def _instrument(self, **kwargs):
        pass

    def _uninstrument(self, **kwargs):
        pass
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of distribution metadata (and two modules) for the conditions above."""
    site = tmp_path_factory.mktemp("site")
    _dist_info(site, "redis")
    _dist_info(
        site,
        "instrumentarium-fixture-missing",
        requires='nosuchlib-for-instrumentarium-tests >= 1; extra == "instruments"',
        eps="[opentelemetry_instrumentor]\n"
        "nosuchlib = instrumentarium.fixture_missing:NoSuchLibInstrumentor\n",
    )
    _dist_info(
        site,
        "fixture-upstream-requests",
        requires=_SATISFIED,
        eps="[opentelemetry_instrumentor]\n"
        "requests = fixture_upstream_requests:RequestsInstrumentor\n",
    )
    (site / "fixture_upstream_requests.py").write_text(_UPSTREAM_LIKE)
    _dist_info(
        site,
        "fixture-early-import",
        eps="[opentelemetry_pre_instrument]\nearly = fixture_early_import:run\n",
    )
    (site / "fixture_early_import.py").write_text("def run():\n    import requests\n")
    return site


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instrumentarium entry point whose module does not exist."""
    broken = tmp_path_factory.mktemp("broken")
    _dist_info(
        broken,
        "instrumentarium-fixture-broken",
        requires=_SATISFIED,
        eps="[opentelemetry_instrumentor]\n"
        "brokenlib = instrumentarium.fixture_broken:BrokenInstrumentor\n",
    )
    return broken


def _agent(path: list[Path], code: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """The agent with the directories of ``path`` on ``PYTHONPATH`` (the first one the working
    directory) and the gRPC server instrumentor disabled."""
    variables.setdefault("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "grpc_server")
    return run_under_agent(
        code, cwd=path[0], PYTHONPATH=os.pathsep.join(map(str, path)), **variables
    )


def _summary(text: str) -> dict[str, tuple[str, str]]:
    """``{entry point: (state, detail)}`` from the lines after the summary's header."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if HEADER in line)
    parsed = {}
    for line in lines[start + 1 :]:
        match = LINE.match(line)
        if match is None:
            break
        parsed[match.group(1)] = (match.group(2), match.group(3))
    return parsed


_AFTER_IMPORT = """\
import flask
from instrumentarium.util.startup import format_summary, startup_summary
print(format_summary(startup_summary()))
"""


@pytest.fixture(scope="module")
def debug_run(site: Path, broken: Path) -> subprocess.CompletedProcess[str]:
    """One agent run with ``OTEL_LOG_LEVEL=debug``; the app imports flask, then prints the
    summary again."""
    result = _agent([site, broken], _AFTER_IMPORT, OTEL_LOG_LEVEL="debug")
    assert result.returncode == 0, result.stderr
    return result


class TestSummaryAtDebug:
    def test_one_record_on_stderr(self, debug_run: subprocess.CompletedProcess[str]) -> None:
        """``OTEL_LOG_LEVEL=debug`` without any logging set up: exactly one summary record,
        written to stderr in logging's basic format."""
        assert debug_run.stderr.count(HEADER) == 1
        assert f"DEBUG:instrumentarium:{HEADER}" in debug_run.stderr

    def test_libraries_imported_before_are_instrumented(
        self, debug_run: subprocess.CompletedProcess[str]
    ) -> None:
        """requests and urllib3, imported before the instrumentors ran, are instrumented now,
        with their installed versions."""
        summary = _summary(debug_run.stderr)
        assert summary["requests"][0] == "instrumented"
        assert summary["urllib3"][0] == "instrumented"
        assert re.search(r"\burllib3 \d", summary["urllib3"][1])

    def test_standard_library_instrumentor_says_so(
        self, debug_run: subprocess.CompletedProcess[str]
    ) -> None:
        """logging has no library to install: its line says it patches the standard library
        (and the lines after it are still read: no line ends at the state). Older SDKs do not
        import ``logging.config`` at start-up: its patch then waits for that import."""
        summary = _summary(debug_run.stderr)
        state, detail = summary["logging"]
        assert state == "instrumented"
        assert re.fullmatch(
            r"(patched on first import of logging\.config; )?standard library \(Python [\d.]+\)",
            detail,
        ), detail

    def test_libraries_not_imported_are_deferred(
        self, debug_run: subprocess.CompletedProcess[str]
    ) -> None:
        """flask and the gRPC client wait for their library's first import."""
        summary = _summary(debug_run.stderr)
        for name, library in [("flask", "flask"), ("grpc_client", "grpc")]:
            state, detail = summary[name]
            assert state == "deferred", (name, detail)
            assert f"patched on first import of {library}" in detail

    def test_disabled_names_the_variable(self, debug_run: subprocess.CompletedProcess[str]) -> None:
        """An entry point in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS is disabled, and says so."""
        state, detail = _summary(debug_run.stderr)["grpc_server"]
        assert state == "disabled"
        assert "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" in detail

    def test_version_outside_the_range_is_skipped_with_both(
        self, debug_run: subprocess.CompletedProcess[str]
    ) -> None:
        """redis 1.0 is skipped: the line gives the installed version and the range."""
        state, detail = _summary(debug_run.stderr)["redis"]
        assert state == "skipped"
        assert "redis 1.0 is outside the supported range redis >=" in detail

    def test_missing_library_is_skipped_as_not_installed(
        self, debug_run: subprocess.CompletedProcess[str]
    ) -> None:
        """An entry point whose library is not installed is skipped as 'not installed'."""
        state, detail = _summary(debug_run.stderr)["nosuchlib"]
        assert (state, detail) == (
            "skipped",
            "not installed: nosuchlib-for-instrumentarium-tests >=1",
        )

    def test_unloadable_instrumentor_is_failed(
        self, debug_run: subprocess.CompletedProcess[str]
    ) -> None:
        """An entry point without a dependency problem that the agent could not load is
        'failed', pointing at the agent's log."""
        state, detail = _summary(debug_run.stderr)["brokenlib"]
        assert state == "failed"
        assert "agent" in detail

    def test_second_instrumentor_for_the_same_name_is_named(
        self, debug_run: subprocess.CompletedProcess[str]
    ) -> None:
        """Another distribution instrumented under ``requests`` too: the line names it and
        warns that each call is traced twice; other lines do not."""
        summary = _summary(debug_run.stderr)
        assert "also instrumented by fixture-upstream-requests 1.0" in summary["requests"][1]
        assert "traced twice" in summary["requests"][1]
        assert "traced twice" not in summary["urllib3"][1]

    def test_deferred_becomes_instrumented_on_import(
        self, debug_run: subprocess.CompletedProcess[str]
    ) -> None:
        """After the application imports flask, its patch set waits for nothing: the summary
        made then lists flask as instrumented, the gRPC client still deferred."""
        later = _summary(debug_run.stdout)
        assert later["flask"][0] == "instrumented"
        assert later["grpc_client"][0] == "deferred"

    def test_no_traceback_but_the_agents_own(
        self, debug_run: subprocess.CompletedProcess[str]
    ) -> None:
        """Even at DEBUG the expected conditions produce no traceback. The one allowed is the
        agent's for the module that does not exist (agents before 0.5x report an instrumentor's
        ModuleNotFoundError as 'Importing of ... failed' with its traceback)."""
        tracebacks = debug_run.stderr.count("Traceback")
        assert tracebacks == 0 or (
            tracebacks == 1 and "Importing of brokenlib failed" in debug_run.stderr
        )


def test_default_level_is_quiet(site: Path) -> None:
    """At the default level: no summary and no traceback for a library outside its range, a
    missing library and a disabled entry point. The agent's own ERROR for the version out of
    range (redis 1.0; DEBUG on agents before 0.5x) is the only line allowed."""
    result = _agent([site], "pass")
    assert result.returncode == 0, result.stderr
    assert HEADER not in result.stderr
    assert "Traceback" not in result.stderr
    for line in result.stderr.splitlines():
        assert "redis 1.0" in line, result.stderr


def test_wildcard_disables_every_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=*`` (the agent instruments nothing): every
    instrumentarium entry point is reported disabled."""
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "redis, *")
    statuses = startup.startup_summary()
    assert {"redis", "requests", "flask"} <= {status.name for status in statuses}
    assert {status.state for status in statuses} == {"disabled"}
