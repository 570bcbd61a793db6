"""Fixtures for the instrumentarium-django tests.

The test project (``django_testproject``: settings, URL patterns, views) is configured once per
session with ``settings.configure``. ``DjangoInstrumentor`` is a process-wide singleton that edits
``settings.MIDDLEWARE``, so every test goes through ``instrumentor``: whatever a test instruments
is undone when it ends, and ``MIDDLEWARE`` is restored. Django's test clients build their
middleware chain when they are created, so a test makes its ``client()`` / ``async_client()``
after instrumenting.

Two guards run around every test: the SDK never complains about a span being ended twice, and
no span is left current once the test is over.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

HERE = Path(__file__).resolve().parent
DICE_EXAMPLE = HERE.parents[2] / "examples" / "dice"
for _path in (HERE, DICE_EXAMPLE):  # the test project, and console_telemetry.py by import
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import django  # noqa: E402
from django.conf import settings  # noqa: E402
from django_testproject.settings import SETTINGS  # noqa: E402

if not settings.configured:
    settings.configure(**SETTINGS)
    django.setup()

from instrumentarium.django import DjangoInstrumentor  # noqa: E402


@pytest.fixture
def instrumentor() -> Iterator[DjangoInstrumentor]:
    """The singleton, left uninstrumented when the test ends, with ``MIDDLEWARE`` restored."""
    instance = DjangoInstrumentor()
    assert not instance.is_instrumented_by_opentelemetry, "an earlier test leaked instrument()"
    saved = settings.MIDDLEWARE
    yield instance
    if instance.is_instrumented_by_opentelemetry:
        instance.uninstrument()
    settings.MIDDLEWARE = saved


@pytest.fixture
def client() -> Callable[..., Any]:
    """``client(**kwargs)``: a Django test ``Client`` built now (its middleware chain too)."""
    from django.test import Client

    return Client


@pytest.fixture
def async_client() -> Callable[..., Any]:
    """``async_client(**kwargs)``: a Django ``AsyncClient``, i.e. the ASGI handler."""
    from django.test import AsyncClient

    return AsyncClient


@pytest.fixture
def finished(span_exporter: Any) -> Callable[[], list[Any]]:
    """Call it for the spans ended so far."""
    return lambda: list(span_exporter.get_finished_spans())


@pytest.fixture
def instrumentarium_warnings(
    caplog: pytest.LogCaptureFixture,
) -> Callable[[], list[logging.LogRecord]]:
    """Call it to get the WARNING records logged by instrumentarium so far in this test."""
    caplog.set_level(logging.WARNING, logger="instrumentarium")

    def records() -> list[logging.LogRecord]:
        return [
            record
            for record in caplog.records
            if record.name == "instrumentarium" and record.levelno == logging.WARNING
        ]

    return records
