"""Jinja2: ``Template.render()`` of a small template (a loop and a filter), already loaded."""

from __future__ import annotations

from typing import Any

from . import Call, Providers, Workload, upstream_requirement

SOURCE = "<ul>{% for item in items %}<li>{{ item | upper }}</li>{% endfor %}</ul>"
ITEMS = ("a", "b", "c")
EXPECT = "<ul><li>A</li><li>B</li><li>C</li></ul>"


def _client() -> Call:
    import jinja2

    environment = jinja2.Environment(loader=jinja2.DictLoader({"list.html": SOURCE}))
    template = environment.get_template("list.html")

    def call() -> str:
        return template.render(items=ITEMS)  # type: ignore[no-any-return]

    return call


def _bare(providers: Providers) -> Call:
    return _client()


def _instrumentarium(providers: Providers) -> Call:
    from instrumentarium.jinja2 import Jinja2Instrumentor

    call = _client()  # loaded and compiled before: a call is one render span
    Jinja2Instrumentor().instrument(tracer_provider=providers.tracer_provider)
    return call


def _upstream(providers: Providers) -> Call:
    from opentelemetry.instrumentation.jinja2 import Jinja2Instrumentor

    call = _client()  # loaded and compiled before: a call is one render span
    Jinja2Instrumentor().instrument(tracer_provider=providers.tracer_provider)
    return call


def _carrier() -> dict[str, Any]:
    """No propagation: a template span is a root (or a child of the app's span)."""
    return {}


WORKLOADS = (
    Workload(
        name="jinja2",
        description="Template.render() of a small loaded template (a loop of 3 and a filter)",
        bare=_bare,
        instrumentarium=_instrumentarium,
        upstream=_upstream,
        carrier=_carrier,
        expect=EXPECT,
        packages=("jinja2",),
        upstream_packages=(upstream_requirement("opentelemetry-instrumentation-jinja2"),),
        show_versions=("jinja2",),
        records_metrics=False,
    ),
)
