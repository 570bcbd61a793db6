"""instrumentarium-bootstrap in fresh virtual environments, from the locally built wheels.

Each test makes its own venv (uv's, which has no pip, or ``python -m venv`` with pip), installs
the ``instrumentarium`` wheel and some libraries from PyPI (through uv's cache), then runs the
console script as a user would. The wheels come from ``scripts/build`` once per source tree
(``built_wheels``); ``-- --find-links DIR`` passes the wheel directory on to the installer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from instrumentarium.bootstrap.version import __version__
from tests.test_release import built_wheels, outside_this_venv, uv_install, uv_venv

pytestmark = pytest.mark.subprocess


def _run(*command: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=outside_this_venv(**env),
    )


def _installed(python: Path) -> dict[str, str]:
    result = _run(
        python,
        "-c",
        "from importlib import metadata\n"
        "for d in metadata.distributions(): print(d.metadata['Name'].lower(), d.version)",
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


APP = """\
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from flask import Flask

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
app = Flask(__name__)

@app.route("/roll")
def roll():
    return requests.get(f"http://127.0.0.1:{server.server_port}/dice", timeout=10).text

assert app.test_client().get("/roll").data == b"ok"
server.shutdown()
"""


def test_uv_venv_without_pip_proposes_installs_and_traces(tmp_path: Path) -> None:
    """In a uv-made venv (no pip) with Flask and requests: the bootstrap proposes exactly their
    two instrumentors and the standard library's (logging, urllib), ``-a install`` installs them
    with ``uv pip`` in one call, the libraries keep their versions, and ``opentelemetry-instrument``
    then prints a server and a client span of one trace."""
    wheels = built_wheels()
    python = uv_venv(tmp_path / "venv")
    bin_dir = python.parent
    uv_install(
        python,
        "--find-links",
        str(wheels),
        "instrumentarium",
        "flask==3.0.3",
        "requests",
        "opentelemetry-distro",
        "opentelemetry-sdk",
    )
    assert "pip" not in _installed(python)
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"  # uv on PATH, as for a uv user

    proposed = _run(bin_dir / "instrumentarium-bootstrap", PATH=path)
    assert proposed.returncode == 0, proposed.stderr
    assert proposed.stdout.splitlines() == [
        f"instrumentarium-flask=={__version__}",
        f"instrumentarium-logging=={__version__}",
        f"instrumentarium-requests=={__version__}",
        f"instrumentarium-urllib=={__version__}",
    ]

    before = _installed(python)
    install = _run(
        bin_dir / "instrumentarium-bootstrap",
        "-a",
        "install",
        "--",
        "--find-links",
        wheels,
        PATH=path,
    )
    assert install.returncode == 0, install.stderr
    assert install.stderr.count(" pip install ") == 1  # one resolver call
    after = _installed(python)
    assert after["instrumentarium-flask"] == __version__
    assert after["instrumentarium-requests"] == __version__
    assert after["instrumentarium-logging"] == __version__
    assert after["instrumentarium-urllib"] == __version__
    assert after["flask"] == before["flask"] == "3.0.3"
    assert after["requests"] == before["requests"]

    again = _run(bin_dir / "instrumentarium-bootstrap", PATH=path)
    assert again.stdout == ""
    assert again.stderr.count("(already-installed)") == 4

    app = tmp_path / "app.py"
    app.write_text(APP)
    traced = _run(
        bin_dir / "opentelemetry-instrument",
        python,
        app,
        PATH=path,
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    assert traced.returncode == 0, traced.stderr
    assert '"name": "GET /roll"' in traced.stdout
    assert '"kind": "SpanKind.SERVER"' in traced.stdout
    assert '"kind": "SpanKind.CLIENT"' in traced.stdout
    trace_ids = {line.split('"')[3] for line in traced.stdout.splitlines() if '"trace_id"' in line}
    assert len(trace_ids) == 1, traced.stdout


def test_pip_venv_skips_a_library_outside_the_range_and_installs_with_pip(
    tmp_path: Path,
) -> None:
    """In a ``python -m venv`` venv (pip present) with Flask 2.1 (below ``flask >= 2.2``) and
    requests: the bootstrap explains the Flask skip, installs the requests instrumentor, the
    Jinja2 one (Flask 2.1 brings Jinja2 3, which Flask's instrumentor does not cover) and the
    standard library's (logging, urllib) with pip, and leaves Flask at 2.1."""
    wheels = built_wheels()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    uv_install(python, "--find-links", str(wheels), "instrumentarium", "flask==2.1.3", "requests")
    path = "/usr/bin:/bin"  # no uv: pip is used

    proposed = _run(venv / "bin/instrumentarium-bootstrap", "--format", "json", PATH=path)
    assert proposed.returncode == 0, proposed.stderr
    assert (
        f'"requirements": [\n    "instrumentarium-jinja2=={__version__}",\n'
        f'    "instrumentarium-logging=={__version__}",\n'
        f'    "instrumentarium-requests=={__version__}",\n'
        f'    "instrumentarium-urllib=={__version__}"\n  ]'
    ) in proposed.stdout
    assert '"code": "out-of-range"' in proposed.stdout
    text = _run(venv / "bin/instrumentarium-bootstrap", PATH=path)
    assert "skipped (out-of-range) Flask 2.1.3 is outside the range" in text.stderr

    install = _run(
        venv / "bin/instrumentarium-bootstrap",
        "-a",
        "install",
        "--",
        "--find-links",
        wheels,
        PATH=path,
    )
    assert install.returncode == 0, install.stderr
    assert f"{python} -m pip install" in install.stderr
    after = _installed(python)
    assert after["instrumentarium-requests"] == __version__
    assert after["instrumentarium-jinja2"] == __version__
    assert "instrumentarium-flask" not in after
    assert after["flask"] == "2.1.3"


def test_failed_install_exits_non_zero(tmp_path: Path) -> None:
    """When the installer fails (here: no index and no wheel directory), the exit status is 1
    and the message names the installer."""
    wheels = built_wheels()
    python = uv_venv(tmp_path / "venv")
    uv_install(python, "--find-links", str(wheels), "instrumentarium", "redis")
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    result = _run(
        python.parent / "instrumentarium-bootstrap",
        "-a",
        "install",
        "--",
        "--no-index",
        PATH=path,
        UV_FIND_LINKS="",
    )
    assert result.returncode == 1
    assert "uv failed (exit status" in result.stderr


def test_no_installer_exits_non_zero_and_prints_the_requirements(tmp_path: Path) -> None:
    """Without pip in the venv and without uv on PATH, ``-a install`` says so, prints what to
    install, and exits 1 (upstream fails with "No module named pip")."""
    wheels = built_wheels()
    python = uv_venv(tmp_path / "venv")
    uv_install(python, "--find-links", str(wheels), "instrumentarium", "redis")
    result = _run(
        python.parent / "instrumentarium-bootstrap", "-a", "install", PATH="/usr/bin:/bin"
    )
    assert result.returncode == 1
    assert "neither pip" in result.stderr
    assert f"instrumentarium-redis=={__version__}" in result.stderr
