"""instrumentarium-bootstrap, in-process: the plan built from real distribution metadata.

Each test writes ``*.dist-info`` directories (the metadata pip or uv would write) into a
temporary site directory and reads them with ``importlib.metadata``, as the bootstrap does in a
user's environment; the CLI tests run the console entry point in a subprocess with that directory
first on ``PYTHONPATH``, so its distributions shadow the ones of the dev venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import packaging
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from instrumentarium.bootstrap import Environment, Plan, UnknownNameError, instrumentors
from instrumentarium.bootstrap import make_plan as make_full_plan
from instrumentarium.bootstrap.version import __version__

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP_SRC = ROOT / "meta/instrumentarium/src"


class Site:
    """A directory of installed-distribution metadata."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(
        self,
        name: str,
        version: str,
        entry_points: Optional[dict[str, str]] = None,
        requires: tuple[str, ...] = (),
    ) -> None:
        info = self.path / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        requires_dist = "".join(f"Requires-Dist: {r}\n" for r in requires)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{requires_dist}"
        )
        if entry_points:
            lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
            (info / "entry_points.txt").write_text(f"[opentelemetry_instrumentor]\n{lines}")

    def environment(self) -> Environment:
        return Environment.read([str(self.path)])


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site")


# The instrumentors of installed libraries. The tests of matching libraries plan with these
# only; those of the standard library (logging, urllib), proposed in every environment, have
# their own tests (``TestStandardLibrary``).
LIBRARY_INSTRUMENTORS = tuple(i for i in instrumentors() if not i.of_standard_library)


def make_plan(env: Environment, **kwargs: Any) -> Plan:
    """``make_plan`` over the library instrumentors (see ``LIBRARY_INSTRUMENTORS``)."""
    return make_full_plan(env, known=LIBRARY_INSTRUMENTORS, **kwargs)


class TestProposals:
    def test_flask_and_requests_installed_proposes_exactly_their_instrumentors(
        self, site: Site
    ) -> None:
        """Only the installed libraries get a proposal, pinned to the bootstrap's version."""
        site.add("Flask", "3.0.3")
        site.add("requests", "2.32.3")
        site.add("Werkzeug", "3.0.6")
        plan = make_plan(site.environment())
        assert plan.requirements == [
            f"instrumentarium-flask=={__version__}",
            f"instrumentarium-requests=={__version__}",
        ]
        assert plan.skipped == ()
        flask = plan.proposals[0]
        assert (flask.library, flask.library_version) == ("flask", "3.0.3")
        assert "Flask 3.0.3 is installed" in flask.reason

    def test_nothing_installed_proposes_nothing(self, site: Site) -> None:
        """An environment without any instrumented library gets an empty plan, no skips."""
        site.add("attrs", "24.2.0")
        plan = make_plan(site.environment())
        assert plan.proposals == ()
        assert plan.skipped == ()

    def test_library_names_match_whatever_their_spelling(self, site: Site) -> None:
        """Distribution names compare canonically (``Django`` matches ``django >= 4.2``)."""
        site.add("Django", "5.1.4")
        assert make_plan(site.environment()).requirements == [
            f"instrumentarium-django=={__version__}"
        ]

    def test_pyramid_and_falcon_are_proposed(self, site: Site) -> None:
        """Pyramid and Falcon map to their instrumentors; Falcon 5 is outside ``< 5``."""
        site.add("pyramid", "2.1")
        site.add("falcon", "4.4.0")
        assert make_plan(site.environment()).requirements == [
            f"instrumentarium-falcon=={__version__}",
            f"instrumentarium-pyramid=={__version__}",
        ]

    def test_falcon_5_is_out_of_range(self, site: Site) -> None:
        """A Falcon newer than the tested range is skipped with its range."""
        site.add("falcon", "5.0.0")
        (skip,) = make_plan(site.environment()).skipped
        assert (skip.distribution, skip.code) == ("instrumentarium-falcon", "out-of-range")

    def test_fastapi_install_gets_fastapi_and_starlette_instrumentors(self, site: Site) -> None:
        """FastAPI installs Starlette: both instrumentors are proposed (the ASGI middleware
        comes as their dependency)."""
        site.add("fastapi", "0.115.0")
        site.add("starlette", "0.41.0")
        assert make_plan(site.environment()).requirements == [
            f"instrumentarium-fastapi=={__version__}",
            f"instrumentarium-starlette=={__version__}",
        ]

    def test_tornado_is_proposed_from_6_0(self, site: Site) -> None:
        """Tornado 6.0 and newer get ``instrumentarium-tornado``."""
        site.add("tornado", "6.4.2")
        assert make_plan(site.environment()).requirements == [
            f"instrumentarium-tornado=={__version__}"
        ]

    def test_tornado_5_is_out_of_range(self, site: Site) -> None:
        """``tornado 5.1.1`` (upstream claims it, though its context handling fails there) is
        below ``tornado >= 6.0``: skipped, with the range."""
        site.add("tornado", "5.1.1")
        (skip,) = make_plan(site.environment()).skipped
        assert (skip.distribution, skip.code) == ("instrumentarium-tornado", "out-of-range")

    def test_celery_is_proposed_from_5_2(self, site: Site) -> None:
        """Celery 5.2 to 5.x gets ``instrumentarium-celery``."""
        site.add("celery", "5.4.0")
        assert make_plan(site.environment()).requirements == [
            f"instrumentarium-celery=={__version__}"
        ]

    @pytest.mark.parametrize("version", ["5.1.2", "6.0.0"])
    def test_celery_outside_5_2_to_5_x_is_out_of_range(self, site: Site, version: str) -> None:
        """``celery 5.1.2`` (below 5.2, whose command line needs click < 8) and a future 6.0
        are outside ``celery >= 5.2, < 6.0``: skipped, with the range."""
        site.add("celery", version)
        (skip,) = make_plan(site.environment()).skipped
        assert (skip.distribution, skip.code) == ("instrumentarium-celery", "out-of-range")


class TestSkips:
    def test_version_outside_the_range_is_skipped_with_the_range(self, site: Site) -> None:
        """Flask 2.1 is below ``flask >= 2.2``: no proposal, and the message names the range."""
        site.add("Flask", "2.1.3")
        site.add("redis", "5.0.1")
        plan = make_plan(site.environment())
        assert plan.requirements == [f"instrumentarium-redis=={__version__}"]
        (skip,) = plan.skipped
        assert (skip.distribution, skip.code) == ("instrumentarium-flask", "out-of-range")
        assert "Flask 2.1.3" in skip.message
        assert "flask>=2.2" in skip.message.replace(" ", "")

    def test_upper_bound_is_enforced(self, site: Site) -> None:
        """urllib3 3.x is outside ``urllib3 >= 1.26, < 3`` (upstream's check never fails)."""
        site.add("urllib3", "3.0.0")
        (skip,) = make_plan(site.environment()).skipped
        assert skip.code == "out-of-range"

    def test_our_instrumentor_at_this_version_is_not_proposed_again(self, site: Site) -> None:
        """An installed ``instrumentarium-redis`` of the same version is reported, not proposed."""
        site.add("redis", "5.0.1")
        site.add("instrumentarium-redis", __version__, {"redis": "instrumentarium.redis:X"})
        plan = make_plan(site.environment())
        assert plan.proposals == ()
        assert [s.code for s in plan.skipped] == ["already-installed"]

    def test_our_instrumentor_at_another_version_is_proposed_as_an_upgrade(
        self, site: Site
    ) -> None:
        """An older ``instrumentarium-redis`` gets the pinned requirement, noting the upgrade."""
        site.add("redis", "5.0.1")
        site.add("instrumentarium-redis", "0.0.1", {"redis": "instrumentarium.redis:X"})
        (proposal,) = make_plan(site.environment()).proposals
        assert proposal.upgrade_from == "0.0.1"

    def test_upstream_instrumentor_of_the_same_library_is_a_skip(self, site: Site) -> None:
        """Upstream's redis instrumentor registers entry point ``redis`` too: both would trace
        every command, so ours is not proposed and the message says which to uninstall."""
        site.add("redis", "5.0.1")
        site.add(
            "opentelemetry-instrumentation-redis",
            "0.66b1",
            {"redis": "opentelemetry.instrumentation.redis:RedisInstrumentor"},
        )
        plan = make_plan(site.environment())
        assert plan.proposals == ()
        (skip,) = plan.skipped
        assert skip.code == "upstream-installed"
        assert "opentelemetry-instrumentation-redis 0.66b1" in skip.message
        assert "twice" in skip.message

    def test_disabled_instrumentations_are_not_proposed(
        self, site: Site, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Entry points in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS are skipped as ``disabled``."""
        site.add("Flask", "3.0.3")
        site.add("redis", "5.0.1")
        monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", " redis ,kafka")
        plan = make_plan(site.environment())
        assert plan.requirements == [f"instrumentarium-flask=={__version__}"]
        assert [(s.distribution, s.code) for s in plan.skipped] == [
            ("instrumentarium-redis", "disabled")
        ]

    def test_star_disables_everything(self, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
        """``*`` (which the agent honours) disables every proposal."""
        site.add("Flask", "3.0.3")
        monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "*")
        plan = make_plan(site.environment())
        assert plan.proposals == ()
        assert [s.code for s in plan.skipped] == ["disabled"]


class TestDependencies:
    def test_urllib3_under_requests_only_is_not_proposed(self, site: Site) -> None:
        """urllib3 installed only because requests needs it: the requests instrumentor traces
        those calls, so only requests is proposed and the urllib3 skip says why."""
        site.add("requests", "2.32.3", requires=("urllib3<3,>=1.21.1", "PySocks; extra == 'socks'"))
        site.add("urllib3", "2.2.3")
        plan = make_plan(site.environment())
        assert plan.requirements == [f"instrumentarium-requests=={__version__}"]
        (skip,) = plan.skipped
        assert (skip.library, skip.code) == ("urllib3", "dependency-only")
        assert "dependency of requests 2.32.3" in skip.message

    def test_include_dependencies_or_only_keeps_urllib3(self, site: Site) -> None:
        """``include_dependencies`` or naming urllib3 in ``only`` proposes it after all."""
        site.add("requests", "2.32.3", requires=("urllib3<3,>=1.21.1",))
        site.add("urllib3", "2.2.3")
        env = site.environment()
        assert len(make_plan(env, include_dependencies=True).proposals) == 2
        assert make_plan(env, only=["urllib3"]).requirements == [
            f"instrumentarium-urllib3=={__version__}"
        ]

    def test_library_required_by_an_uninstrumented_package_is_proposed(self, site: Site) -> None:
        """urllib3 needed by botocore (which no instrumentor covers) is used for real calls."""
        site.add("botocore", "1.35.0", requires=("urllib3!=2.2.0,<3,>=1.25.4",))
        site.add("urllib3", "2.2.3")
        assert make_plan(site.environment()).requirements == [
            f"instrumentarium-urllib3=={__version__}"
        ]

    def test_library_required_only_by_opentelemetry_is_not_proposed(self, site: Site) -> None:
        """requests pulled in by the OTLP/HTTP exporter alone is not the application's."""
        site.add("opentelemetry-exporter-otlp-proto-http", "1.38.0", requires=("requests~=2.7",))
        site.add("requests", "2.32.3")
        plan = make_plan(site.environment())
        assert plan.proposals == ()
        assert [s.code for s in plan.skipped] == ["dependency-only"]


class TestSelection:
    def test_only_keeps_the_named_ones(self, site: Site) -> None:
        """``--only`` accepts a library, an entry point or a distribution name."""
        site.add("Flask", "3.0.3")
        site.add("redis", "5.0.1")
        site.add("requests", "2.32.3")
        plan = make_plan(site.environment(), only=["Flask", "instrumentarium-redis"])
        assert plan.requirements == [
            f"instrumentarium-flask=={__version__}",
            f"instrumentarium-redis=={__version__}",
        ]
        assert [s.code for s in plan.skipped] == ["excluded"]

    def test_exclude_leaves_the_named_ones_out(self, site: Site) -> None:
        """``--exclude requests`` removes the requests instrumentor and reports it."""
        site.add("Flask", "3.0.3")
        site.add("requests", "2.32.3")
        plan = make_plan(site.environment(), exclude=["requests"])
        assert plan.requirements == [f"instrumentarium-flask=={__version__}"]
        assert [(s.distribution, s.code) for s in plan.skipped] == [
            ("instrumentarium-requests", "excluded")
        ]

    def test_unknown_name_is_an_error_naming_the_known_ones(self, site: Site) -> None:
        """A typo in ``--only`` fails instead of silently selecting nothing."""
        with pytest.raises(UnknownNameError, match=r"flsk.*known: .*flask"):
            make_plan(site.environment(), only=["flsk"])


def _parsed(requirement: str) -> tuple[str, SpecifierSet]:
    parsed = Requirement(requirement)
    return parsed.name, parsed.specifier


class TestGeneratedMap:
    def test_map_matches_every_instrumentors_pyproject(self) -> None:
        """Each entry equals its distribution's ``instruments`` extra and entry points, and
        every instrumentor with an ``instruments`` extra or an entry point is in the map (an
        empty extra: the standard library's)."""
        expected = {}
        for pyproject in sorted(ROOT.glob("instrumentation/*/pyproject.toml")):
            project = tomllib.loads(pyproject.read_text())["project"]
            instruments = project.get("optional-dependencies", {}).get("instruments", [])
            version_path = pyproject.parent / "src/instrumentarium"
            eps = project.get("entry-points", {}).get("opentelemetry_instrumentor", {})
            if (instruments or eps) and any(version_path.glob("*/version.py")):
                expected[project["name"]] = (tuple(map(_parsed, instruments)), tuple(eps))
        actual = {
            i.distribution: (tuple(_parsed(str(r)) for r in i.requirements), i.entry_points)
            for i in instrumentors()
        }
        assert actual == expected

    def test_real_environment_reads_our_installed_instrumentors(self) -> None:
        """In the dev venv every instrumentor is installed (editable): each one whose library is
        installed is reported as ``already-installed``, found from real metadata (libraries that
        no other installed distribution depends on, so none is skipped as a dependency)."""
        plan = make_plan(Environment.read())
        codes = {s.distribution: s.code for s in plan.skipped}
        for name in ("instrumentarium-flask", "instrumentarium-django", "instrumentarium-redis"):
            assert codes.get(name) == "already-installed", plan


def _cli(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    """The bootstrap in a Python that sees only ``site`` (``-S``: no site-packages), plus the
    bootstrap's source and a copy of its one dependency, ``packaging``."""
    lib = site.path.parent / "lib"
    if not lib.exists():
        shutil.copytree(Path(packaging.__file__).parent, lib / "packaging")
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join(map(str, (site.path, lib, BOOTSTRAP_SRC)))
    return subprocess.run(
        [sys.executable, "-S", "-m", "instrumentarium.bootstrap", *args],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
        timeout=60,
    )


@pytest.mark.subprocess
class TestCommandLine:
    def test_requirements_action_prints_only_requirement_lines(self, site: Site) -> None:
        """stdout is ready for a requirements file; the reasons go to stderr."""
        site.add("Flask", "3.0.3")
        site.add("instrumentarium-flask", "0.0.1", {"flask": "instrumentarium.flask:X"})
        site.add("redis", "1.0.0")
        result = _cli(site)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            f"instrumentarium-flask=={__version__}",
            f"instrumentarium-logging=={__version__}",
            f"instrumentarium-urllib=={__version__}",
        ]
        assert "upgrading 0.0.1" in result.stderr
        assert "skipped (out-of-range) redis 1.0.0" in result.stderr

    def test_json_format_is_one_document(self, site: Site) -> None:
        """``--format json`` prints the plan as one JSON document: proposals and skips."""
        site.add("Flask", "2.0.0")
        site.add("requests", "2.32.3")
        result = _cli(site, "--format", "json")
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["requirements"] == [
            f"instrumentarium-logging=={__version__}",
            f"instrumentarium-requests=={__version__}",
            f"instrumentarium-urllib=={__version__}",
        ]
        assert [(s["library"], s["code"]) for s in document["skipped"]] == [
            ("flask", "out-of-range")
        ]

    def test_unknown_name_exits_2(self, site: Site) -> None:
        """A bad ``--exclude`` name is a usage error (exit status 2)."""
        result = _cli(site, "--exclude", "nope")
        assert result.returncode == 2
        assert "unknown instrumentor or library: nope" in result.stderr

    def test_install_with_nothing_to_install_succeeds_without_an_installer(
        self, site: Site
    ) -> None:
        """``-a install`` with an empty plan runs nothing and exits 0."""
        result = _cli(site, "-a", "install", "--installer", "uv", "--exclude", "logging,urllib")
        assert result.returncode == 0, result.stderr
        assert "nothing to install" in result.stderr


class TestStandardLibrary:
    def test_logging_and_urllib_are_proposed_in_every_environment(self, site: Site) -> None:
        """logging and urllib need no installed library: they are proposed even where nothing
        else is (as upstream's bootstrap installs its default instrumentations everywhere)."""
        site.add("attrs", "24.2.0")
        plan = make_full_plan(site.environment())
        assert plan.requirements == [
            f"instrumentarium-logging=={__version__}",
            f"instrumentarium-urllib=={__version__}",
        ]
        logging_, urllib = plan.proposals
        assert logging_.library_version == urllib.library_version == ""
        assert "standard library's logging" in logging_.reason
        assert "standard library's urllib" in urllib.reason

    def test_in_map_order_among_the_libraries(self, site: Site) -> None:
        site.add("Flask", "3.0.3")
        assert make_full_plan(site.environment()).requirements == [
            f"instrumentarium-flask=={__version__}",
            f"instrumentarium-logging=={__version__}",
            f"instrumentarium-urllib=={__version__}",
        ]

    def test_upstream_logging_instrumentor_is_a_skip(self, site: Site) -> None:
        """Upstream's ``logging`` entry point installed: both would set a record factory."""
        site.add(
            "opentelemetry-instrumentation-logging",
            "0.66b1",
            {"logging": "opentelemetry.instrumentation.logging:LoggingInstrumentor"},
        )
        plan = make_full_plan(site.environment())
        assert plan.requirements == [f"instrumentarium-urllib=={__version__}"]
        assert [(s.distribution, s.code) for s in plan.skipped] == [
            ("instrumentarium-logging", "upstream-installed")
        ]

    def test_disabled_and_excluded_and_already_installed(
        self, site: Site, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The same skips as any instrumentor: disabled, ``--exclude``, installed already."""
        env = site.environment()
        assert [s.code for s in make_full_plan(env, exclude=["logging"]).skipped] == ["excluded"]
        monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "logging")
        assert [s.code for s in make_full_plan(env).skipped] == ["disabled"]
        monkeypatch.delenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS")
        site.add("instrumentarium-logging", __version__, {"logging": "instrumentarium.logging:X"})
        skipped = make_full_plan(site.environment()).skipped
        assert [s.code for s in skipped] == ["already-installed"]

    def test_nothing_is_pinned_for_it(self, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
        """The install's constraints pin the installed libraries; the standard library has no
        distribution to pin."""
        from instrumentarium.bootstrap import _install

        site.add("Flask", "3.0.3")
        plan = make_full_plan(site.environment())
        captured: dict[str, str] = {}

        def fake_run(command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
            constraints = command[command.index("--constraint") + 1]
            captured["constraints"] = Path(constraints).read_text()
            return subprocess.CompletedProcess(command, 0)

        monkeypatch.setattr(_install, "find_installer", lambda choice: ("uv", ["uv", "pip"]))
        monkeypatch.setattr(_install.subprocess, "run", fake_run)
        _install.run(plan, "uv", [])
        assert captured["constraints"] == "flask==3.0.3\n"
