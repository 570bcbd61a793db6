"""The documentation site's pages, generated from the repository: nothing in them is listed by hand.

MkDocs runs this file as a hook (``hooks:`` in ``mkdocs.yml``): on every build, ``on_config``
writes the pages into the staging folder (``docs_dir``, gitignored: ``build/docs``) and sets
the navigation. ``scripts/docs`` builds the site; ``python docs/generate_pages.py DIR`` writes
the pages alone.

Sources::

    docs/*.md                       the hand-written frame of each page, with insert markers
    instrumentation/*/, util/*/, meta/*/
        pyproject.toml              name, import path, instrumented library range, entry points
        README.md                   one page per distribution (its options table redone)
        src/.../_config.py          the options (read by scripts/generate's ConfigReader)
    README.md, examples/*/README.md, benchmarks/README.md, benchmarks/chart.svg

A marker ``<!-- insert: WHAT ARGS -->`` in a frame is replaced by:

* ``section FILE Heading words``: that section of FILE (its heading, down to the next heading
  of the same level); ``body FILE Heading words``: the same without its heading;
* ``lead FILE``: FILE's text between its title and its first section;
* ``file FILE``: FILE without its title, every heading one level down;
* ``packages``, ``imports``, ``differences``, ``identical``, ``environment``, ``benchmarks``,
  ``startup``, ``throughput``: the generated tables (see the ``render_*`` functions).

Links between the repository's Markdown files are rewritten to the pages that show them; a
link to any other file of the repository goes to its source on GitHub.
"""

from __future__ import annotations

import argparse
import ast
import importlib.machinery
import importlib.util
import re
import shutil
import sys
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
FRAMES = ROOT / "docs"


def _load_generate() -> ModuleType:
    """``scripts/generate`` as a module: its ``ConfigReader`` reads the options (one parser)."""
    name = "instrumentarium_scripts_generate"
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.machinery.SourceFileLoader(name, str(ROOT / "scripts" / "generate"))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    loader.exec_module(module)
    return module


GENERATE = _load_generate()
INSERT = re.compile(r"^<!-- insert: (?P<what>[\w-]+)(?: (?P<args>.*?))? -->$", re.M)
HEADING = re.compile(r"^(?P<hashes>#{1,6}) +(?P<title>.+?) *#*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
OTEL_NAME = re.compile(r"`(OTEL_[A-Z0-9_]+|_[A-Z0-9_]+)`")
UPSTREAM_DIST = re.compile(r"opentelemetry-instrumentation-[a-z0-9-]+[a-z0-9]")


# -- the repository's distributions ---------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One declared option (``scripts/generate``'s ``OptionDoc``) and the config it is in."""

    config: str
    name: str
    type: str
    default: str
    env: tuple[str, ...]
    doc: str


@dataclass
class Distribution:
    """One folder under ``instrumentation/``, ``util/`` or ``meta/`` with a pyproject.toml."""

    path: Path
    kind: str  # instrumentation, util, meta
    name: str
    module: str
    description: str
    instruments: tuple[str, ...]
    entry_points: dict[str, str]  # name -> "module:attribute"
    configs: dict[str, list[Option]] = field(default_factory=dict)
    exports: tuple[str, ...] = ()  # the package's __all__

    @property
    def page(self) -> str:
        """Its page, relative to the docs folder."""
        folder = "instrumentors" if self.kind == "instrumentation" else "shared"
        return f"{folder}/{self.name}.md"

    @property
    def short(self) -> str:
        return self.name.removeprefix("instrumentarium-") or self.name

    @property
    def readme(self) -> Path:
        return self.path / "README.md"

    @property
    def upstream_distribution(self) -> Optional[str]:
        """The upstream contrib distribution this one replaces, as its description (else its
        README's lead) names it."""
        found = UPSTREAM_DIST.search(self.description)
        if found is None and self.readme.is_file():
            found = UPSTREAM_DIST.search(lead(self.readme.read_text()))
        return found.group(0) if found else None

    @property
    def upstream_module(self) -> str:
        return "opentelemetry.instrumentation." + self.module.rsplit(".", 1)[-1]

    @property
    def public_classes(self) -> list[str]:
        """What a user imports: the entry points' classes, else the exported classes that
        instrument (``...Instrumentor``, ``...Middleware``)."""
        names = [target.split(":", 1)[1] for target in self.entry_points.values()]
        if not names:
            names = [n for n in self.exports if n.endswith(("Instrumentor", "Middleware"))]
        return list(dict.fromkeys(names))

    @property
    def options(self) -> list[Option]:
        """Every option of every config, the first config's first (a name once)."""
        seen: dict[str, Option] = {}
        for options in self.configs.values():
            for option in options:
                seen.setdefault(option.name, option)
        return list(seen.values())


def _exports(init: Path) -> tuple[str, ...]:
    if not init.is_file():
        return ()
    for node in ast.parse(init.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, (ast.List, ast.Tuple))
        ):
            return tuple(
                e.value
                for e in node.value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            )
    return ()


def distributions() -> list[Distribution]:
    """Every distribution of the repository, instrumentors first, each group by name."""
    reader = GENERATE.ConfigReader()
    found = []
    for dist in GENERATE.distributions():
        meta = GENERATE.load(dist)
        project = meta["project"]
        pkg: Path = GENERATE.package_dir(dist, meta)
        eps = project.get("entry-points", {}).get("opentelemetry_instrumentor", {})
        configs: dict[str, list[Option]] = {}
        if (pkg / "_config.py").is_file():
            for config, options in reader.configs(pkg / "_config.py").items():
                if config.startswith("_"):
                    continue
                configs[config] = [
                    Option(config, o.name, o.type, o.default, tuple(o.env), o.doc) for o in options
                ]
        found.append(
            Distribution(
                path=dist,
                kind=dist.parent.name,
                name=project["name"],
                module=".".join(pkg.relative_to(dist / "src").parts),
                description=project.get("description", ""),
                instruments=tuple(project.get("optional-dependencies", {}).get("instruments", [])),
                entry_points=dict(eps),
                configs=configs,
                exports=_exports(pkg / "__init__.py"),
            )
        )
    order = {"instrumentation": 0, "meta": 1, "util": 2}
    return sorted(found, key=lambda d: (order.get(d.kind, 3), d.name))


def repository_url() -> str:
    """The repository's home, from the meta distribution's ``Homepage``."""
    for dist in GENERATE.distributions():
        url = GENERATE.load(dist)["project"].get("urls", {}).get("Homepage")
        if url:
            return str(url).rstrip("/")
    return "https://github.com/instrumentarium/instrumentarium"


# -- Markdown: sections, headings, links ----------------------------------------------------


def _lines_outside_fences(text: str) -> Iterator[tuple[int, str, bool]]:
    """Each line with its index and whether it is inside a fenced code block."""
    fenced = False
    for index, line in enumerate(text.split("\n")):
        if FENCE.match(line):
            fenced = not fenced
            yield index, line, True
            continue
        yield index, line, fenced


def headings(text: str) -> list[tuple[int, int, str]]:
    """(line index, level, title) of every heading outside code blocks."""
    found = []
    for index, line, fenced in _lines_outside_fences(text):
        match = None if fenced else HEADING.match(line)
        if match:
            found.append((index, len(match.group("hashes")), match.group("title")))
    return found


def slug(title: str) -> str:
    """The anchor Python-Markdown's ``toc`` gives a heading (its default slugify)."""
    text = re.sub(r"[`*_]", "", re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def section(text: str, title: str) -> Optional[str]:
    """The section whose heading starts with ``title``, heading included; None if absent."""
    lines = text.split("\n")
    marks = headings(text)
    for position, (index, level, heading) in enumerate(marks):
        if heading.startswith(title):
            end = next((i for i, lvl, _ in marks[position + 1 :] if lvl <= level), len(lines))
            return "\n".join(lines[index:end]).strip("\n")
    return None


def lead(text: str) -> str:
    """The text after the title and before the first section."""
    lines = text.split("\n")
    marks = headings(text)
    start = marks[0][0] + 1 if marks and marks[0][1] == 1 else 0
    end = next((i for i, lvl, _ in marks if lvl >= 2), len(lines))
    return "\n".join(lines[start:end]).strip("\n")


def shift_headings(text: str, by: int) -> str:
    """Every heading ``by`` levels deeper (at most level 6)."""
    lines = text.split("\n")
    for index, level, title in headings(text):
        lines[index] = "#" * min(6, level + by) + " " + title
    return "\n".join(lines)


def without_title(text: str) -> str:
    marks = headings(text)
    if marks and marks[0][1] == 1:
        lines = text.split("\n")
        return "\n".join(lines[: marks[0][0]] + lines[marks[0][0] + 1 :]).strip("\n")
    return text


class Site:
    """What is generated, and where each source file and section ended up (for links)."""

    def __init__(self, dists: Sequence[Distribution]) -> None:
        self.dists = list(dists)
        self.repo = repository_url()
        self.file_pages: dict[Path, str] = {}  # a Markdown source shown whole on a page
        self.section_pages: dict[tuple[Path, str], str] = {}  # (source, anchor) -> page
        self.assets: dict[Path, str] = {}  # a repository file copied into the site
        for dist in self.dists:
            self.file_pages[dist.readme.resolve()] = dist.page
            self.file_pages[dist.path.resolve()] = dist.page

    def link(self, source: Path, page: str, target: str) -> str:
        """``target`` of a link in ``source``, as seen from ``page`` of the site."""
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return target
        path_part, _, anchor = target.partition("#")
        resolved = (source.parent / path_part).resolve()
        try:
            relative = resolved.relative_to(ROOT.resolve())
        except ValueError:
            return target
        destination: Optional[str] = None
        if anchor and (resolved, anchor) in self.section_pages:
            destination = self.section_pages[(resolved, anchor)]
        elif resolved in self.file_pages:
            destination = self.file_pages[resolved]
        elif resolved in self.assets:
            destination = self.assets[resolved]
        if destination is None:
            kind = "tree" if resolved.is_dir() else "blob"
            return f"{self.repo}/{kind}/main/{relative.as_posix()}" + (
                f"#{anchor}" if anchor else ""
            )
        here = PurePosixPath(page).parent
        rel = _relative(PurePosixPath(destination), here)
        return rel + (f"#{anchor}" if anchor else "")

    def rewrite(self, text: str, source: Path, page: str) -> str:
        """Every relative link of ``text`` (from ``source``) made to work on ``page``."""

        def one(match: re.Match[str]) -> str:
            target = self.link(source, page, match.group("target"))
            return f"{match.group('bang')}[{match.group('text')}]({target})"

        out: list[str] = []
        prose: list[str] = []  # consecutive lines outside code: a link may span two of them
        for _index, line, fenced in _lines_outside_fences(text):
            if fenced:
                out += LINK.sub(one, "\n".join(prose)).split("\n") if prose else []
                prose = []
                out.append(line)
            else:
                prose.append(line)
        out += LINK.sub(one, "\n".join(prose)).split("\n") if prose else []
        return "\n".join(out)


def _relative(target: PurePosixPath, start: PurePosixPath) -> str:
    """``target`` relative to the folder ``start`` (both relative to the docs folder)."""
    parts, base = list(target.parts), list(start.parts)
    while parts and base and parts[0] == base[0]:
        parts.pop(0)
        base.pop(0)
    return "/".join([".."] * len(base) + parts)


# -- generated tables -----------------------------------------------------------------------


def _cell(text: str) -> str:
    """Markdown text fit for one table cell: on one line, pipes escaped, reST literals."""
    text = re.sub(r"``(.+?)``", r"`\1`", " ".join(text.split()))
    return re.sub(r"(?<!\\)\|", r"\\|", text)


def _code_list(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "—"


def render_packages(site: Site, page: str) -> str:
    """Every distribution: its page, what it instruments, entry points (its page has the rest)."""
    lines = [
        "| distribution | instruments | entry points | what it is |",
        "|---|---|---|---|",
    ]
    for dist in site.dists:
        link = _relative(PurePosixPath(dist.page), PurePosixPath(page).parent)
        lines.append(
            f"| [`{dist.name}`]({link}) | {_code_list(dist.instruments)}"
            f" | {_code_list(list(dist.entry_points))} | {_cell(dist.description)} |"
        )
    return "\n".join(lines)


def _replacements(site: Site) -> list[Distribution]:
    return [d for d in site.dists if d.kind == "instrumentation" and d.upstream_distribution]


def render_imports(site: Site, page: str) -> str:
    """The one-line change per library: the distribution to install and the import."""
    lines = ["| upstream | instrumentarium | page |", "|---|---|---|"]
    blocks = []
    for dist in _replacements(site):
        link = _relative(PurePosixPath(dist.page), PurePosixPath(page).parent)
        lines.append(f"| `{dist.upstream_distribution}` | `{dist.name}` | [{dist.short}]({link}) |")
        classes = ", ".join(dist.public_classes)
        if len(dist.public_classes) > 1:
            classes = "(\n    " + ",\n    ".join(dist.public_classes) + ",\n)"
        blocks += [
            f"**{dist.short}**",
            "",
            "```sh",
            f"pip uninstall {dist.upstream_distribution}",
            f"pip install {dist.name}",
            "```",
            "",
            "```python",
            f"from {dist.module} import {classes}",
            f"# was: from {dist.upstream_module} import ...",
            "```",
            "",
        ]
    return "\n".join(lines) + "\n\n" + "\n".join(blocks).rstrip("\n")


def differences(dist: Distribution) -> list[str]:
    """The bullets of a README's "Differences from upstream" section, each on one line."""
    if not dist.readme.is_file():
        return []
    found = section(dist.readme.read_text(), "Differences from upstream")
    if found is None:
        return []
    items: list[str] = []
    for line in found.split("\n")[1:]:
        if re.match(r"^[-*] ", line):
            items.append(line[2:].strip())
        elif items and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
        elif line.strip() and items:
            break  # the list is over: prose after it is not a difference
    return items


def render_differences(site: Site, page: str) -> str:
    lines = ["| instrumentor | deliberate difference |", "|---|---|"]
    for dist in _replacements(site):
        link = _relative(PurePosixPath(dist.page), PurePosixPath(page).parent)
        anchor = next(
            (
                slug(t)
                for _, _, t in headings(dist.readme.read_text())
                if t.startswith("Differences from upstream")
            ),
            "",
        )
        target = f"{link}#{anchor}" if anchor else link
        for item in differences(dist):
            text = site.rewrite(item, dist.readme, page)
            lines.append(f"| [{dist.short}]({target}) | {_cell(text)} |")
    return "\n".join(lines)


def render_identical(site: Site, page: str) -> str:
    """What a user keeps: the entry-point names, the keyword arguments, the variables."""
    lines = [
        "| instrumentor | entry points | keyword arguments | environment variables |",
        "|---|---|---|---|",
    ]
    for dist in _replacements(site):
        link = _relative(PurePosixPath(dist.page), PurePosixPath(page).parent)
        names = [o.name for o in dist.options]
        env = list(dict.fromkeys(v for o in dist.options for v in o.env))
        lines.append(
            f"| [{dist.short}]({link}) | {_code_list(list(dist.entry_points))}"
            f" | {_code_list(names)} | {_code_list(env)} |"
        )
    return "\n".join(lines)


@dataclass
class Variable:
    """One ``OTEL_*`` variable: who reads it, for which option, its default and effect."""

    name: str
    readers: dict[str, str] = field(default_factory=dict)  # dist name -> its page
    options: dict[str, str] = field(default_factory=dict)  # dist name -> its keyword
    default: str = ""
    effects: dict[str, str] = field(default_factory=dict)  # source ("" the root README) -> text

    @property
    def effect(self) -> str:
        """The root README's shared description, else the one every reader gives, else each
        reader's own, named."""
        if "" in self.effects:
            return self.effects[""]
        if len(set(self.effects.values())) == 1:
            return next(iter(self.effects.values()))
        return "; ".join(
            f"{name.removeprefix('instrumentarium-')}: {text}"
            for name, text in self.effects.items()
        )


def _table_rows(text: str) -> Iterator[dict[str, str]]:
    """Each row of every Markdown table of ``text`` (outside code), keyed by its header."""
    header: Optional[list[str]] = None
    for _index, line, fenced in _lines_outside_fences(text):
        stripped = line.strip()
        if fenced or not stripped.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", stripped.strip("|"))]
        if header is None:
            header = [c.lower() for c in cells]
        elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
            yield dict(zip(header, cells))


def env_table_names(cell: str) -> list[str]:
    """The variables a table cell names; ``_SUFFIX`` after a name replaces as many of its
    last words (`` `X_SERVER_REQUEST` / `_SERVER_RESPONSE` ``)."""
    names: list[str] = []
    for token in OTEL_NAME.findall(cell):
        if token.startswith("OTEL_"):
            names.append(token)
        elif names:
            words = names[-1].split("_")
            tail = token.strip("_").split("_")
            names.append("_".join(words[: -len(tail)] + tail))
    return names


def environment(site: Site) -> dict[str, Variable]:
    """Every ``OTEL_*`` variable an instrumentor reads: the options' ``env=`` and the README
    table rows (each package's, and the root's shared table) whose first cell names variables,
    with an ``effect`` column."""
    found: dict[str, Variable] = {}

    def get(name: str) -> Variable:
        return found.setdefault(name, Variable(name))

    for dist in site.dists:
        for option in dist.options:
            for name in option.env:
                var = get(name)
                var.readers[dist.name] = dist.page
                var.options.setdefault(dist.name, option.name)
                var.default = var.default or f"unset, `{option.name}={option.default}`"
                var.effects.setdefault(dist.name, _cell(option.doc))
    sources: list[tuple[Path, Optional[Distribution]]] = [(ROOT / "README.md", None)]
    sources += [(d.readme, d) for d in site.dists]
    for readme, reader in sources:
        if not readme.is_file():
            continue
        for row in _table_rows(readme.read_text()):
            # a row whose first cell names variables: an option / variable table
            first = next(iter(row.values()), "")
            if "effect" not in row:
                continue
            for name in env_table_names(first):
                var = get(name)
                effect = site.rewrite(row["effect"], readme, "configuration.md")
                if reader is None:
                    # the root README's shared table describes a variable for every reader
                    var.effects[""] = effect
                    var.default = row.get("default") or var.default
                else:
                    var.readers[reader.name] = reader.page
                    var.effects.setdefault(reader.name, effect)
                    var.default = var.default or row.get("default", "")
    return dict(sorted(found.items()))


def render_environment(site: Site, page: str) -> str:
    """One row per variable: who reads it (and for which keyword argument), what it does."""
    lines = ["| variable | read by (keyword argument) | effect (default) |", "|---|---|---|"]
    here = PurePosixPath(page).parent
    for var in environment(site).values():
        readers = []
        for name, target in sorted(var.readers.items()):
            short = name.removeprefix("instrumentarium-")
            link = f"[{short}]({_relative(PurePosixPath(target), here)})"
            keyword = var.options.get(name)
            readers.append(f"{link} (`{keyword}`)" if keyword else link)
        default = f" (default: {var.default})" if var.default and var.default != "—" else ""
        lines.append(
            f"| `{var.name}` | {', '.join(readers) or 'every HTTP instrumentor'}"
            f" | {var.effect}{default} |"
        )
    return "\n".join(lines)


def benchmark_results(chart: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The chart's caption lines and, per workload, each variant's median ± spread, read
    back from the SVG ``scripts/bench --plot`` wrote (so the table is the chart's data)."""
    tree = ET.parse(chart)
    ns = "{http://www.w3.org/2000/svg}"
    caption: list[str] = []
    results: dict[str, dict[str, str]] = {}
    workload: Optional[str] = None
    for element in tree.getroot().iter():
        if element.tag == f"{ns}text":
            text = (element.text or "").strip()
            if element.get("font-weight") == "bold" and element.get("font-size") == "13":
                workload = text
                results[workload] = {}
            elif workload is None and element.get("fill") == "#444":
                caption.append(text)
        elif element.tag == f"{ns}title" and workload is not None:
            label, _, value = (element.text or "").rpartition(": ")
            if label:
                results[workload][label] = value
    return caption, results


def render_benchmarks(_site: Site, _page: str) -> str:
    chart = ROOT / "benchmarks" / "chart.svg"
    if not chart.is_file():
        return "No chart yet: `scripts/bench --rounds 10 --plot benchmarks/chart.svg` draws it."
    caption, results = benchmark_results(chart)
    variants = list(dict.fromkeys(v for row in results.values() for v in row))
    lines = [
        "| workload | " + " | ".join(variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for workload, row in results.items():
        cells = " | ".join(row.get(v, "—") for v in variants)
        lines.append(f"| `{workload}` | {cells} |")
    notes = "\n".join(f"- {_cell(line)}" for line in caption)
    return f"{notes}\n\n" + "\n".join(lines)


def render_startup(_site: Site, _page: str) -> str:
    """The start-up figure: ``benchmarks/startup.md``, the report ``benchmarks/startup.py``
    printed (its first line says how and when it was measured)."""
    report = ROOT / "benchmarks" / "startup.md"
    if not report.is_file():
        return (
            "No start-up figure is recorded yet: `.venv/bin/python benchmarks/startup.py"
            " --rounds 10 > benchmarks/startup.md` measures it."
        )
    return report.read_text().strip("\n")


def render_throughput(_site: Site, _page: str) -> str:
    """The throughput figure: ``benchmarks/throughput.md``, the report of ``scripts/bench
    --throughput`` with a first line that says how and when it was measured."""
    report = ROOT / "benchmarks" / "throughput.md"
    if not report.is_file():
        return "No throughput figure is recorded yet: `scripts/bench --throughput` measures it."
    return report.read_text().strip("\n")


TABLES = {
    "packages": render_packages,
    "imports": render_imports,
    "differences": render_differences,
    "identical": render_identical,
    "environment": render_environment,
    "benchmarks": render_benchmarks,
    "startup": render_startup,
    "throughput": render_throughput,
}


# -- pages ----------------------------------------------------------------------------------


def _inserted_sections(site: Site, frames: Sequence[Path]) -> None:
    """Record where each inserted section and file will be, before any page is rendered."""
    for frame in frames:
        page = frame.relative_to(FRAMES).as_posix()
        for match in INSERT.finditer(frame.read_text()):
            what, args = match.group("what"), (match.group("args") or "").split(" ", 1)
            if what in ("section", "body", "file", "lead") and args[0]:
                source = (ROOT / args[0]).resolve()
                if what == "file":
                    site.file_pages[source] = page
                    text = source.read_text()
                    for _, _, title in headings(without_title(text)):
                        site.section_pages[(source, slug(title))] = page
                elif what in ("section", "body") and len(args) == 2:
                    body = section(source.read_text(), args[1]) or ""
                    for _, _, title in headings(body)[1 if what == "body" else 0 :]:
                        site.section_pages[(source, slug(title))] = page


def render_frame(site: Site, frame: Path) -> str:
    page = frame.relative_to(FRAMES).as_posix()

    def one(match: re.Match[str]) -> str:
        what, args = match.group("what"), (match.group("args") or "").split(" ", 1)
        if what in TABLES:
            return TABLES[what](site, page)
        source = ROOT / args[0]
        if not source.is_file():
            raise SystemExit(f"{frame}: {match.group(0)}: no file {args[0]}")
        text = source.read_text()
        if what in ("section", "body"):
            body = section(text, args[1] if len(args) == 2 else "")
            if body is None:
                raise SystemExit(f"{frame}: {match.group(0)}: no such section")
            if what == "body":
                body = body.split("\n", 1)[1].strip("\n") if "\n" in body else ""
        elif what == "lead":
            body = lead(text)
        elif what == "file":
            body = shift_headings(without_title(text), 1)
        else:
            raise SystemExit(f"{frame}: unknown insert {what!r}")
        return site.rewrite(body, source, page)

    return INSERT.sub(one, frame.read_text())


def render_distribution(site: Site, dist: Distribution) -> str:
    """A distribution's page: its README (the options tables redone from its configs), its
    facts from pyproject.toml, and the API reference from its docstrings."""
    text = dist.readme.read_text() if dist.readme.is_file() else f"# {dist.name}\n"
    configs = {
        name: [
            GENERATE.OptionDoc(o.name, o.type, o.default, o.env, o.doc)  # generate's renderer
            for o in options
        ]
        for name, options in dist.configs.items()
    }
    if configs:
        text = GENERATE.render_readme_options(text, configs, str(dist.readme))
        if not GENERATE.OPTIONS_BEGIN.search(text):
            for name, options in configs.items():
                table = GENERATE.render_options_table(options, "")
                text += f"\n\n## Options: `{name}`\n{table}\n"
    text = site.rewrite(text, dist.readme, dist.page)
    facts = [
        "## Package",
        "",
        f"- **distribution**: `{dist.name}` (`pip install {dist.name}`)",
        f"- **import**: `{dist.module}`",
        f"- **instruments**: {_code_list(dist.instruments)}",
        f"- **entry points**: {_code_list(list(dist.entry_points))}",
    ]
    if dist.upstream_distribution:
        facts.append(f"- **replaces**: `{dist.upstream_distribution}` (`{dist.upstream_module}`)")
    for name, options in dist.configs.items():
        facts.append(f"- **options** (`{name}`): {_code_list([o.name for o in options])}")
    api = [
        "## API reference",
        "",
        f"::: {dist.module}",
        "    options:",
        "      show_root_heading: false",
        "      show_root_toc_entry: false",
        "      heading_level: 3",
    ]
    return text.rstrip("\n") + "\n\n" + "\n".join(facts) + "\n\n" + "\n".join(api) + "\n"


FRAME_ORDER = ("index.md", "getting-started.md", "migrating.md")
FRAME_LAST = ("configuration.md", "performance.md")


def write_pages(out: Path) -> list[Any]:
    """Writes every page into ``out`` (only files whose content changed, so ``mkdocs serve``
    settles) and returns the navigation."""
    dists = distributions()
    site = Site(dists)
    chart = (ROOT / "benchmarks" / "chart.svg").resolve()
    site.assets[chart] = "assets/chart.svg"
    frames = sorted(FRAMES.glob("*.md"))
    _inserted_sections(site, frames)
    pages: dict[str, str] = {}
    for frame in frames:
        pages[frame.relative_to(FRAMES).as_posix()] = render_frame(site, frame)
    for dist in dists:
        pages[dist.page] = render_distribution(site, dist)
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(pages) | {"assets/chart.svg"}
    static = {
        p: out / p.relative_to(FRAMES)
        for p in FRAMES.rglob("*")
        if p.is_file() and p.suffix not in (".md", ".py", ".pyc")
    }
    for source, target in static.items():
        wanted.add(target.relative_to(out).as_posix())
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
    for path, content in pages.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text() != content:
            target.write_text(content)
    if chart.is_file():
        target = out / "assets" / "chart.svg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != chart.read_bytes():
            shutil.copyfile(chart, target)
    for stale in [p for p in out.rglob("*") if p.is_file()]:
        if stale.relative_to(out).as_posix() not in wanted:
            stale.unlink()  # a distribution or frame that is gone
    frame_pages = [p for p in pages if "/" not in p]
    nav: list[Any] = [p for p in FRAME_ORDER if p in pages]
    instrumentors = [{d.short: d.page} for d in dists if d.kind == "instrumentation"]
    nav.append({"Instrumentors": instrumentors})
    nav += [p for p in frame_pages if p not in FRAME_ORDER and p not in FRAME_LAST]
    nav += [p for p in FRAME_LAST if p in pages]
    shared = [{d.module: d.page} for d in dists if d.kind != "instrumentation"]
    nav.append({"Shared pieces": shared})
    return nav


def on_config(config: Any) -> Any:
    """MkDocs hook: the pages are written before MkDocs lists the files of ``docs_dir``."""
    config["nav"] = write_pages(Path(config["docs_dir"]))
    return config


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write the pages into")
    args = parser.parse_args(argv)
    write_pages(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
