"""The contract every instrumentor keeps, checked once over every ``opentelemetry_instrumentor``
entry point of our distributions (what ``opentelemetry-instrument`` loads):

* the entry point is the upstream name and loads our class (``ENTRY_POINTS``);
* ``instrumentation_dependencies()``, ``package.py``'s ``_instruments`` and the distribution's
  ``instruments`` extra are the same requirements, and the installed library satisfies them;
* the package's ``__all__`` is exactly the names pinned in ``PACKAGES``, each resolves,
  ``import *`` brings in those and no others, ``__version__`` is the distribution's;
* in a fresh interpreter (``tests/support/contract_probe.py``), as ``opentelemetry-instrument``
  starts it: importing the package and ``instrument()`` import nothing of the library; the
  library's first import then wraps every patch target once (post-import hook); a second
  ``instrument()`` changes nothing; ``uninstrument()`` leaves the original objects, no
  wrapper; instrumenting again works.

The patch targets are read from the patch sets ``instrument()`` applies
(``instrumentarium.util.patching.active_patch_sets()``): each is a module and a
``Class.attribute`` or function name. A fresh interpreter each time, so that no other test's
state (Django's settings, an imported library) changes the path ``instrument()`` takes.
Per-object variants (``instrument_app``, ...) and the telemetry itself are each package's own
tests.

A new instrumentor adds its line to ``ENTRY_POINTS`` and its package to ``PACKAGES``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from packaging.requirements import Requirement

from tests.support.agent import clean_environ

ROOT = Path(__file__).resolve().parent.parent
GROUP = "opentelemetry_instrumentor"

# Entry point name (upstream's) -> the object it loads. Exactly these are installed.
ENTRY_POINTS = {
    "celery": "instrumentarium.celery:CeleryInstrumentor",
    "django": "instrumentarium.django:DjangoInstrumentor",
    "falcon": "instrumentarium.falcon:FalconInstrumentor",
    "fastapi": "instrumentarium.fastapi:FastAPIInstrumentor",
    "flask": "instrumentarium.flask:FlaskInstrumentor",
    "grpc_aio_client": "instrumentarium.grpc:GrpcAioInstrumentorClient",
    "grpc_aio_server": "instrumentarium.grpc:GrpcAioInstrumentorServer",
    "grpc_client": "instrumentarium.grpc:GrpcInstrumentorClient",
    "grpc_server": "instrumentarium.grpc:GrpcInstrumentorServer",
    "jinja2": "instrumentarium.jinja2:Jinja2Instrumentor",
    "kafka": "instrumentarium.kafka:KafkaInstrumentor",
    "logging": "instrumentarium.logging:LoggingInstrumentor",
    "pyramid": "instrumentarium.pyramid:PyramidInstrumentor",
    "redis": "instrumentarium.redis:RedisInstrumentor",
    "requests": "instrumentarium.requests:RequestsInstrumentor",
    "starlette": "instrumentarium.starlette:StarletteInstrumentor",
    "urllib": "instrumentarium.urllib:URLLibInstrumentor",
    "tornado": "instrumentarium.tornado:TornadoInstrumentor",
    "urllib3": "instrumentarium.urllib3:URLLib3Instrumentor",
}


@dataclass(frozen=True)
class Package:
    distribution: str
    public: str  # its ``__all__``, in its order, space-separated

    @property
    def public_names(self) -> list[str]:
        return self.public.split()


PACKAGES = {
    "instrumentarium.asgi": Package(
        "instrumentarium-asgi",
        "OpenTelemetryMiddleware ServerRequestHook ClientRequestHook ClientResponseHook"
        " ASGIGetter ASGISetter asgi_getter asgi_setter get_default_span_details __version__",
    ),
    "instrumentarium.celery": Package("instrumentarium-celery", "CeleryInstrumentor __version__"),
    "instrumentarium.django": Package(
        "instrumentarium-django",
        "DjangoInstrumentor OpenTelemetryMiddleware MIDDLEWARE_PATH INSTRUMENT_ENV"
        " MIDDLEWARE_POSITION_ENV __version__",
    ),
    "instrumentarium.falcon": Package("instrumentarium-falcon", "FalconInstrumentor __version__"),
    "instrumentarium.fastapi": Package(
        "instrumentarium-fastapi", "FastAPIInstrumentor __version__"
    ),
    "instrumentarium.flask": Package(
        "instrumentarium-flask", "FlaskInstrumentor get_default_span_name __version__"
    ),
    "instrumentarium.grpc": Package(
        "instrumentarium-grpc",
        "GrpcInstrumentorClient GrpcInstrumentorServer GrpcAioInstrumentorClient"
        " GrpcAioInstrumentorServer client_interceptor server_interceptor"
        " aio_client_interceptors aio_server_interceptor filters EXCLUDED_SERVICES_ENV"
        " __version__",
    ),
    "instrumentarium.jinja2": Package("instrumentarium-jinja2", "Jinja2Instrumentor __version__"),
    "instrumentarium.kafka": Package(
        "instrumentarium-kafka-python", "KafkaInstrumentor __version__"
    ),
    "instrumentarium.logging": Package(
        "instrumentarium-logging", "LoggingInstrumentor __version__"
    ),
    "instrumentarium.pyramid": Package(
        "instrumentarium-pyramid", "PyramidInstrumentor includeme trace_tween_factory __version__"
    ),
    "instrumentarium.redis": Package("instrumentarium-redis", "RedisInstrumentor __version__"),
    "instrumentarium.requests": Package(
        "instrumentarium-requests", "RequestsInstrumentor get_default_span_name __version__"
    ),
    "instrumentarium.starlette": Package(
        "instrumentarium-starlette", "StarletteInstrumentor __version__"
    ),
    "instrumentarium.urllib": Package("instrumentarium-urllib", "URLLibInstrumentor __version__"),
    "instrumentarium.tornado": Package(
        "instrumentarium-tornado", "TornadoInstrumentor __version__"
    ),
    "instrumentarium.urllib3": Package(
        "instrumentarium-urllib3", "RequestInfo URLLib3Instrumentor __version__"
    ),
    "instrumentarium.wsgi": Package(
        "instrumentarium-wsgi",
        "OpenTelemetryMiddleware RequestHook ResponseHook WSGIGetter wsgi_getter"
        " collect_request_attributes collect_custom_request_headers_attributes"
        " collect_custom_response_headers_attributes add_response_attributes"
        " get_default_span_name ResponsePropagationSetter default_response_propagation_setter"
        " request_url ServerCall ServerTelemetry ResponseIterable __version__",
    ),
}


# Entry points of standard-library instrumentors: no library to install (upstream's
# ``_instruments`` is empty too); for the lifecycle probe, the modules their patches wait for
# (none for logging: the standard library's logging is imported before any instrumentor runs).
STANDARD_LIBRARY: dict[str, tuple[str, ...]] = {"logging": (), "urllib": ("urllib.request",)}


def our_entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The installed ``opentelemetry_instrumentor`` entry points that load ``instrumentarium.*``
    (upstream's, when installed, have the same names)."""
    found = importlib.metadata.entry_points()
    if hasattr(found, "select"):
        group = list(found.select(group=GROUP))
    else:  # Python 3.9: a dict of groups
        group = list(found.get(GROUP, ()))  # type: ignore[attr-defined]
    return {ep.name: ep for ep in group if ep.value.startswith("instrumentarium.")}


def declared_by(entry_point_name: str) -> list[str]:
    """The installed distributions that declare the entry point (Python 3.9's entry points do
    not name theirs)."""
    return [
        str(distribution.metadata["Name"])
        for distribution in importlib.metadata.distributions()
        for entry_point in distribution.entry_points
        if entry_point.group == GROUP
        and entry_point.name == entry_point_name
        and entry_point.value == ENTRY_POINTS[entry_point_name]
    ]


def package_of(entry_point_name: str) -> Package:
    return PACKAGES[ENTRY_POINTS[entry_point_name].partition(":")[0]]


def normalized(requirements: Any) -> set[tuple[str, str]]:
    """Requirements as comparable (canonical name, specifier set) pairs, markers aside."""
    parsed = [Requirement(str(r)) for r in requirements]
    return {(r.name.lower().replace("_", "-"), str(r.specifier)) for r in parsed}


def library_modules(requirements: Any) -> list[str]:
    """The top-level modules the required distributions install (``grpc`` for ``grpcio``)."""
    modules: set[str] = set()
    for requirement in requirements:
        files = importlib.metadata.distribution(Requirement(requirement).name).files or []
        modules.update(
            path.parts[0].split(".")[0]
            for path in files
            if path.suffix == ".py" and len(path.parts) > 0 and path.parts[0] != ".."
        )
    return sorted(modules)


@pytest.fixture(params=sorted(ENTRY_POINTS))
def entry_point_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def instrumentor(entry_point_name: str) -> Iterator[BaseInstrumentor]:
    """The entry point's instrumentor (a singleton), uninstrumented when the test ends."""
    instance: BaseInstrumentor = our_entry_points()[entry_point_name].load()()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


class TestEntryPoints:
    def test_exactly_the_pinned_entry_points_are_installed(self) -> None:
        """Every entry point of ours is pinned here (a new instrumentor adds its line), under
        the upstream name, loading the pinned object."""
        installed = {name: ep.value for name, ep in our_entry_points().items()}
        assert installed == ENTRY_POINTS

    def test_the_entry_point_loads_an_instrumentor(self, entry_point_name: str) -> None:
        """What ``opentelemetry-instrument`` loads is the public class of the package."""
        loaded = our_entry_points()[entry_point_name].load()
        module, _, name = ENTRY_POINTS[entry_point_name].partition(":")
        assert loaded is getattr(importlib.import_module(module), name)
        assert issubclass(loaded, BaseInstrumentor)

    def test_the_entry_point_is_declared_by_the_package_distribution(
        self, entry_point_name: str
    ) -> None:
        """Exactly one distribution declares it: the one that ships the package."""
        assert declared_by(entry_point_name) == [package_of(entry_point_name).distribution]


class TestDependencies:
    def test_dependencies_equal_package_py_and_the_instruments_extra(
        self, entry_point_name: str, instrumentor: BaseInstrumentor
    ) -> None:
        """``instrumentation_dependencies()`` (which ``instrument()`` checks), ``package.py``'s
        ``_instruments`` and the distribution's ``instruments`` extra declare the same ranges."""
        module = ENTRY_POINTS[entry_point_name].partition(":")[0]
        package = importlib.import_module(module + ".package")
        requires = importlib.metadata.requires(package_of(entry_point_name).distribution) or []
        extra = [
            line
            for line in requires
            if (marker := Requirement(line).marker) is not None
            and marker.evaluate({"extra": "instruments"})
        ]
        if entry_point_name in STANDARD_LIBRARY:
            assert extra == [], "a standard-library instrumentor requires nothing"
            assert tuple(instrumentor.instrumentation_dependencies()) == ()
            assert tuple(package._instruments) == ()
            return
        assert extra, "the distribution declares no instruments extra"
        assert normalized(instrumentor.instrumentation_dependencies()) == normalized(extra)
        assert normalized(package._instruments) == normalized(extra)

    def test_the_installed_library_satisfies_them(self, instrumentor: BaseInstrumentor) -> None:
        """The library installed here is in the declared range, so ``instrument()`` runs."""
        for line in instrumentor.instrumentation_dependencies():
            requirement = Requirement(line)
            installed = importlib.metadata.version(requirement.name)
            assert requirement.specifier.contains(installed, prereleases=True), (line, installed)


class TestPublicNames:
    @pytest.mark.parametrize("module_name", sorted(PACKAGES))
    def test_all_is_pinned_and_resolves(self, module_name: str) -> None:
        """``__all__`` is exactly the pinned list; every name in it exists; ``import *``
        brings in those names and no others."""
        module = importlib.import_module(module_name)
        assert module.__all__ == PACKAGES[module_name].public_names
        for name in module.__all__:
            assert hasattr(module, name), name
        namespace: dict[str, Any] = {}
        exec(f"from {module_name} import *", namespace)
        assert sorted(set(namespace) - {"__builtins__"}) == sorted(module.__all__)

    def test_every_instrumentor_package_is_pinned(self) -> None:
        """No entry point loads from a package whose ``__all__`` is not pinned here."""
        packages = {value.partition(":")[0] for value in ENTRY_POINTS.values()}
        assert packages <= set(PACKAGES)

    @pytest.mark.parametrize("module_name", sorted(PACKAGES))
    def test_version_is_the_distributions(self, module_name: str) -> None:
        """``__version__`` is the installed distribution's version."""
        module = importlib.import_module(module_name)
        distribution = PACKAGES[module_name].distribution
        assert module.__version__ == importlib.metadata.version(distribution)


# What every patch target is after each step of tests/support/contract_probe.py.
LIFE = {
    "instrument, then the library's import": "wrapped once",
    "instrument again": "unchanged",
    "uninstrument": "the original",
    "uninstrument again": "the original",
    "instrument after uninstrument": "wrapped once",
    "uninstrument at the end": "the original",
}


@pytest.mark.subprocess
class TestLifecycle:
    def test_one_life_in_a_fresh_interpreter(self, entry_point_name: str) -> None:
        """As ``opentelemetry-instrument`` starts it: importing the package and ``instrument()``
        import nothing of the library; the library's first import then wraps every patch target
        once; a second ``instrument()`` changes nothing; ``uninstrument()`` (twice) leaves the
        original objects, no wrapper; instrumenting again wraps them once more, and
        ``uninstrument()`` undoes it."""
        instrumentor = our_entry_points()[entry_point_name].load()
        libraries = list(STANDARD_LIBRARY.get(entry_point_name, ())) or library_modules(
            instrumentor().instrumentation_dependencies()
        )
        assert libraries or entry_point_name in STANDARD_LIBRARY, "no library module found"
        environment = clean_environ("DJANGO_SETTINGS_MODULE")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.support.contract_probe",
                ENTRY_POINTS[entry_point_name],
                *libraries,
            ],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        found = json.loads(result.stdout)
        assert found["imported"] == [], "instrument() imported the library"
        assert found["targets"], "instrument() applied no patch"
        for target, life in found["targets"].items():
            assert life == LIFE, target
