"""``scripts/generate`` renders each instrumentor's options, declared once in its ``_config.py``,
into its README table and its instrumentor docstring; ``--check`` fails when they are stale.

The declarations are read with ``ast`` (generate imports no package): the reading is pinned
against what the real configs say at runtime (``Config.options()``), and the whole command runs
on a throw-away repository under ``tmp_path`` (``--root``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_generate() -> ModuleType:
    """A fresh copy of ``scripts/generate`` as a module (it has no ``.py`` suffix)."""
    loader = importlib.machinery.SourceFileLoader("generate_script", str(ROOT / "scripts/generate"))
    spec = importlib.util.spec_from_loader("generate_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_script"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


CONFIG = '''\
from typing import Optional

from instrumentarium.util.config import Config, option


class FooConfig(Config):
    """Not an option: the docstring."""

    tracer_provider: Optional[object] = option(None, doc="where spans go")
    excluded_urls: Optional[str] = option(
        None,
        env=("OTEL_PYTHON_FOO_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        doc="regexes searched in the URL; a ``|`` separates nothing here",
    )
    enable_commenter: bool = option(True, doc="add ``SQL`` comments", env="OTEL_FOO_COMMENTER")
    not_an_option: int = 3
'''

INIT = '''\
"""The foo instrumentor."""


class FooInstrumentor:
    """Traces foo.

    Options (generated from FooConfig by scripts/generate):
    * stale bullet
      stale continuation

    Said after the options.
    """
'''

README = """\
# instrumentarium-foo

<!-- begin: options (scripts/generate) -->
stale
<!-- end: options -->

After the table.
"""


def make_repo(root: Path) -> Path:
    """The smallest repository generate runs on: one instrumentor, ``foo``; returns its
    package directory."""
    (root / "VERSION").write_text("1.2.3\n")
    (root / "README.md").write_text(
        "<!-- begin: package table (scripts/generate) -->\n<!-- end: package table -->\n"
    )
    (root / "pyproject.toml").write_text("[tool.mypy]\nmypy_path = [\n]\n")
    dist = root / "instrumentation" / "instrumentarium-foo"
    pkg = dist / "src" / "instrumentarium" / "foo"
    pkg.mkdir(parents=True)
    (dist / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "instrumentarium-foo"
            description = "foo"
            [project.optional-dependencies]
            instruments = ["foo >= 1"]
            [tool.hatch.version]
            path = "src/instrumentarium/foo/version.py"
            """
        )
    )
    (dist / "README.md").write_text(README)
    (pkg / "__init__.py").write_text(INIT)
    (pkg / "_config.py").write_text(CONFIG)
    return pkg


class TestReadingOptions:
    """What ``ast`` reads from a ``_config.py`` equals what the class declares."""

    @pytest.mark.parametrize(
        ("config_file", "module", "name"),
        [
            (
                "instrumentation/instrumentarium-requests/src/instrumentarium/requests/_config.py",
                "instrumentarium.requests._config",
                "RequestsConfig",
            ),
            (
                "instrumentation/instrumentarium-urllib3/src/instrumentarium/urllib3/_config.py",
                "instrumentarium.urllib3._config",
                "URLLib3Config",
            ),
        ],
    )
    def test_source_reading_matches_the_runtime_options(
        self, config_file: str, module: str, name: str
    ) -> None:
        """Names (in order, the base class's from util first), docs, variables and defaults
        read from the source are those ``Config.options()`` reports at runtime."""
        generate = load_generate()
        read = generate.ConfigReader().configs(ROOT / config_file)[name]
        runtime = getattr(importlib.import_module(module), name).options()
        assert [o.name for o in read] == [o.name for o in runtime]
        assert [o.doc for o in read] == [" ".join(o.doc.split()) for o in runtime]
        assert [o.env for o in read] == [o.env for o in runtime]
        assert [o.default for o in read] == [repr(o.default) for o in runtime]
        assert [o.name for o in read][:2] == ["tracer_provider", "meter_provider"]

    def test_only_option_fields_of_config_subclasses(self, tmp_path: Path) -> None:
        """Plain fields and classes that are not ``Config`` subclasses are not options."""
        generate = load_generate()
        pkg = make_repo(tmp_path)
        (pkg / "_config.py").write_text(
            CONFIG + "\n\nclass Other:\n    x: int = option(1, doc='no')\n"
        )
        generate.use_root(tmp_path)
        configs = generate.ConfigReader().configs(pkg / "_config.py")
        assert list(configs) == ["FooConfig"]
        assert [o.name for o in configs["FooConfig"]] == [
            "tracer_provider",
            "excluded_urls",
            "enable_commenter",
        ]

    def test_a_doc_that_is_not_a_literal_is_an_error(self, tmp_path: Path) -> None:
        """``doc=`` must be readable without running the code: anything else is reported."""
        generate = load_generate()
        pkg = make_repo(tmp_path)
        (pkg / "_config.py").write_text(CONFIG.replace('doc="where spans go"', "doc=DOC"))
        assert generate.main(["--root", str(tmp_path)]) == 1


class TestRendering:
    """The README table and the docstring bullets of one config."""

    def test_readme_table(self, tmp_path: Path) -> None:
        """One row per option: keyword, variables in order, default as written, the doc as
        Markdown (reST literals become backticks, pipes are escaped)."""
        pkg = make_repo(tmp_path)
        generate = load_generate()
        assert generate.main(["--root", str(tmp_path)]) == 0
        readme = (pkg.parents[2] / "README.md").read_text()
        assert readme == (
            "# instrumentarium-foo\n\n"
            "<!-- begin: options (scripts/generate) -->\n"
            "| keyword argument | environment variable | default | effect |\n"
            "|---|---|---|---|\n"
            "| `tracer_provider` | — | `None` | where spans go |\n"
            "| `excluded_urls` | `OTEL_PYTHON_FOO_EXCLUDED_URLS`, then `OTEL_PYTHON_EXCLUDED_URLS`"
            " | `None` | regexes searched in the URL; a `\\|` separates nothing here |\n"
            "| `enable_commenter` | `OTEL_FOO_COMMENTER` | `True` | add `SQL` comments |\n"
            "<!-- end: options -->\n\nAfter the table.\n"
        )

    def test_docstring_bullets(self, tmp_path: Path) -> None:
        """The stale bullets after the marker line are replaced up to the blank line; the rest
        of the docstring stays."""
        pkg = make_repo(tmp_path)
        generate = load_generate()
        assert generate.main(["--root", str(tmp_path)]) == 0
        assert (pkg / "__init__.py").read_text() == INIT.replace(
            "    * stale bullet\n      stale continuation\n",
            "    * ``tracer_provider`` (default ``None``): where spans go\n"
            "    * ``excluded_urls`` (default ``None``; environment"
            " ``OTEL_PYTHON_FOO_EXCLUDED_URLS``, then\n"
            "      ``OTEL_PYTHON_EXCLUDED_URLS``): regexes searched in the URL; a ``|`` separates"
            " nothing here\n"
            "    * ``enable_commenter`` (default ``True``; environment ``OTEL_FOO_COMMENTER``):"
            " add ``SQL``\n      comments\n",
        )
        assert max(len(line) for line in (pkg / "__init__.py").read_text().splitlines()) <= 100

    def test_several_configs_need_a_named_marker(self, tmp_path: Path) -> None:
        """With two configs the README marker names one; the plain marker is an error."""
        pkg = make_repo(tmp_path)
        second = CONFIG.split("class FooConfig", 1)[1]
        (pkg / "_config.py").write_text(CONFIG + "\n\nclass BarConfig" + second)
        generate = load_generate()
        assert generate.main(["--root", str(tmp_path)]) == 1
        readme = pkg.parents[2] / "README.md"
        readme.write_text(README.replace("options (", "options BarConfig ("))
        assert generate.main(["--root", str(tmp_path)]) == 0
        assert "<!-- begin: options BarConfig (scripts/generate) -->" in readme.read_text()


class TestCheck:
    """``--check`` on a repository: current, stale, and packages that declare nothing."""

    def test_check_fails_when_a_doc_changes_and_passes_once_regenerated(
        self, tmp_path: Path
    ) -> None:
        """Editing one option's doc makes the README and the docstring stale."""
        pkg = make_repo(tmp_path)
        generate = load_generate()
        assert generate.main(["--check", "--root", str(tmp_path)]) == 1
        assert generate.main(["--root", str(tmp_path)]) == 0
        assert generate.main(["--check", "--root", str(tmp_path)]) == 0
        config = pkg / "_config.py"
        config.write_text(config.read_text().replace("where spans go", "where the spans go"))
        assert generate.main(["--check", "--root", str(tmp_path)]) == 1
        assert generate.main(["--root", str(tmp_path)]) == 0
        assert "where the spans go" in (pkg / "__init__.py").read_text()

    def test_a_package_without_config_is_left_alone(self, tmp_path: Path) -> None:
        """No ``_config.py``: the README's table and the docstring are not touched, even with
        markers (a package still being converted)."""
        pkg = make_repo(tmp_path)
        (pkg / "_config.py").unlink()
        generate = load_generate()
        assert generate.main(["--root", str(tmp_path)]) == 0
        assert (pkg / "__init__.py").read_text() == INIT
        assert (pkg.parents[2] / "README.md").read_text() == README

    def test_a_config_without_a_readme_marker_fails(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A declared config whose README has no marker: an error naming the file, exit 1."""
        pkg = make_repo(tmp_path)
        (pkg.parents[2] / "README.md").write_text("# foo\n")
        (pkg / "__init__.py").write_text('"""No marker."""\n')
        generate = load_generate()
        assert generate.main(["--root", str(tmp_path)]) == 1
        assert "README.md has no options marker" in capsys.readouterr().err

    def test_a_config_without_a_docstring_marker_fails(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The README is marked but no docstring is: an error giving the line to add."""
        pkg = make_repo(tmp_path)
        (pkg.parents[2] / "README.md").write_text(
            "# foo\n\n<!-- begin: options (scripts/generate) -->\n<!-- end: options -->\n"
        )
        (pkg / "__init__.py").write_text('"""No marker."""\n')
        generate = load_generate()
        assert generate.main(["--root", str(tmp_path)]) == 1
        assert "Options (generated from FooConfig by scripts/generate):" in (
            capsys.readouterr().err
        )


def test_repository_options_are_current() -> None:
    """The committed READMEs and docstrings match their declarations (what scripts/check
    runs, kept here so the test suite alone also catches a stale table)."""
    assert load_generate().main(["--check"]) == 0
