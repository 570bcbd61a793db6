"""``KafkaInstrumentor``: instrument / uninstrument, the entry point, the deferred patching and
the public surface of ``instrumentarium.kafka``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

from kafka import KafkaConsumer, KafkaProducer

import instrumentarium.kafka
from instrumentarium.kafka import KafkaInstrumentor

ORIGINALS = {
    (KafkaProducer, "send"): KafkaProducer.__dict__["send"],
    (KafkaConsumer, "__next__"): KafkaConsumer.__dict__["__next__"],
    (KafkaConsumer, "poll"): KafkaConsumer.__dict__["poll"],
}


class TestInstrument:
    def test_instrument_wraps_and_uninstrument_restores(self, instrument, instrumentor):
        """``instrument()`` wraps send, __next__ and poll; ``uninstrument()`` leaves the original
        functions, not a wrapper."""
        instrument()
        for (klass, name), original in ORIGINALS.items():
            assert klass.__dict__[name] is not original
        instrumentor.uninstrument()
        for (klass, name), original in ORIGINALS.items():
            assert klass.__dict__[name] is original

    def test_instrument_again_after_uninstrument(
        self, instrument, instrumentor, producer, topic, span_exporter
    ):
        """instrument, uninstrument, instrument: one span per send, none while off."""
        instrument()
        instrumentor.uninstrument()
        producer.send(topic, b"off").get(timeout=20)
        instrument()
        producer.send(topic, b"on").get(timeout=20)
        assert [s.name for s in span_exporter.get_finished_spans()] == [f"{topic} send"]

    def test_importing_does_not_import_kafka(self):
        """Importing the package leaves kafka unimported; instrument() patches it on import."""
        code = (
            "import sys, warnings\n"
            "warnings.simplefilter('ignore', DeprecationWarning)\n"
            "from instrumentarium.kafka import KafkaInstrumentor\n"
            "assert 'kafka' not in sys.modules\n"
            "KafkaInstrumentor().instrument()\n"
            "assert 'kafka' not in sys.modules\n"
            "import kafka\n"
            "print(type(kafka.KafkaProducer.__dict__['send']).__name__,"
            " type(kafka.KafkaConsumer.__dict__['poll']).__name__)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert result.stdout.split() == ["FunctionWrapper", "FunctionWrapper"]

    def test_entry_point(self):
        """The ``kafka`` entry point of ``opentelemetry_instrumentor`` loads the instrumentor."""
        found = importlib.metadata.entry_points()
        group = (
            found.select(group="opentelemetry_instrumentor")
            if hasattr(found, "select")
            else found.get("opentelemetry_instrumentor", ())
        )
        (entry,) = [e for e in group if e.name == "kafka" and "instrumentarium" in e.value]
        assert entry.load() is KafkaInstrumentor

    def test_dependencies_are_upstreams_range(self):
        """The supported range is upstream's, ``kafka-python >= 2.0, < 4.0``."""
        assert tuple(KafkaInstrumentor().instrumentation_dependencies()) == (
            "kafka-python >= 2.0, < 4.0",
        )

    def test_public_surface(self):
        """The package exports the instrumentor and its version, nothing else."""
        assert instrumentarium.kafka.__all__ == ["KafkaInstrumentor", "__version__"]
