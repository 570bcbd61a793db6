"""Release shape: every distribution's metadata is complete, its wheel and sdist build and pass
``twine check``, and the wheels installed into a fresh virtual environment import and work.

The wheels are built once by ``scripts/build`` into ``.cache/test-wheels/<digest of the sources>``
(``built_wheels()``, shared with the fresh-venv bootstrap tests); an unchanged tree reuses them.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.agent import clean_environ

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
UV = str(BIN / "uv")


def distributions() -> list[Path]:
    """Every distribution folder that is complete (a distribution being written may lack its
    generated ``version.py`` until ``scripts/generate`` runs)."""
    found = []
    for pattern in ("util/*/pyproject.toml", "instrumentation/*/pyproject.toml", "meta/*"):
        for path in sorted(ROOT.glob(pattern)):
            dist = path.parent if path.name == "pyproject.toml" else path
            meta = tomllib.loads((dist / "pyproject.toml").read_text())
            if (dist / meta["tool"]["hatch"]["version"]["path"]).exists():
                found.append(dist)
    return found


def _digest(dists: list[Path]) -> str:
    sha = hashlib.sha256()
    for dist in dists:
        for path in sorted(dist.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and "tests" not in path.parts:
                sha.update(str(path.relative_to(ROOT)).encode())
                sha.update(path.read_bytes())
    sha.update((ROOT / "VERSION").read_bytes())
    return sha.hexdigest()[:16]


def built_wheels(dists: list[Path] | None = None) -> Path:
    """The directory of wheels and sdists of ``dists`` (default: all), built by scripts/build
    once per source digest; concurrent callers wait for one build."""
    dists = distributions() if dists is None else dists
    cache = ROOT / ".cache" / "test-wheels"
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / _digest(dists)
    with (cache / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = out / ".complete"
        if not done.exists():
            result = subprocess.run(
                [str(ROOT / "scripts/build"), "--out", str(out), *map(str, dists)],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
                timeout=300,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            done.write_text("")
    return out


def uv_venv(path: Path) -> Path:
    """A fresh virtual environment made by uv (no pip in it); returns its python."""
    subprocess.run(
        [UV, "venv", "--quiet", "--python", sys.executable, str(path)], check=True, timeout=120
    )
    return path / "bin" / "python"


def uv_install(python: Path, *args: str) -> None:
    result = subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(python), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def outside_this_venv(**extra: str) -> dict[str, str]:
    """The test process's environment without OTEL_*, PYTHONPATH or an active venv."""
    return clean_environ("PYTHONPATH", "VIRTUAL_ENV", **extra)


class TestMetadata:
    """Each pyproject declares what PyPI and installers need; checked without building."""

    @pytest.mark.parametrize("dist", distributions(), ids=lambda d: d.name)
    def test_metadata_is_complete(self, dist: Path) -> None:
        """Summary, README long description, license, classifiers with every supported
        Python, requires-python >= 3.9, URLs; instrumentors also an ``instruments`` extra."""
        project = tomllib.loads((dist / "pyproject.toml").read_text())["project"]
        assert project["description"].strip()
        assert project["readme"] == "README.md"
        assert (dist / "README.md").read_text().startswith(f"# {project['name']}")
        assert project["license"]
        assert project["requires-python"] == ">=3.9"
        classifiers = set(project["classifiers"])
        for minor in range(9, 14):
            assert f"Programming Language :: Python :: 3.{minor}" in classifiers
        assert "Typing :: Typed" in classifiers
        assert {"Homepage", "Source", "Issues"} <= set(project["urls"])
        assert project["urls"]["Source"].endswith(str(dist.relative_to(ROOT)))
        if dist.parent.name == "instrumentation":
            assert "instruments" in project.get("optional-dependencies", {})

    @pytest.mark.parametrize("dist", distributions(), ids=lambda d: d.name)
    def test_package_ships_py_typed_and_no_namespace_init(self, dist: Path) -> None:
        """``py.typed`` is in the package; ``instrumentarium/__init__.py`` is nowhere (PEP 420)."""
        meta = tomllib.loads((dist / "pyproject.toml").read_text())
        package = (dist / meta["tool"]["hatch"]["version"]["path"]).parent
        assert (package / "py.typed").exists()
        assert not (dist / "src/instrumentarium/__init__.py").exists()


@pytest.mark.subprocess
class TestBuiltDistributions:
    def test_every_distribution_has_a_wheel_and_an_sdist(self) -> None:
        """scripts/build (which runs ``twine check --strict``) makes both for each one."""
        out = built_wheels()
        for dist in distributions():
            project = tomllib.loads((dist / "pyproject.toml").read_text())["project"]
            stem = project["name"].replace("-", "_")
            assert len(list(out.glob(f"{stem}-*.whl"))) == 1, stem
            assert len(list(out.glob(f"{stem}-*.tar.gz"))) == 1, stem

    def test_wheels_carry_their_entry_points_and_long_description(self) -> None:
        """Each instrumentor wheel registers its ``opentelemetry_instrumentor`` entry points
        and has the README as a markdown long description."""
        out = built_wheels()
        for dist in distributions():
            project = tomllib.loads((dist / "pyproject.toml").read_text())["project"]
            stem = project["name"].replace("-", "_")
            (wheel,) = out.glob(f"{stem}-*.whl")
            with zipfile.ZipFile(wheel) as archive:
                names = archive.namelist()
                metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
                eps_name = next((n for n in names if n.endswith("entry_points.txt")), None)
                entry_points = archive.read(eps_name).decode() if eps_name else ""
            assert "Description-Content-Type: text/markdown" in metadata
            assert f"# {project['name']}" in metadata
            for name in project.get("entry-points", {}).get("opentelemetry_instrumentor", {}):
                assert f"{name} = " in entry_points

    def test_wheels_in_a_fresh_venv_import_and_trace(self, tmp_path: Path) -> None:
        """Every wheel installs into a new venv (libraries from PyPI); every package imports
        without importing its library, and a Flask request under zero-code makes a span."""
        out = built_wheels()
        python = uv_venv(tmp_path / "venv")
        uv_install(
            python,
            "--find-links",
            str(out),
            "instrumentarium[all]",
            "opentelemetry-distro",
            "opentelemetry-sdk",
            "flask",
        )
        modules = sorted(
            ".".join(
                (
                    d
                    / tomllib.loads((d / "pyproject.toml").read_text())["tool"]["hatch"]["version"][
                        "path"
                    ]
                )
                .parent.relative_to(d / "src")
                .parts
            )
            for d in distributions()
        )
        check = (
            "import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "assert 'flask' not in sys.modules and 'requests' not in sys.modules\n"
            "print('imported', len(sys.modules))\n"
        )
        result = subprocess.run(
            [str(python), "-c", check], capture_output=True, text=True, check=False, timeout=120
        )
        assert result.returncode == 0, result.stderr
        app = tmp_path / "app.py"
        app.write_text(
            "from flask import Flask\n"
            "app = Flask(__name__)\n"
            "@app.route('/hello/<name>')\n"
            "def hello(name):\n"
            "    return 'hi ' + name\n"
            "assert app.test_client().get('/hello/x').data == b'hi x'\n"
        )
        result = subprocess.run(
            [str(python.parent / "opentelemetry-instrument"), str(python), str(app)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env=outside_this_venv(
                OTEL_TRACES_EXPORTER="console",
                OTEL_METRICS_EXPORTER="none",
                OTEL_LOGS_EXPORTER="none",
            ),
        )
        assert result.returncode == 0, result.stderr
        assert '"name": "GET /hello/<name>"' in result.stdout
        assert '"kind": "SpanKind.SERVER"' in result.stdout
