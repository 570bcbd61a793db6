"""Every public name of upstream's modules is in ours, or in the package README's "Not provided"
list with its reason (issue 14, item 3).

A user switching changes ``opentelemetry.instrumentation.X`` to ``instrumentarium.X`` in the
import line and nothing else: each name that import brought in must be there. ``UPSTREAM`` is
the public surface of the upstream releases this project follows (0.66b*), read from their
wheels: the names each module defines (functions, classes, constants, type aliases, and
``Class.method`` for the public methods its classes define; not what it imports), and
``package._instruments`` / ``version.__version__``, which tools import. A name listed under the
README's "Not provided" heading (as ``name``, ``submodule.name`` or the whole ``submodule``) is
left out on purpose; the reason is written there. What the names do is pinned by each package's
own tests (``instrumentarium-wsgi/tests/test_helpers.py``, ...).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# our package -> (distribution folder, {upstream submodule ("" = the package): its public names})
UPSTREAM: dict[str, tuple[str, dict[str, str]]] = {
    "wsgi": (
        "instrumentarium-wsgi",
        {
            "": "OpenTelemetryMiddleware RequestHook ResponseHook ResponsePropagationSetter T"
            " WSGIGetter add_response_attributes collect_custom_request_headers_attributes"
            " collect_custom_response_headers_attributes collect_request_attributes"
            " default_response_propagation_setter get_default_span_name wsgi_getter"
            " WSGIGetter.get WSGIGetter.keys ResponsePropagationSetter.set",
        },
    ),
    "flask": (
        "instrumentarium-flask",
        {
            "": "FlaskInstrumentor flask_version get_default_span_name"
            " FlaskInstrumentor.instrument_app FlaskInstrumentor.uninstrument_app",
        },
    ),
    "django": (
        "instrumentarium-django",
        {
            "": "DjangoInstrumentor",
            "environment_variables": "OTEL_PYTHON_DJANGO_INSTRUMENT",
            "middleware.otel_middleware": "DJANGO_3_0",
            "middleware.sqlcommenter_middleware": "SqlCommenter T",
        },
    ),
    "requests": (
        "instrumentarium-requests",
        {
            "": "RequestsInstrumentor get_default_span_name"
            " RequestsInstrumentor.uninstrument_session",
        },
    ),
    "urllib3": ("instrumentarium-urllib3", {"": "RequestInfo URLLib3Instrumentor"}),
    "redis": (
        "instrumentarium-redis",
        {
            "": "RedisInstrumentor RedisInstrumentor.instrument RedisInstrumentor.instrument_client"
            " RedisInstrumentor.uninstrument_client",
            "custom_types": "RequestHook ResponseHook AsyncPipelineInstance AsyncRedisInstance"
            " PipelineInstance RedisInstance R",
        },
    ),
    "grpc": (
        "instrumentarium-grpc",
        {
            "": "GrpcAioInstrumentorClient GrpcAioInstrumentorServer GrpcInstrumentorClient"
            " GrpcInstrumentorServer aio_client_interceptors aio_server_interceptor"
            " client_interceptor server_interceptor GrpcInstrumentorClient.wrapper_fn",
            "filters": "CallDetailsT Condition all_of any_of full_method_name health_check"
            " method_name method_prefix negate service_name service_prefix",
            "grpcext": "UnaryClientInfo StreamClientInfo UnaryClientInterceptor"
            " StreamClientInterceptor intercept_channel",
        },
    ),
    "kafka": (
        "instrumentarium-kafka-python",
        {
            "": "KafkaInstrumentor",
            "utils": "KafkaPropertiesExtractor ProduceHookT ConsumeHookT KafkaContextGetter"
            " KafkaContextSetter",
        },
    ),
}
# Every upstream instrumentation ships these two, and tools (the bootstrap) import them.
for _folder, _modules in UPSTREAM.values():
    _modules.setdefault("package", "_instruments")
    _modules.setdefault("version", "__version__")


def _cases() -> list[object]:
    return [
        pytest.param(package, submodule, name, id=f"{package}:{submodule or '.'}:{name}")
        for package, (_, modules) in UPSTREAM.items()
        for submodule, names in modules.items()
        for name in names.split()
    ]


_NOT_PROVIDED = re.compile(r"^#+ .*Not provided.*$", re.MULTILINE | re.IGNORECASE)


def not_provided(folder: str) -> set[str]:
    """The backticked names in the list of the README's "Not provided" section."""
    text = (ROOT / "instrumentation" / folder / "README.md").read_text(encoding="utf-8")
    found = _NOT_PROVIDED.search(text)
    if found is None:
        return set()
    section = text[found.end() :]
    following = re.search(r"^#+ ", section, re.MULTILINE)
    if following is not None:
        section = section[: following.start()]
    items = section.partition("\n- ")[2]  # the list; the sentence before it names what is there
    return set(re.findall(r"`([^`\s]+)`", items))


def _ours(package: str, submodule: str) -> object:
    module = f"instrumentarium.{package}" + (f".{submodule}" if submodule else "")
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _has(module: object, dotted: str) -> bool:
    """Whether ``module`` has ``dotted`` (``Class.method`` for a class's public method)."""
    found: object = module
    for part in dotted.split("."):
        if not hasattr(found, part):
            return False
        found = getattr(found, part)
    return True


@pytest.mark.parametrize(("package", "submodule", "name"), _cases())
def test_upstream_name_is_ours_or_listed_as_not_provided(
    package: str, submodule: str, name: str
) -> None:
    """``from opentelemetry.instrumentation.<package>[.<submodule>] import <name>`` works with
    ``instrumentarium.<package>[...]``, or the README says why it does not."""
    module = _ours(package, submodule)
    if module is not None and _has(module, name):
        return
    listed = not_provided(UPSTREAM[package][0])
    dotted = f"{submodule}.{name}" if submodule else name
    assert {dotted, submodule} & listed if submodule else name in listed, (
        f"instrumentarium.{package} lacks upstream's {dotted!r} and its README's"
        f" 'Not provided' list does not name it"
    )


@pytest.mark.parametrize("package", sorted(UPSTREAM))
def test_not_provided_lists_only_what_is_missing(package: str) -> None:
    """An upstream name the README lists as not provided is indeed not importable from ours
    (the list does not go stale when a name is added)."""
    folder, modules = UPSTREAM[package]
    surface = {
        (f"{submodule}.{name}" if submodule else name): (submodule, name)
        for submodule, names in modules.items()
        for name in names.split()
    }
    listed = not_provided(folder)
    for entry in sorted(listed & set(modules)):  # a whole submodule
        assert _ours(package, entry) is None, f"{entry} is provided"
    for entry in sorted(listed & set(surface)):
        submodule, name = surface[entry]
        module = _ours(package, submodule)
        assert module is None or not _has(module, name), f"{entry} is provided"
