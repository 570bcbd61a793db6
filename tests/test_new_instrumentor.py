"""``scripts/new-instrumentor`` stamps a distribution that is complete before anyone fills it in:
generated files current, ruff-clean, its ``<Lib>Config`` importable with the common options.

The stamp goes into a copy of the repository's layout under ``tmp_path`` (``--dest``), never
into the tree itself.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "new-instrumentor"
BIN = Path(sys.executable).parent


def _ruff() -> Path:
    """ruff of this environment, else of the repository's .venv (a tox environment installs the
    test group, not the dev tools, but runs after scripts/setup)."""
    for candidate in (BIN / "ruff", ROOT / ".venv" / "bin" / "ruff"):
        if candidate.is_file():
            return candidate
    found = shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed: run scripts/setup (it installs the dev tools)")
    return Path(found)


# A throw-away name longer than any planned one (kafka-python, starlette): the stamped lines
# must still fit ruff's 100 columns.
NAME = "throwaway-example"
PACKAGE = "throwaway_example"
LIB = "ThrowawayExample"


def load_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("new_instrumentor_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader("new_instrumentor_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The repository's layout: the distributions without their tests or caches (what generate
    reads) and the files the stamp lists every instrumentor in."""
    copy = tmp_path / "repo"
    copy.mkdir()
    ignore = shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", ".*")
    for name in ("VERSION", "README.md", "pyproject.toml", "tox.ini"):
        shutil.copy2(ROOT / name, copy / name)
    (copy / "tests").mkdir()
    for name in ("test_contract.py", "test_startup.py"):
        shutil.copy2(ROOT / "tests" / name, copy / "tests" / name)
    shutil.copytree(ROOT / "tests" / "support", copy / "tests" / "support", ignore=ignore)
    for folder in ("util", "instrumentation", "meta"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=ignore)
    return copy


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # The stamp formats with the ruff it finds; the copy has no .venv of its own.
    path = os.pathsep.join([str(_ruff().parent), os.environ.get("PATH", "")])
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PATH": path},
    )


@pytest.fixture
def stamped_import_path(repo: Path) -> Iterator[list[str]]:
    """``sys.path`` entries a test adds to import a stamped package; removed afterwards, with
    the modules imported from them."""
    added: list[str] = []
    yield added
    for entry in added:
        sys.path.remove(entry)
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(entry):
                del sys.modules[name]


class TestStamp:
    """One stamp of a throw-away name, checked the way scripts/check would."""

    def test_stamped_package_is_complete_and_clean(
        self, repo: Path, stamped_import_path: list[str]
    ) -> None:
        """The command succeeds and says what to fill in; generate --check passes on the
        result; the contract test, tox.ini and the start-up test list it; ruff finds nothing
        in what was written; the config imports with the common options."""
        done = run(str(SCRIPT), NAME, "--library", "throw-away", "--dest", str(repo))
        assert done.returncode == 0, done.stderr
        assert "Fill in next" in done.stdout
        assert "scripts/setup" in done.stdout
        dist = repo / "instrumentation" / f"instrumentarium-{NAME}"
        pkg = dist / "src" / "instrumentarium" / PACKAGE
        for name in ("__init__.py", "_config.py", "_patches.py", "package.py", "version.py"):
            assert (pkg / name).is_file(), name
        assert (pkg / "py.typed").is_file()
        assert (dist / "tests" / "test_instrumentor.py").is_file()

        check = run(str(ROOT / "scripts" / "generate"), "--check", "--root", str(repo))
        assert check.returncode == 0, check.stderr
        assert '("throw-away",)' in (pkg / "package.py").read_text()
        readme = (dist / "README.md").read_text()
        assert "| `tracer_provider` | — | `None` |" in readme
        assert f"Options (generated from {LIB}Config" in (pkg / "__init__.py").read_text()
        entry_point = f'{PACKAGE} = "instrumentarium.{PACKAGE}:{LIB}Instrumentor"'
        assert entry_point in (dist / "pyproject.toml").read_text()
        mypy_path = (repo / "pyproject.toml").read_text()
        assert f"instrumentation/instrumentarium-{NAME}/src" in mypy_path

        contract = (repo / "tests" / "test_contract.py").read_text()
        assert f'"{PACKAGE}": "instrumentarium.{PACKAGE}:{LIB}Instrumentor",' in contract
        assert f'"instrumentarium.{PACKAGE}": Package(' in contract
        assert f"-e instrumentation/instrumentarium-{NAME}\n" in (repo / "tox.ini").read_text()
        assert '"throw_away"' in (repo / "tests" / "test_startup.py").read_text()

        ruff = _ruff()
        listed = [str(repo / "tests" / name) for name in ("test_contract.py", "test_startup.py")]
        for command in (["check", "--quiet"], ["format", "--check", "--quiet"]):
            linted = subprocess.run(
                [str(ruff), *command, str(dist), *listed],
                capture_output=True,
                text=True,
                check=False,
                cwd=repo,
            )
            assert linted.returncode == 0, linted.stdout + linted.stderr

        stamped_import_path.append(str(dist / "src"))
        sys.path.append(str(dist / "src"))
        module = importlib.import_module(f"instrumentarium.{PACKAGE}._config")
        config = getattr(module, f"{LIB}Config")
        assert [o.name for o in config.options()] == [
            "tracer_provider",
            "meter_provider",
            "request_hook",
            "response_hook",
        ]
        assert config.resolve({}).tracer_provider is None

    def test_refuses_an_existing_distribution_and_bad_names(self, repo: Path) -> None:
        """Nothing is overwritten; a name that cannot be a distribution is refused."""
        existing = run(str(SCRIPT), "requests", "--dest", str(repo))
        assert existing.returncode == 2
        assert "exists already" in existing.stderr
        bad = run(str(SCRIPT), "Bad_Name", "--class", "no good", "--dest", str(repo))
        assert bad.returncode == 2
        assert "NAME 'Bad_Name'" in bad.stderr
        assert "--class 'no good'" in bad.stderr
        assert sorted(p.name for p in (repo / "instrumentation").iterdir()) == sorted(
            p.name for p in (ROOT / "instrumentation").iterdir() if p.is_dir()
        )


class TestPlaceholders:
    """The names derived from NAME and the options."""

    def test_defaults_from_a_dashed_name(self) -> None:
        """``kafka-python``: package and entry point with underscores, class in CamelCase."""
        values = load_script().placeholders("kafka-python", None, None, None, None, "1.0")
        assert values["package"] == "kafka_python"
        assert values["module"] == "kafka_python"
        assert values["class"] == "KafkaPythonInstrumentor"
        assert values["lib"] == "KafkaPython"

    def test_options_win(self) -> None:
        """``--library``, ``--import``, ``--class`` and ``--package`` are taken as given; the
        config and telemetry are named after the class."""
        values = load_script().placeholders(
            "urllib", "urllib3-less", "urllib.request", "URLLibInstrumentor", "urllib", "1.0"
        )
        assert values["library"] == "urllib3-less"
        assert values["module"] == "urllib.request"
        assert values["lib"] == "URLLib"
        assert values["package"] == "urllib"

    def test_unknown_placeholder_is_an_error(self) -> None:
        """A typo in a template is caught when stamping, not shipped."""
        with pytest.raises(ValueError, match="unknown placeholder"):
            load_script().render("{{name}} {{nmae}}", {"name": "x"})
