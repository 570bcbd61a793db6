"""``KafkaInstrumentor``: instrumenting again after ``uninstrument()`` and the supported range
(entry point, wrappers, deferred patching and ``__all__``: ``tests/test_contract.py``)."""

from __future__ import annotations

from instrumentarium.kafka import KafkaInstrumentor


class TestInstrument:
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

    def test_dependencies_are_upstreams_range(self):
        """The supported range is upstream's, ``kafka-python >= 2.0, < 4.0``."""
        assert tuple(KafkaInstrumentor().instrumentation_dependencies()) == (
            "kafka-python >= 2.0, < 4.0",
        )
