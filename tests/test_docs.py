"""The documentation site (``scripts/docs``) builds strictly and documents exactly what exists.

The site is built once per test session into ``tmp_path`` with the real command; its HTML is
then checked against sources the generator does not use: the options each ``<Lib>Config``
reports at runtime (``Config.options()``, imported), the distribution folders on disk, and the
string literals of every ``src/`` (for the variables the code really reads). ``TestBrowser``
opens the same build in headless Chromium (a real browser: tables rendered, search answering)
and leaves its screenshots in ``build/screenshots/``.
"""

from __future__ import annotations

import ast
import html
import importlib
import importlib.machinery
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from instrumentarium.util.config import Config
from tests.support.browser import Browser, find_chromium

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(ROOT.glob("instrumentation/*/src")) + sorted(ROOT.glob("util/*/src"))
SOURCES += sorted(ROOT.glob("meta/*/src"))

pytestmark = [
    pytest.mark.xdist_group("docs"),  # one worker builds the site once
    # The docs tools (the dev group) are in the root .venv, which scripts/test and CI use; tox's
    # environments only hold the test group, to run the library matrix.
    pytest.mark.skipif(
        Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
        reason="the docs are built and checked from the root .venv (scripts/test), not in tox",
    ),
]


def build_site(out: Path) -> tuple[Path, str]:
    """``scripts/docs`` into ``out``: the site folder and what the command printed."""
    env = {
        **os.environ,
        "INSTRUMENTARIUM_DOCS_SITE": str(out / "site"),
        "INSTRUMENTARIUM_DOCS_STAGING": str(out / "staging"),
    }
    done = subprocess.run(
        [str(ROOT / "scripts" / "docs")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return out / "site", output


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_site(tmp_path_factory.mktemp("docs"))


@pytest.fixture(scope="session")
def site(built: tuple[Path, str]) -> Path:
    return built[0]


class Tables(HTMLParser):
    """Every table of a page: a list of rows, each a list of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: Path, first_header: str) -> list[list[list[str]]]:
    """The tables of ``page`` whose first header cell is ``first_header``, header row dropped."""
    parser = Tables()
    parser.feed(page.read_text())
    return [t[1:] for t in parser.tables if t and t[0] and t[0][0] == first_header]


def page_of(site: Path, dist: Path) -> Path:
    folder = "instrumentors" if dist.parent.name == "instrumentation" else "shared"
    return site / folder / dist.name / "index.html"


def runtime_configs() -> Iterator[tuple[Path, type[Config]]]:
    """Every public ``Config`` subclass declared in a ``_config.py``, imported."""
    for config_file in sorted(ROOT.glob("instrumentation/*/src/instrumentarium/*/_config.py")):
        dist = config_file.parents[3]
        package = config_file.parent.relative_to(config_file.parents[2])
        module = importlib.import_module(".".join((*package.parts, "_config")))
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Config)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                yield dist, value


def configuration_variables(site: Path) -> dict[str, list[str]]:
    """The generated table of the configuration page: variable -> its row."""
    found = tables(site / "configuration" / "index.html", "variable")
    assert found, "the configuration page has no table of variables"
    return {row[0]: row for row in found[0]}


def read_in_src() -> tuple[set[str], list[re.Pattern[str]]]:
    """The ``OTEL_*`` names the code of every ``src/`` holds as string literals (docstrings
    left out), and the templates it formats names from (``OTEL_PYTHON_{library}_...``)."""
    names: set[str] = set()
    templates: list[re.Pattern[str]] = []
    for src in SOURCES:
        for path in src.rglob("*.py"):
            tree = ast.parse(path.read_text())
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(
                    node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
                )
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
            }
            parts = {  # the literal pieces of an f-string are no names of their own
                id(v)
                for node in ast.walk(tree)
                if isinstance(node, ast.JoinedStr)
                for v in node.values
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr):
                    text = "".join(
                        re.escape(str(v.value)) if isinstance(v, ast.Constant) else "[A-Z0-9_]+"
                        for v in node.values
                    )
                    if text.startswith("OTEL_"):
                        templates.append(re.compile(text))
                elif (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings | parts
                    and node.value.startswith("OTEL_")
                ):
                    if "{" in node.value:  # a str.format template
                        pattern = re.sub(r"\\\{\w*\\\}", "[A-Z0-9_]+", re.escape(node.value))
                        templates.append(re.compile(pattern))
                    else:
                        names.add(node.value)
    return names, templates


class TestBuild:
    def test_scripts_docs_builds_strictly_without_a_warning(self, built: tuple[Path, str]) -> None:
        """``scripts/docs`` exits 0 and MkDocs reported no warning (strict turns one into a
        failure: a broken link or anchor, a page left out, an API object not found)."""
        site, output = built
        assert "WARNING" not in output, output
        assert "docs: built" in output
        assert (site / "index.html").is_file()
        assert (site / "search" / "search_index.json").is_file()

    def test_every_distribution_has_its_page(self, site: Path) -> None:
        """Each folder with a pyproject.toml under instrumentation/, util/ and meta/ has a page
        showing its README's title, and nothing else has one (nothing is listed by hand)."""
        folders = [p.parent for p in sorted(ROOT.glob("*/*/pyproject.toml"))]
        dists = [d for d in folders if d.parent.name in ("instrumentation", "util", "meta")]
        for dist in dists:
            page = page_of(site, dist)
            assert page.is_file(), dist
            title = dist.joinpath("README.md").read_text().splitlines()[0].lstrip("# ")
            assert html.escape(title, quote=False) in page.read_text()
        pages = {p.parent for p in site.glob("instrumentors/*/index.html")}
        pages |= {p.parent for p in site.glob("shared/*/index.html")}
        assert pages == {page_of(site, d).parent for d in dists}


class TestOptions:
    def test_every_declared_option_is_in_its_page_options_tables(self, site: Path) -> None:
        """Every option of every public ``<Lib>Config`` (as the class reports it at runtime)
        is a row of an options table on its distribution's page, with each of its variables;
        and every row of those tables is a declared option (nothing that does not exist)."""
        declared: dict[Path, dict[str, tuple[str, ...]]] = {}
        for dist, config in runtime_configs():
            for opt in config.options():
                declared.setdefault(dist, {})[opt.name] = opt.env
        assert declared, "no Config found"
        for dist, options in declared.items():
            rows = [row for t in tables(page_of(site, dist), "keyword argument") for row in t]
            shown = {row[0]: row for row in rows}
            assert set(shown) == set(options), dist.name
            for name, env in options.items():
                for variable in env:
                    assert variable in shown[name][1], (dist.name, name, variable)

    def test_the_api_reference_documents_each_instrumentor_class(self, site: Path) -> None:
        """Each entry point's class has its API reference (mkdocstrings) on its page."""
        for pyproject in sorted(ROOT.glob("instrumentation/*/pyproject.toml")):
            text = pyproject.read_text()
            page = page_of(site, pyproject.parent).read_text()
            for module, cls in re.findall(r'= "(instrumentarium\.[\w.]+):(\w+)"', text):
                assert f'id="{module}.{cls}"' in page, (pyproject.parent.name, cls)


class TestEnvironment:
    def test_every_declared_variable_is_on_the_configuration_page(self, site: Path) -> None:
        """Every variable named by an option's ``env=`` is a row of the one table of
        variables, which names the option's package among its readers."""
        variables = configuration_variables(site)
        for dist, config in runtime_configs():
            short = dist.name.removeprefix("instrumentarium-")
            for opt in config.options():
                for variable in opt.env:
                    assert variable in variables, (dist.name, opt.name, variable)
                    assert short in variables[variable][1], (variable, short)

    def test_every_variable_the_code_reads_is_on_the_configuration_page(self, site: Path) -> None:
        """Each ``OTEL_*`` string literal of the code (not of a docstring) is documented."""
        names, _ = read_in_src()
        assert "OTEL_SEMCONV_STABILITY_OPT_IN" in names
        missing = names - set(configuration_variables(site))
        assert not missing, f"read in src/ but not on the configuration page: {sorted(missing)}"

    def test_every_documented_variable_is_read_somewhere_in_src(self, site: Path) -> None:
        """Nothing on the configuration page that no code reads: each variable is a string
        literal of some ``src/`` or matches a name template the code formats."""
        names, templates = read_in_src()
        for variable in configuration_variables(site):
            assert variable in names or any(t.fullmatch(variable) for t in templates), variable

    def test_the_search_index_has_every_variable(self, site: Path) -> None:
        """The site's search index holds each variable as one word (the search separator
        keeps underscores), so a search by name can find it."""
        index = (site / "search" / "search_index.json").read_text()
        for variable in configuration_variables(site):
            assert variable in index


class TestMigration:
    def test_each_instrumentor_has_its_one_line_change(self, site: Path) -> None:
        """The migration page has each instrumentor's import (ours, and upstream's module)."""
        page = (site / "migrating" / "index.html").read_text()
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        for init in sorted(ROOT.glob("instrumentation/*/src/instrumentarium/*/__init__.py")):
            module = f"instrumentarium.{init.parent.name}"
            assert f"from {module} import" in text, module
            assert f"from opentelemetry.instrumentation.{init.parent.name} import" in text

    def test_every_readme_difference_is_a_row_of_the_differences_table(self, site: Path) -> None:
        """Each bullet of a README's "Differences from upstream" section is one row of the
        migration page's table, under its instrumentor: the two cannot drift."""
        rows = tables(site / "migrating" / "index.html", "instrumentor")
        differences = next(t for t in rows if t and len(t[0]) == 2)
        for readme in sorted(ROOT.glob("instrumentation/*/README.md")):
            text = readme.read_text()
            start = re.search(r"^## Differences from upstream.*$", text, re.M)
            if start is None:
                continue
            body = re.split(r"^#", text[start.end() :], maxsplit=1, flags=re.M)[0]
            bullets = re.findall(r"^[-*] .*$", body, re.M)
            short = readme.parent.name.removeprefix("instrumentarium-")
            mine = [row for row in differences if row[0] == short]
            assert len(mine) == len(bullets), short
            if not bullets:
                continue
            first = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", bullets[0][2:])
            first_words = " ".join(re.sub(r"[`*]", "", first).split()[:4])
            assert first_words in mine[0][1], (short, first_words)


SCREENSHOTS = ROOT / "build" / "screenshots"  # gitignored, kept for a reader to look at
SKIP_BROWSER = "INSTRUMENTARIUM_SKIP_BROWSER_TESTS"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium: required (CI installs it through scripts/setup); a machine without
    it may skip these tests only by saying so."""
    found = find_chromium()
    if found is None:
        if os.environ.get(SKIP_BROWSER):
            pytest.skip(f"no Chromium, and {SKIP_BROWSER} is set")
        pytest.fail(
            "no Chromium for the docs browser tests: run scripts/setup as root (it installs"
            f" Debian's chromium) or `apt-get install chromium`; {SKIP_BROWSER}=1 skips them",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on a free loopback port (search fetches its index, which a
    file:// page may not)."""

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Browser]:
    with Browser(chromium) as opened:
        yield opened


def rendered_tables(dom: str, first_header: str) -> list[list[list[str]]]:
    parser = Tables()
    parser.feed(dom)
    return [t[1:] for t in parser.tables if t and t[0] and t[0][0] == first_header]


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 1600), path
    assert len(data) > 20_000, f"{path}: {len(data)} bytes, a blank page?"


class TestBrowser:
    """The built site in headless Chromium, as a reader sees it; screenshots in build/."""

    def test_index_renders_the_table_of_every_distribution(
        self, browser: Browser, served: str
    ) -> None:
        """The home page's package table links every distribution's page."""
        dom = browser.open(f"{served}/", "document.querySelector('table') !== null")
        assert_png(browser.screenshot(SCREENSHOTS / "index.png"))
        (packages,) = rendered_tables(dom, "distribution")
        shown = {row[0] for row in packages}
        for pyproject in ROOT.glob("*/*/pyproject.toml"):
            if pyproject.parent.parent.name in ("instrumentation", "util", "meta"):
                assert pyproject.parent.name in shown, pyproject.parent.name

    def test_migration_page_renders_its_tables(self, browser: Browser, served: str) -> None:
        """The migration page shows the imports, identical names and differences tables."""
        dom = browser.open(f"{served}/migrating/", "document.querySelectorAll('table').length >= 3")
        assert_png(browser.screenshot(SCREENSHOTS / "migrating.png"))
        (imports,) = rendered_tables(dom, "upstream")
        assert ["opentelemetry-instrumentation-flask", "instrumentarium-flask", "flask"] in imports
        identical, differences = rendered_tables(dom, "instrumentor")
        assert any(row[0] == "redis" and "sanitize_query" in row[2] for row in identical)
        assert any(row[0] == "redis" for row in differences)

    def test_an_instrumentor_page_renders_its_options_and_api(
        self, browser: Browser, served: str
    ) -> None:
        """Flask's page: the options table from FlaskConfig and the API reference."""
        dom = browser.open(
            f"{served}/instrumentors/instrumentarium-flask/",
            "document.getElementById('instrumentarium.flask.FlaskInstrumentor') !== null",
        )
        assert_png(browser.screenshot(SCREENSHOTS / "instrumentor-flask.png"))
        options = {row[0]: row for t in rendered_tables(dom, "keyword argument") for row in t}
        assert "OTEL_PYTHON_FLASK_EXCLUDED_URLS" in options["excluded_urls"][1]
        assert "instrument_app" in dom

    def test_search_finds_a_variable_by_name(self, browser: Browser, served: str) -> None:
        """``?q=NAME`` opens Material's search; its results for a variable lead to the
        configuration page, with the name highlighted."""
        variable = "OTEL_PYTHON_FLASK_EXCLUDED_URLS"
        dom = browser.open(
            f"{served}/?q={variable}",
            "document.querySelectorAll('.md-search-result__item').length > 0",
        )
        assert_png(browser.screenshot(SCREENSHOTS / "search.png"))
        links = re.findall(r'href="([^"]+)" class="md-search-result__link"', dom)
        assert any("/configuration/" in link for link in links), links
        assert f"<mark>{variable}</mark>" in dom


FOO_PYPROJECT = """\
[project]
name = "instrumentarium-foo"
dynamic = ["version"]
description = "Traces foo, a drop-in for opentelemetry-instrumentation-foo."

[project.optional-dependencies]
instruments = ["foo >= 1.2"]

[project.entry-points.opentelemetry_instrumentor]
foo = "instrumentarium.foo:FooInstrumentor"

[tool.hatch.version]
path = "src/instrumentarium/foo/version.py"
"""
FOO_README = """\
# instrumentarium-foo

Traces foo.

## Options

<!-- begin: options (scripts/generate) -->
<!-- end: options -->

| environment variable | default | effect |
|---|---|---|
| `OTEL_PYTHON_FOO_VERBOSE` | `false` | says more |

## Differences from upstream, on purpose

- foo calls are traced once, not twice, with
  a second line.
- a [link to redis](../instrumentarium-redis/README.md#what-is-emitted).

Supported: foo 1.2 and newer.
"""
FOO_CONFIG = """\
from dataclasses import dataclass

from instrumentarium.util.config import ProviderConfig, option


@dataclass(frozen=True)
class FooConfig(ProviderConfig):
    excluded_urls: object = option(None, env="OTEL_PYTHON_FOO_EXCLUDED_URLS", doc="not these")
"""


class TestGeneration:
    def test_a_new_instrumentor_shows_up_with_no_docs_edit(self, tmp_path: Path) -> None:
        """A package folder added to a copy of the repository gets its page, its import line
        and differences on the migration page, its variables (from its Config and from its
        README's table) on the configuration page and a row on the home page: the generator
        lists nothing by hand."""
        copy = tmp_path / "repo"
        for part in ("docs", "scripts", "instrumentation", "util", "meta", "examples"):
            shutil.copytree(
                ROOT / part,
                copy / part,
                ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info"),
            )
        for part in ("README.md", "benchmarks/README.md", "benchmarks/chart.svg"):
            (copy / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / part, copy / part)
        foo = copy / "instrumentation" / "instrumentarium-foo"
        pkg = foo / "src" / "instrumentarium" / "foo"
        pkg.mkdir(parents=True)
        (foo / "pyproject.toml").write_text(FOO_PYPROJECT)
        (foo / "README.md").write_text(FOO_README)
        (pkg / "__init__.py").write_text('__all__ = ["FooInstrumentor"]\n')
        (pkg / "_config.py").write_text(FOO_CONFIG)
        out = tmp_path / "pages"
        subprocess.run(
            [sys.executable, str(copy / "docs" / "generate_pages.py"), str(out)],
            check=True,
            timeout=60,
        )
        page = (out / "instrumentors" / "instrumentarium-foo.md").read_text()
        assert "| `excluded_urls` | `OTEL_PYTHON_FOO_EXCLUDED_URLS` | `None` | not these |" in page
        assert "| `tracer_provider` |" in page  # the base config's options come first
        assert "- **instruments**: `foo >= 1.2`" in page
        assert "::: instrumentarium.foo" in page
        migrating = (out / "migrating.md").read_text()
        assert "from instrumentarium.foo import FooInstrumentor" in migrating
        assert "pip install instrumentarium-foo" in migrating
        assert "foo calls are traced once, not twice, with a second line. |" in migrating
        # a link in a README goes to the page that shows its target
        assert "(instrumentors/instrumentarium-redis.md#what-is-emitted)" in migrating
        configuration = (out / "configuration.md").read_text()
        for variable in ("OTEL_PYTHON_FOO_EXCLUDED_URLS", "OTEL_PYTHON_FOO_VERBOSE"):
            row = next(r for r in configuration.splitlines() if r.startswith(f"| `{variable}`"))
            assert "[foo](instrumentors/instrumentarium-foo.md)" in row
        assert (
            "[`instrumentarium-foo`](instrumentors/instrumentarium-foo.md)"
            in (out / "index.md").read_text()
        )

    def test_docstrings_become_markdown_lists_and_code(self) -> None:
        """The Griffe extension puts a blank line before a list right under its introducing
        line (once, not inside the list) and fences a reST ``::`` block as Python."""
        loader = importlib.machinery.SourceFileLoader(
            "griffe_docstrings", str(ROOT / "docs" / "griffe_docstrings.py")
        )
        module = types.ModuleType(loader.name)
        loader.exec_module(module)
        text = (
            "Options (generated):\n* ``a``: one\n  more\n* ``b``: two\n\n"
            "Usage::\n\n    x = 1\n\nEnd."
        )
        assert module.to_markdown(text) == (
            "Options (generated):\n\n* ``a``: one\n  more\n* ``b``: two\n\n"
            "Usage:\n\n```python\nx = 1\n```\n\nEnd."
        )
