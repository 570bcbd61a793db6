"""Fixtures for the instrumentarium-jinja2 tests.

``Jinja2Instrumentor`` is a process-wide singleton that patches methods of
``jinja2.environment``, so every test goes through ``instrumentor``: whatever a test
instruments is undone when it ends. ``instrument`` passes the test's tracer provider. ``env`` is
a Jinja2 environment over a few templates in a temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from opentelemetry.sdk.trace import TracerProvider

from instrumentarium.jinja2 import Jinja2Instrumentor

TEMPLATES = {
    "hello.html": "Hello {{ name }}!",
    "page.html": "{% extends 'base.html' %}{% block body %}<p>{{ name }}</p>{% endblock %}",
    "base.html": "<html>{% block body %}{% endblock %}</html>",
    "broken.html": "{% if %}",
    "undefined.html": "{{ missing.attribute }}",
    "list.html": "{% for item in items %}{{ item }};{% endfor %}",
}


@pytest.fixture
def instrumentor() -> Iterator[Jinja2Instrumentor]:
    """The singleton, left uninstrumented when the test ends."""
    instance = Jinja2Instrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()


@pytest.fixture
def instrument(instrumentor: Jinja2Instrumentor, tracer_provider: TracerProvider) -> Any:
    """``instrument(**kwargs)`` with the test's tracer provider (Jinja2 has no metrics)."""

    def run(**kwargs: Any) -> Jinja2Instrumentor:
        kwargs.setdefault("tracer_provider", tracer_provider)
        instrumentor.instrument(**kwargs)
        return instrumentor

    return run


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    for name, source in TEMPLATES.items():
        (tmp_path / name).write_text(source)
    return tmp_path


@pytest.fixture
def env(template_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)), undefined=jinja2.StrictUndefined
    )
