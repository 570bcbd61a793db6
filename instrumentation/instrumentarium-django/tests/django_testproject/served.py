"""What the real-server apps share: an SDK that prints each span to stdout as it ends (the
console exporter's format, parsed by ``examples/dice/console_telemetry.py``), and
``DjangoInstrumentor().instrument()`` before Django builds its handler."""

from __future__ import annotations

import os
import sys

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from instrumentarium.django import DjangoInstrumentor


def instrument() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_testproject.settings")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
